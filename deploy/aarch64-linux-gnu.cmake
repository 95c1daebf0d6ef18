# Cross-compiles eqm for the city gateways' ARM boxes (aarch64) with Debian's
# crossbuild-essential-arm64 and the multiarch :arm64 -dev packages (see scripts/bootstrap).
#   cmake -S . -B build-arm64 -DCMAKE_TOOLCHAIN_FILE=deploy/aarch64-linux-gnu.cmake
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

# Multiarch: headers are shared under /usr/include, libraries and their CMake/pkg-config files
# live under /usr/lib/aarch64-linux-gnu. Keep the host's x86-64 libraries out of every search.
set(CMAKE_FIND_ROOT_PATH /usr/aarch64-linux-gnu /usr)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE BOTH)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE BOTH)
set(CMAKE_IGNORE_PATH /usr/lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu/cmake)
set(ENV{PKG_CONFIG_LIBDIR} /usr/lib/aarch64-linux-gnu/pkgconfig:/usr/share/pkgconfig)

# Tests run under user-mode emulation. `-L /` on purpose: the cross sysroot's loader mixed with
# the multiarch libc hangs the first pthread_create (see docs/arm64.md).
set(CMAKE_CROSSCOMPILING_EMULATOR qemu-aarch64;-L;/)
