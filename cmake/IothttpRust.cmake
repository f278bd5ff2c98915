# The cargo build of libiothttp, driven by the C toolchain CMake was configured with.
#
# In:  IOTHTTP_CARGO, IOTHTTP_CARGO_TARGET_DIR, IOTHTTP_RUST_TARGET, IOTHTTP_RUSTC,
#      IOTHTTP_FEATURES, IOTHTTP_SIZE_BUILD, IOTHTTP_PANIC_ABORT, and the C toolchain
#      (CMAKE_C_COMPILER, CMAKE_C_COMPILER_TARGET, CMAKE_SYSROOT, CMAKE_C_FLAGS, CMAKE_AR,
#      CMAKE_OBJCOPY).
# Out: the custom target iothttp_cargo; IOTHTTP_STATIC_LIBRARY, IOTHTTP_SHARED_LIBRARY,
#      IOTHTTP_SONAME, IOTHTTP_SHARED_REALNAME, IOTHTTP_INCLUDE_DIR; IOTHTTP_RUST_TARGET_USED
#      (the Rust target, or "" for the host) and IOTHTTP_FEATURES_USED.
#
# The Rust target: IOTHTTP_RUST_TARGET when set; else, when the C compiler builds for another
# machine (a toolchain file, or a compiler whose triple is not rustc's host), the target the
# table in IothttpRustTarget.cmake gives for the compiler's triple (CMAKE_C_COMPILER_TARGET,
# else `<cc> -dumpmachine`); else the host. cargo then gets --target, the C compiler as linker
# (CARGO_TARGET_<TRIPLE>_LINKER) and as CC_<triple> / AR_<triple> / CFLAGS_<triple> for
# ring's C and assembly, and the link options the toolchain needs (--target, --sysroot).

include("${CMAKE_CURRENT_LIST_DIR}/IothttpRustTarget.cmake")

# --- rustc ---------------------------------------------------------------------------------

if(IOTHTTP_RUSTC)
  if(NOT EXISTS "${IOTHTTP_RUSTC}")
    find_program(_iothttp_rustc_found "${IOTHTTP_RUSTC}" NO_CACHE)
    if(NOT _iothttp_rustc_found)
      message(FATAL_ERROR "iothttp: IOTHTTP_RUSTC=${IOTHTTP_RUSTC} does not exist")
    endif()
    set(_iothttp_rustc "${_iothttp_rustc_found}")
  else()
    set(_iothttp_rustc "${IOTHTTP_RUSTC}")
  endif()
else()
  get_filename_component(_iothttp_cargo_dir "${IOTHTTP_CARGO}" DIRECTORY)
  find_program(_iothttp_rustc rustc HINTS "${_iothttp_cargo_dir}" NO_CACHE
               NO_CMAKE_FIND_ROOT_PATH)
  if(NOT _iothttp_rustc)
    message(FATAL_ERROR "iothttp: no rustc next to ${IOTHTTP_CARGO}; pass -DIOTHTTP_RUSTC=/path/to/rustc")
  endif()
endif()
execute_process(COMMAND "${_iothttp_rustc}" -vV OUTPUT_VARIABLE _iothttp_rustc_vv
                RESULT_VARIABLE _iothttp_rc ERROR_QUIET)
if(NOT _iothttp_rc EQUAL 0 OR NOT _iothttp_rustc_vv MATCHES "host: ([^\n]+)")
  message(FATAL_ERROR "iothttp: `${_iothttp_rustc} -vV` failed: is it a rustc?")
endif()
set(_iothttp_rust_host "${CMAKE_MATCH_1}")
string(REGEX MATCH "^rustc [^\n]*" _iothttp_rustc_version "${_iothttp_rustc_vv}")

# --- The Rust target -----------------------------------------------------------------------

if(CMAKE_C_COMPILER_TARGET)
  set(_iothttp_c_triple "${CMAKE_C_COMPILER_TARGET}")
else()
  execute_process(COMMAND "${CMAKE_C_COMPILER}" -dumpmachine
                  OUTPUT_VARIABLE _iothttp_c_triple OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _iothttp_rc ERROR_QUIET)
  if(NOT _iothttp_rc EQUAL 0)
    set(_iothttp_c_triple "")
  endif()
endif()

set(IOTHTTP_RUST_TARGET_USED "")
if(IOTHTTP_RUST_TARGET)
  set(IOTHTTP_RUST_TARGET_USED "${IOTHTTP_RUST_TARGET}")
  set(_iothttp_target_why "IOTHTTP_RUST_TARGET")
