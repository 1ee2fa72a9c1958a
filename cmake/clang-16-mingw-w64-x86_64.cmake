# Cross toolchain: Debian's clang 16 + lld 16 targeting 64-bit Windows (x86_64-w64-mingw32),
# against the MinGW-w64 GCC's sysroot: its MinGW-w64 headers and CRT, its libstdc++ and libgcc.
# Test executables run under Wine 8 through CMAKE_CROSSCOMPILING_EMULATOR, as with the GCC build.
#
# Needs g++-mingw-w64-x86-64-posix (the sysroot), clang-16 and lld-16. What clang 16 needs told:
# - the C++ headers: it does not recognise Debian's GCC folder name "12-posix", so it finds no
#   libstdc++ on its own: -nostdinc++ and the folder's three include/c++ directories;
# - the libraries: -L for that folder (libstdc++, libgcc, libgcc_s);
# - -fuse-ld=lld-16: /usr/bin/ld.lld is lld 14, which rejects the -exclude-symbols directive clang
#   16 writes into .drectve;
# - -pthread: unlike GCC's posix MinGW, clang does not link winpthreads by itself.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(modref_triple x86_64-w64-mingw32)
set(CMAKE_C_COMPILER clang-16)
set(CMAKE_CXX_COMPILER clang++-16)
set(CMAKE_C_COMPILER_TARGET ${modref_triple})
set(CMAKE_CXX_COMPILER_TARGET ${modref_triple})
set(CMAKE_RC_COMPILER ${modref_triple}-windres)
set(CMAKE_FIND_ROOT_PATH /usr/${modref_triple})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/lib/wine/wine64)

# The MinGW GCC folder with libstdc++ (Debian 12: /usr/lib/gcc/x86_64-w64-mingw32/12-posix); the
# newest posix one when several are installed.
file(GLOB modref_gcc_dirs LIST_DIRECTORIES true "/usr/lib/gcc/${modref_triple}/*-posix")
list(SORT modref_gcc_dirs COMPARE NATURAL ORDER DESCENDING)
set(modref_gcc_dir "")
if(modref_gcc_dirs)
  list(GET modref_gcc_dirs 0 modref_gcc_dir)
endif()
if(NOT modref_gcc_dir OR NOT EXISTS "${modref_gcc_dir}/include/c++")
  message(FATAL_ERROR "clang MinGW toolchain: no /usr/lib/gcc/${modref_triple}/*-posix with include/c++ "
    "(install g++-mingw-w64-x86-64-posix)")
endif()
set(MODREF_MINGW_RUNTIME_DIRS "${modref_gcc_dir}" "/usr/${modref_triple}/lib")  # modref_link_shared_runtime

# CMake passes CMAKE_CXX_FLAGS to link lines too, where clang would warn that -nostdinc++ is unused:
# --start/end-no-unused-arguments keep that quiet for this flag only.
string(JOIN " " CMAKE_CXX_FLAGS_INIT
  "--start-no-unused-arguments -nostdinc++ --end-no-unused-arguments"
  "-isystem ${modref_gcc_dir}/include/c++"
  "-isystem ${modref_gcc_dir}/include/c++/${modref_triple}"
  "-isystem ${modref_gcc_dir}/include/c++/backward"
  -pthread)
set(CMAKE_C_FLAGS_INIT "-pthread")
foreach(kind EXE SHARED MODULE)
  set(CMAKE_${kind}_LINKER_FLAGS_INIT "-fuse-ld=lld-16 -L${modref_gcc_dir} -pthread")
endforeach()
