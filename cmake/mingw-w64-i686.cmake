# Cross toolchain: Debian's MinGW-w64 GCC (posix thread model) targeting 32-bit x86 Windows.
# Test executables run under 32-bit Wine 8 (wine32:i386) through CMAKE_CROSSCOMPILING_EMULATOR,
# in a WINEARCH=win32 prefix of their own (tools/wine-session.sh).
#
# What differs from x86_64: __stdcall for every WINAPI/CALLBACK entry, 4-byte pointers and DWORD_PTR,
# the PEB at fs:0x30, and DWARF-2 unwinding (the shared runtime DLL is libgcc_s_dw2-1.dll).
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86)
set(CMAKE_C_COMPILER i686-w64-mingw32-gcc-posix)
set(CMAKE_CXX_COMPILER i686-w64-mingw32-g++-posix)
set(CMAKE_RC_COMPILER i686-w64-mingw32-windres)
set(CMAKE_FIND_ROOT_PATH /usr/i686-w64-mingw32)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_CROSSCOMPILING_EMULATOR /usr/lib/wine/wine)

include("${CMAKE_CURRENT_LIST_DIR}/mingw-gcc-lld.cmake")  # link with lld 16 when installed
