# Compile-only toolchain: Debian's clang 16 targeting 64-bit ARM Windows (aarch64-w64-mingw32).
# Debian ships no ARM64 MinGW-w64 runtime (no CRT, no import libraries, no libstdc++ built for
# ARM64) and no ARM64 Wine, so with this toolchain nothing links and nothing runs: the
# windows-arm64-headers preset only compiles every public header (MODREF_HEADER_CHECK), to keep
# modref's ARM64 code paths compiling with -Werror.
#
# Headers used: the MinGW-w64 headers, which are the same for every architecture
# (/usr/share/mingw-w64/include), and the x86_64 MinGW GCC's libstdc++ headers (the only
# libstdc++ for Windows that Debian has; its bits/c++config.h describes x86_64, which the header
# check does not depend on). Same -nostdinc++ recipe as cmake/clang-16-mingw-w64-x86_64.cmake.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR ARM64)
set(modref_triple aarch64-w64-mingw32)
set(CMAKE_C_COMPILER clang-16)
set(CMAKE_CXX_COMPILER clang++-16)
set(CMAKE_C_COMPILER_TARGET ${modref_triple})
set(CMAKE_CXX_COMPILER_TARGET ${modref_triple})
# The compiler checks cannot link: make them build static libraries instead.
set(CMAKE_TRY_COMPILE_TARGET_TYPE STATIC_LIBRARY)
set(CMAKE_FIND_ROOT_PATH /usr/share/mingw-w64)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

include("${CMAKE_CURRENT_LIST_DIR}/clang-16-mingw-w64-libstdcxx.cmake")
string(JOIN " " CMAKE_CXX_FLAGS_INIT "${modref_libstdcxx_cxx_flags}"
  "-isystem /usr/share/mingw-w64/include")
set(CMAKE_C_FLAGS_INIT "-isystem /usr/share/mingw-w64/include")
