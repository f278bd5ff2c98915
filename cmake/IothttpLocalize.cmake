# Turn the staticlib cargo made into one a firmware link can take beside other Rust code.
#
#   cmake -DIN=<cargo's libiothttp.a> -DOUT=<libiothttp.a> -DHEADER=<iothttp.h>
#         -DCC=<C compiler> "-DCC_ARGS=<target/sysroot options>" -DOBJCOPY=<objcopy> -DAR=<ar>
#         -DWORK=<scratch dir> -P IothttpLocalize.cmake
#
# A Rust staticlib carries the whole Rust runtime as global symbols (rust_eh_personality,
# __rust_alloc, the compiler-builtins intrinsics, ring_core_*, std's mangled functions), so a
# firmware that links a second Rust static library fails with duplicate symbols. Here:
#
#  1. every member is linked into one relocatable object (`cc -r`), keeping only the sections
#     reachable from the functions iothttp.h declares (`--gc-sections` with each of them as a
#     root; a linker that cannot do that with -r, such as lld, keeps everything);
#  2. every defined global symbol but the iothttp_* functions is made local (objcopy); the
#     COMDAT groups are dissolved into plain sections, because a linker keeps only the first
#     group of a name in the whole link: a second Rust library's references into its own
#     `DW.ref.rust_eh_personality` (or `__x86.get_pc_thunk.*`) group would otherwise land in
#     ours, whose symbols are now local, and fail to link; the embedded LLVM bitcode sections
#     (.llvmbc/.llvmcmd, which linker plugins misread) are dropped;
#  3. that one object becomes the archive.
#
# Undefined references (libc, libgcc, libpthread) stay as they are: they are what the
# firmware's link provides. No other defined global symbol is needed by the platform: the
# TLS, init_array and unwind-table references are resolved inside the one object.

foreach(v IN ITEMS IN OUT HEADER CC OBJCOPY AR WORK)
  if(NOT DEFINED ${v} OR "${${v}}" STREQUAL "")
    message(FATAL_ERROR "IothttpLocalize.cmake: -D${v}=... is required")
  endif()
endforeach()

if(EXISTS "${OUT}" AND "${OUT}" IS_NEWER_THAN "${IN}" AND "${OUT}" IS_NEWER_THAN "${HEADER}")
  return()  # cargo did not rebuild the archive
endif()

file(STRINGS "${HEADER}" _decls REGEX "^[A-Za-z_].*[ *]iothttp_[a-z0-9_]+\\(")
set(_roots "")
set(_n 0)
foreach(_d IN LISTS _decls)
  string(REGEX REPLACE "^.*[ *](iothttp_[a-z0-9_]+)\\(.*$" "\\1" _name "${_d}")
  list(APPEND _roots "-Wl,-u,${_name}")
  math(EXPR _n "${_n} + 1")
endforeach()
if(_n EQUAL 0)
  message(FATAL_ERROR "IothttpLocalize.cmake: no functions declared in ${HEADER}")
endif()

file(MAKE_DIRECTORY "${WORK}")
set(_obj "${WORK}/libiothttp.o")
set(_link "${CC}" ${CC_ARGS} -r -nostdlib -o "${_obj}")
set(_inputs -Wl,--whole-archive "${IN}" -Wl,--no-whole-archive)
execute_process(COMMAND ${_link} -Wl,--gc-sections ${_roots} ${_inputs}
                RESULT_VARIABLE _rc ERROR_VARIABLE _err OUTPUT_QUIET)
if(NOT _rc EQUAL 0)
  message(STATUS "iothttp: the linker cannot drop unused sections in a relocatable link "
                 "(${_err}); keeping them")
  execute_process(COMMAND ${_link} ${_inputs} RESULT_VARIABLE _rc ERROR_VARIABLE _err)
  if(NOT _rc EQUAL 0)
    message(FATAL_ERROR "iothttp: `${CC} -r` of ${IN} failed: ${_err}")
  endif()
endif()

execute_process(
  COMMAND "${OBJCOPY}" --wildcard "--keep-global-symbol=iothttp_*"
          --remove-section=.group --remove-section=.llvmbc --remove-section=.llvmcmd "${_obj}"
  RESULT_VARIABLE _rc ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "iothttp: ${OBJCOPY} failed on ${_obj}: ${_err}")
endif()

file(REMOVE "${OUT}.tmp")
execute_process(COMMAND "${AR}" rcs "${OUT}.tmp" "${_obj}" RESULT_VARIABLE _rc ERROR_VARIABLE _err)
if(NOT _rc EQUAL 0)
  message(FATAL_ERROR "iothttp: ${AR} failed: ${_err}")
endif()
file(RENAME "${OUT}.tmp" "${OUT}")
file(REMOVE "${_obj}")
