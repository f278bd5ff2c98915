cmake_minimum_required(VERSION 3.16)
# The C-triple -> Rust-target table of cmake/IothttpRustTarget.cmake, row by row.
#
#   cmake -P tests/cmake/rust_target.cmake
#
# Fails (exit 1) naming every row whose mapping differs.
include("${CMAKE_CURRENT_LIST_DIR}/../../cmake/IothttpRustTarget.cmake")

set(rows
  # what `<cc> -dumpmachine` or CMAKE_C_COMPILER_TARGET says -> the Rust target ("-": none)
  "x86_64-linux-gnu=x86_64-unknown-linux-gnu"
  "x86_64-pc-linux-gnu=x86_64-unknown-linux-gnu"
  "x86_64-linux-musl=x86_64-unknown-linux-musl"
  "x86_64-alpine-linux-musl=x86_64-unknown-linux-musl"
  "i686-linux-gnu=i686-unknown-linux-gnu"
  "i686-linux-musl=i686-unknown-linux-musl"
  "i586-linux-gnu=i586-unknown-linux-gnu"
  "i386-linux-gnu=i586-unknown-linux-gnu"
  "aarch64-linux-gnu=aarch64-unknown-linux-gnu"
  "aarch64-none-linux-gnu=aarch64-unknown-linux-gnu"
  "aarch64-poky-linux=aarch64-unknown-linux-gnu"
  "aarch64-linux-musl=aarch64-unknown-linux-musl"
  "arm64-linux-gnu=aarch64-unknown-linux-gnu"
  "arm-linux-gnueabihf=armv7-unknown-linux-gnueabihf"
  "arm-none-linux-gnueabihf=armv7-unknown-linux-gnueabihf"
  "armv7a-linux-gnueabihf=armv7-unknown-linux-gnueabihf"
  "armv7l-unknown-linux-gnueabihf=armv7-unknown-linux-gnueabihf"
  "armv6-linux-gnueabihf=arm-unknown-linux-gnueabihf"
  "arm-linux-gnueabi=armv5te-unknown-linux-gnueabi"
  "armv7-linux-gnueabi=armv7-unknown-linux-gnueabi"
  "armv5te-linux-gnueabi=armv5te-unknown-linux-gnueabi"
  "armv4t-linux-gnueabi=armv4t-unknown-linux-gnueabi"
  "arm-linux-musleabihf=arm-unknown-linux-musleabihf"
  "armv7l-linux-musleabihf=armv7-unknown-linux-musleabihf"
  "arm-linux-musleabi=arm-unknown-linux-musleabi"
  "armv7-buildroot-linux-uclibceabihf=armv7-unknown-linux-uclibceabihf"
  "riscv64-linux-gnu=riscv64gc-unknown-linux-gnu"
  "riscv64-unknown-linux-musl=riscv64gc-unknown-linux-musl"
  "mipsel-linux-gnu=mipsel-unknown-linux-gnu"
  "mips-linux-gnu=mips-unknown-linux-gnu"
  "mipsel-openwrt-linux-musl=mipsel-unknown-linux-musl"
  "mipsel-buildroot-linux-uclibc=mipsel-unknown-linux-uclibc"
  "mips64el-linux-gnuabi64=mips64el-unknown-linux-gnuabi64"
  "powerpc-linux-gnu=powerpc-unknown-linux-gnu"
  "powerpc64le-linux-gnu=powerpc64le-unknown-linux-gnu"
  "s390x-linux-gnu=s390x-unknown-linux-gnu"
  "loongarch64-linux-gnu=loongarch64-unknown-linux-gnu"
  "aarch64-linux-android=aarch64-linux-android"
  "armv7a-linux-androideabi=armv7-linux-androideabi"
  "arm-none-eabi=-"
  "x86_64-w64-mingw32=-"
  "sparc-sun-solaris2.11=-"
  "armv8m-linux-gnueabihf=-"
  "riscv32-linux-gnu=-"
  "=-")

set(failed 0)
foreach(row IN LISTS rows)
  string(FIND "${row}" "=" eq)
  string(SUBSTRING "${row}" 0 ${eq} c)
  math(EXPR from "${eq} + 1")
  string(SUBSTRING "${row}" ${from} -1 want)
  if(want STREQUAL "-")
    set(want "")
  endif()
  iothttp_rust_target_for("${c}" got)
  if(NOT got STREQUAL want)
    message("FAIL ${c}: got '${got}', want '${want}'")
    math(EXPR failed "${failed} + 1")
  endif()
endforeach()
list(LENGTH rows n)
if(failed)
  message(FATAL_ERROR "${failed} of ${n} rows of the Rust target table are wrong")
endif()
message("the Rust target table: ${n} rows as expected")
