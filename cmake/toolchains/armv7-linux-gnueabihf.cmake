# CMake toolchain file: 32-bit ARM (ARMv7-A, hard float), Debian/Ubuntu cross compilers.
#
#   apt-get install gcc-arm-linux-gnueabihf g++-arm-linux-gnueabihf qemu-user
#   cmake -S iothttp -B build-armv7 -DCMAKE_TOOLCHAIN_FILE=iothttp/cmake/toolchains/armv7-linux-gnueabihf.cmake
#
# Nothing here is specific to iothttp: it builds for armv7-unknown-linux-gnueabihf because the
# compiler's triple (arm-linux-gnueabihf) says so. A board's own toolchain file works the same.
# When qemu-arm is installed, CTest and try_run run target programs through it.

set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR armv7l)

set(CMAKE_C_COMPILER arm-linux-gnueabihf-gcc)
set(CMAKE_CXX_COMPILER arm-linux-gnueabihf-g++)

# Libraries and headers come from the target's root only; programs (cmake, cargo) from the
# host; packages from both, so that one installed into a prefix of its own is found through
# CMAKE_PREFIX_PATH.
set(CMAKE_FIND_ROOT_PATH /usr/arm-linux-gnueabihf)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)

find_program(_qemu_arm qemu-arm)
if(_qemu_arm)
  # -L: the target's dynamic loader and libraries. LD_LIBRARY_PATH too, so that the loader
  # takes the libraries beside it and not, through the host's ld.so.cache, a multiarch
  # libc6:<arch> of another build (a loader and a libc from two builds crash in
  # pthread_create).
  set(CMAKE_CROSSCOMPILING_EMULATOR
      "${_qemu_arm};-L;/usr/arm-linux-gnueabihf;-E;LD_LIBRARY_PATH=/usr/arm-linux-gnueabihf/lib")
endif()