else()
  iothttp_rust_target_for("${_iothttp_c_triple}" _iothttp_mapped)
  if(CMAKE_CROSSCOMPILING)
    if(NOT _iothttp_mapped)
      message(FATAL_ERROR
        "iothttp: cross-compiling with a C compiler for '${_iothttp_c_triple}', for which "
        "iothttp knows no Rust target (the table is in cmake/IothttpRustTarget.cmake). Pass "
        "the Rust target explicitly: -DIOTHTTP_RUST_TARGET=<triple> (see `rustc --print "
        "target-list`), e.g. -DIOTHTTP_RUST_TARGET=armv7-unknown-linux-gnueabihf.")
    endif()
    set(IOTHTTP_RUST_TARGET_USED "${_iothttp_mapped}")
    set(_iothttp_target_why "the C compiler's triple ${_iothttp_c_triple}")
  elseif(_iothttp_mapped AND NOT _iothttp_mapped STREQUAL _iothttp_rust_host)
    # Not a toolchain file, but a compiler for another machine (CC=arm-linux-gnueabihf-gcc).
    set(IOTHTTP_RUST_TARGET_USED "${_iothttp_mapped}")
    set(_iothttp_target_why "the C compiler's triple ${_iothttp_c_triple}")
  endif()
endif()

if(IOTHTTP_RUST_TARGET_USED)
  # The standard library for the target must be there, or cargo fails deep in the build.
  execute_process(COMMAND "${_iothttp_rustc}" --print target-libdir --target "${IOTHTTP_RUST_TARGET_USED}"
                  OUTPUT_VARIABLE _iothttp_libdir OUTPUT_STRIP_TRAILING_WHITESPACE
                  RESULT_VARIABLE _iothttp_rc ERROR_VARIABLE _iothttp_err)
  if(NOT _iothttp_rc EQUAL 0)
    message(FATAL_ERROR "iothttp: ${_iothttp_rustc} does not know the target "
                        "${IOTHTTP_RUST_TARGET_USED}: ${_iothttp_err}")
  endif()
  file(GLOB _iothttp_std "${_iothttp_libdir}/libstd-*.rlib")
  if(NOT _iothttp_std)
    set(_iothttp_hint "")
    foreach(_c IN ITEMS /usr/bin/rustc /usr/local/bin/rustc)
      if(EXISTS "${_c}" AND NOT _c STREQUAL _iothttp_rustc)
        execute_process(COMMAND "${_c}" --print target-libdir --target "${IOTHTTP_RUST_TARGET_USED}"
                        OUTPUT_VARIABLE _d OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
        file(GLOB _s "${_d}/libstd-*.rlib")
        if(_s)
          set(_iothttp_hint " ${_c} has it: pass -DIOTHTTP_RUSTC=${_c}.")
        endif()
      endif()
    endforeach()
    message(FATAL_ERROR
      "iothttp: ${_iothttp_rustc} (${_iothttp_rustc_version}) has no standard library for "
      "${IOTHTTP_RUST_TARGET_USED} (nothing in ${_iothttp_libdir}).${_iothttp_hint} Install "
      "one with `rustup target add ${IOTHTTP_RUST_TARGET_USED}`, or from the distribution "
      "(Debian: rustc-web with libstd-rust-web-dev:<arch>) and pass -DIOTHTTP_RUSTC=/usr/bin/rustc.")
  endif()
  message(STATUS "iothttp: Rust target ${IOTHTTP_RUST_TARGET_USED} (from ${_iothttp_target_why}), "
                 "${_iothttp_rustc_version}")
else()
  message(STATUS "iothttp: Rust target: the host (${_iothttp_rust_host}), ${_iothttp_rustc_version}")
endif()

# --- Features ------------------------------------------------------------------------------

# The features Cargo.toml offers: the `name = [...]` lines of its [features] table.
file(STRINGS "${CMAKE_CURRENT_SOURCE_DIR}/Cargo.toml" _iothttp_toml)
set(_iothttp_in_features FALSE)
set(_iothttp_known_features "")
foreach(_line IN LISTS _iothttp_toml)
  if(_line MATCHES "^\\[")
    if(_line STREQUAL "[features]")
      set(_iothttp_in_features TRUE)
    else()
      set(_iothttp_in_features FALSE)
    endif()
  elseif(_iothttp_in_features AND _line MATCHES "^([a-z0-9-]+) *= *\\[")
    list(APPEND _iothttp_known_features "${CMAKE_MATCH_1}")
  endif()
endforeach()
list(REMOVE_ITEM _iothttp_known_features fuzzing)

set(_iothttp_feature_args "")
set(IOTHTTP_FEATURES_USED "${IOTHTTP_FEATURES}")
if(NOT IOTHTTP_FEATURES STREQUAL "default")
  string(REPLACE "," ";" _iothttp_features "${IOTHTTP_FEATURES}")
  foreach(_f IN LISTS _iothttp_features)
    if(NOT _f IN_LIST _iothttp_known_features)
      string(REPLACE ";" ", " _k "${_iothttp_known_features}")
      message(FATAL_ERROR "iothttp: IOTHTTP_FEATURES names '${_f}', which is not a feature; "
                          "the features are: ${_k} (or 'default' for all)")
    endif()
  endforeach()
  list(JOIN _iothttp_features "," _iothttp_feature_list)
  set(IOTHTTP_FEATURES_USED "${_iothttp_features}")
  set(_iothttp_feature_args --no-default-features)
  if(_iothttp_feature_list)
    list(APPEND _iothttp_feature_args --features "${_iothttp_feature_list}")
  endif()
endif()

# --- Profile -------------------------------------------------------------------------------

if(IOTHTTP_SIZE_BUILD)
  set(_iothttp_profile release-size)
else()
  set(_iothttp_profile release)
endif()
set(_iothttp_profile_args --profile "${_iothttp_profile}")
if(IOTHTTP_PANIC_ABORT)
  list(APPEND _iothttp_profile_args --config "profile.${_iothttp_profile}.panic=\"abort\"")
endif()

# --- Environment and link options for the target --------------------------------------------

set(_iothttp_env "CARGO_TARGET_DIR=${IOTHTTP_CARGO_TARGET_DIR}" "RUSTC=${_iothttp_rustc}")
set(_iothttp_target_args "")
set(_iothttp_link_args "")
set(_iothttp_cc_args "")  # what every compile and link for the target needs
if(CMAKE_C_COMPILER_TARGET AND CMAKE_C_COMPILE_OPTIONS_TARGET)
  list(APPEND _iothttp_cc_args "${CMAKE_C_COMPILE_OPTIONS_TARGET}${CMAKE_C_COMPILER_TARGET}")
endif()
if(CMAKE_C_COMPILER_EXTERNAL_TOOLCHAIN AND CMAKE_C_COMPILE_OPTIONS_EXTERNAL_TOOLCHAIN)
  list(APPEND _iothttp_cc_args
       "${CMAKE_C_COMPILE_OPTIONS_EXTERNAL_TOOLCHAIN}${CMAKE_C_COMPILER_EXTERNAL_TOOLCHAIN}")
endif()
if(CMAKE_SYSROOT)
  if(CMAKE_C_COMPILE_OPTIONS_SYSROOT)
    list(APPEND _iothttp_cc_args "${CMAKE_C_COMPILE_OPTIONS_SYSROOT}${CMAKE_SYSROOT}")
  else()
    list(APPEND _iothttp_cc_args "--sysroot=${CMAKE_SYSROOT}")
  endif()
endif()
if(IOTHTTP_RUST_TARGET_USED)
  set(_t "${IOTHTTP_RUST_TARGET_USED}")
  string(REPLACE "-" "_" _t_lower "${_t}")
  string(TOUPPER "${_t_lower}" _t_upper)
  separate_arguments(_iothttp_cflags UNIX_COMMAND "${CMAKE_C_FLAGS}")
  list(APPEND _iothttp_cflags ${_iothttp_cc_args})
  list(JOIN _iothttp_cflags " " _iothttp_cflags)
  list(APPEND _iothttp_env
       "CARGO_TARGET_${_t_upper}_LINKER=${CMAKE_C_COMPILER}"
       "CC_${_t_lower}=${CMAKE_C_COMPILER}"
       "AR_${_t_lower}=${CMAKE_AR}"
       "CFLAGS_${_t_lower}=${_iothttp_cflags}")
  set(_iothttp_target_args --target "${_t}")
  separate_arguments(_iothttp_ldflags UNIX_COMMAND "${CMAKE_SHARED_LINKER_FLAGS}")
  foreach(_a IN LISTS _iothttp_cc_args _iothttp_ldflags)
    list(APPEND _iothttp_link_args -C "link-arg=${_a}")
  endforeach()
  set(_iothttp_cargo_out "${IOTHTTP_CARGO_TARGET_DIR}/${_t}/${_iothttp_profile}")
else()
  set(_iothttp_cargo_out "${IOTHTTP_CARGO_TARGET_DIR}/${_iothttp_profile}")
endif()

if(NOT CMAKE_OBJCOPY)
  message(FATAL_ERROR "iothttp: no objcopy for the C toolchain (CMAKE_OBJCOPY): it is needed "
                      "to keep libiothttp.a's symbols other than iothttp_* local")
endif()

# --- The cargo build -----------------------------------------------------------------------
#
# One rustc invocation produces both the staticlib and the cdylib, so LTO is in effect (the
# package's [lib] is rlib-only on purpose). The SONAME can only be given here. The staticlib
# is then made into one object whose only global symbols are iothttp_* (IothttpLocalize.cmake).

if(IOTHTTP_RUST_TARGET_USED)
  set(_iothttp_for "${IOTHTTP_RUST_TARGET_USED}")
else()
  set(_iothttp_for "host")
endif()
set(IOTHTTP_SONAME "libiothttp.so.${PROJECT_VERSION_MAJOR}")
set(IOTHTTP_SHARED_REALNAME "libiothttp.so.${PROJECT_VERSION}")
set(_iothttp_stage "${CMAKE_CURRENT_BINARY_DIR}/lib")
set(IOTHTTP_STATIC_LIBRARY "${_iothttp_stage}/libiothttp.a")
set(IOTHTTP_SHARED_LIBRARY "${_iothttp_stage}/${IOTHTTP_SHARED_REALNAME}")
set(IOTHTTP_INCLUDE_DIR "${CMAKE_CURRENT_SOURCE_DIR}/include")

file(MAKE_DIRECTORY "${_iothttp_stage}")

add_custom_target(iothttp_cargo ALL
  COMMAND "${CMAKE_COMMAND}" -E env ${_iothttp_env}
          "${IOTHTTP_CARGO}" rustc --locked -p iothttp --lib
          --manifest-path "${CMAKE_CURRENT_SOURCE_DIR}/Cargo.toml"
          ${_iothttp_profile_args} ${_iothttp_target_args} ${_iothttp_feature_args}
          --crate-type staticlib,cdylib
          -- -C "link-arg=-Wl,-soname,${IOTHTTP_SONAME}" ${_iothttp_link_args}
  COMMAND "${CMAKE_COMMAND}" "-DIN=${_iothttp_cargo_out}/libiothttp.a"
          "-DOUT=${IOTHTTP_STATIC_LIBRARY}" "-DHEADER=${IOTHTTP_INCLUDE_DIR}/iothttp.h"
          "-DCC=${CMAKE_C_COMPILER}" "-DCC_ARGS=${_iothttp_cc_args}" "-DOBJCOPY=${CMAKE_OBJCOPY}"
          "-DAR=${CMAKE_AR}" "-DWORK=${CMAKE_CURRENT_BINARY_DIR}/localize"
          -P "${CMAKE_CURRENT_LIST_DIR}/IothttpLocalize.cmake"
  COMMAND "${CMAKE_COMMAND}" -E copy_if_different
          "${_iothttp_cargo_out}/libiothttp.so" "${IOTHTTP_SHARED_LIBRARY}"
  COMMAND "${CMAKE_COMMAND}" -E create_symlink
          "${IOTHTTP_SHARED_REALNAME}" "${_iothttp_stage}/${IOTHTTP_SONAME}"
  COMMAND "${CMAKE_COMMAND}" -E create_symlink
          "${IOTHTTP_SONAME}" "${_iothttp_stage}/libiothttp.so"
  BYPRODUCTS
    "${_iothttp_cargo_out}/libiothttp.a"
    "${_iothttp_cargo_out}/libiothttp.so"
    "${IOTHTTP_STATIC_LIBRARY}"
    "${IOTHTTP_SHARED_LIBRARY}"
    "${_iothttp_stage}/${IOTHTTP_SONAME}"
    "${_iothttp_stage}/libiothttp.so"
  WORKING_DIRECTORY "${CMAKE_CURRENT_SOURCE_DIR}"
  COMMENT "cargo: building libiothttp (staticlib + cdylib, ${_iothttp_profile}, ${_iothttp_for})"
  USES_TERMINAL
  VERBATIM)
