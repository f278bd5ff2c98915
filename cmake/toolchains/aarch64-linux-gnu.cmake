# CMake toolchain file: 64-bit ARM (AArch64), Debian/Ubuntu cross compilers.
#
#   apt-get install gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user
#   cmake -S iothttp -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=iothttp/cmake/toolchains/aarch64-linux-gnu.cmake
#
# Nothing here is specific to iothttp: it builds for aarch64-unknown-linux-gnu because the
# compiler's triple (aarch64-linux-gnu) says so. A board's own toolchain file works the same.
# When qemu-aarch64 is installed, CTest and try_run run target programs through it.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)

set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)

# Libraries and headers come from the target's root only; programs (cmake, cargo) from the
# host; packages from both, so that one installed into a prefix of its own is found through
# CMAKE_PREFIX_PATH.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

find_program(_qemu_aarch64 qemu-aarch64)
if(_qemu_aarch64)
  # -L: the target's dynamic loader and libraries. LD_LIBRARY_PATH too, so that the loader
  # takes the libraries beside it and not, through the host's ld.so.cache, a multiarch
  # libc6:<arch> of another build (a loader and a libc from two builds crash in
  # pthread_create).
  set(CMAKE_CROSSCOMPILING_EMULATOR
      "${_qemu_aarch64};-L;/usr/aarch64-linux-gnu;-E;LD_LIBRARY_PATH=/usr/aarch64-linux-gnu/lib")
endif()
