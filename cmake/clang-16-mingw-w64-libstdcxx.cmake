# Included by the clang 16 toolchain files (x86_64 and the ARM64 header check): finds the MinGW-w64
# GCC folder whose libstdc++ clang must be pointed at, because clang 16 does not recognise Debian's
# folder name "12-posix" and finds no libstdc++ on its own. The newest posix folder wins when
# several are installed. Sets:
#   modref_gcc_dir                the folder (Debian 12: /usr/lib/gcc/x86_64-w64-mingw32/12-posix)
#   modref_libstdcxx_cxx_flags    -nostdinc++ and the folder's three include/c++ directories
# The only libstdc++ for Windows that Debian has is the x86_64 one, so both toolchains use it.
file(GLOB modref_gcc_dirs LIST_DIRECTORIES true "/usr/lib/gcc/x86_64-w64-mingw32/*-posix")
list(SORT modref_gcc_dirs COMPARE NATURAL ORDER DESCENDING)
set(modref_gcc_dir "")
if(modref_gcc_dirs)
  list(GET modref_gcc_dirs 0 modref_gcc_dir)
endif()
if(NOT modref_gcc_dir OR NOT EXISTS "${modref_gcc_dir}/include/c++")
  message(FATAL_ERROR "clang 16 MinGW toolchain: no /usr/lib/gcc/x86_64-w64-mingw32/*-posix with "
    "include/c++ (install g++-mingw-w64-x86-64-posix)")
endif()
# CMake passes CMAKE_CXX_FLAGS to link lines too, where clang would warn that -nostdinc++ is unused:
# --start/end-no-unused-arguments keep that quiet for this flag only.
string(JOIN " " modref_libstdcxx_cxx_flags
  "--start-no-unused-arguments -nostdinc++ --end-no-unused-arguments"
  "-isystem ${modref_gcc_dir}/include/c++"
  "-isystem ${modref_gcc_dir}/include/c++/x86_64-w64-mingw32"
  "-isystem ${modref_gcc_dir}/include/c++/backward")
