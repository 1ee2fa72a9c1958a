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

include("${CMAKE_CURRENT_LIST_DIR}/clang-16-mingw-w64-libstdcxx.cmake")
set(MODREF_MINGW_RUNTIME_DIRS "${modref_gcc_dir}" "/usr/${modref_triple}/lib")  # modref_link_shared_runtime

string(JOIN " " CMAKE_CXX_FLAGS_INIT "${modref_libstdcxx_cxx_flags}" -pthread)
set(CMAKE_C_FLAGS_INIT "-pthread")
foreach(kind EXE SHARED MODULE)
  set(CMAKE_${kind}_LINKER_FLAGS_INIT "-fuse-ld=lld-16 -L${modref_gcc_dir} -pthread")
endforeach()
