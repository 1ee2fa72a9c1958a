# Included by the MinGW-w64 GCC toolchain files (x86_64 and i686): link with lld 16 instead of
# GNU ld when ld.lld-16 is installed (tools/setup-debian.sh installs lld-16 for the clang leg).
# The objects, libraries and runtime are GCC's and the same; only the linker changes. GNU ld
# took 1.6 s CPU to link thread_test.exe, lld 0.1 s (user+sys, machine under load), for each of
# the few dozen executables and DLLs of a leg. -DMODREF_MINGW_GNU_LD=ON keeps GNU ld.
#
# How: GCC's driver is pointed (-B) at cmake/mingw-gcc-lld/, whose collect2 runs ld.lld-16 (see
# that script for why -fuse-ld=lld alone does not work with Debian's MinGW GCC).
option(MODREF_MINGW_GNU_LD "Link MinGW GCC builds with GNU ld even when lld 16 is installed" OFF)
find_program(modref_lld_16 ld.lld-16 NO_CACHE)
if(modref_lld_16 AND NOT MODREF_MINGW_GNU_LD)
  foreach(kind EXE SHARED MODULE)
    string(APPEND CMAKE_${kind}_LINKER_FLAGS_INIT " -B${CMAKE_CURRENT_LIST_DIR}/mingw-gcc-lld/")
  endforeach()
endif()
