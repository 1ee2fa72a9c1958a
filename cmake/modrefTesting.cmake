# Helpers for modref's own tests: warnings, static linking for Wine, one ctest entry per
# executable (gtest_discover_tests would have to start Wine at build time).
include_guard(GLOBAL)

# modref_apply_warnings(target): C++20 and high warnings on our own code; -Werror when MODREF_WERROR.
function(modref_apply_warnings target)
  target_compile_features(${target} PRIVATE cxx_std_20)
  if(MSVC)
    target_compile_options(${target} PRIVATE /W4 /permissive-)
    if(MODREF_WERROR)
      target_compile_options(${target} PRIVATE /WX)
    endif()
  else()
    target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    if(MODREF_WERROR)
      target_compile_options(${target} PRIVATE -Werror)
    endif()
  endif()
endfunction()

# modref_link_for_wine(target): MinGW executables and DLLs link libgcc, libstdc++ and
# winpthread statically; otherwise LoadLibrary under Wine fails with error 126.
function(modref_link_for_wine target)
  if(MINGW)
    target_link_options(${target} PRIVATE -static)
  endif()
endfunction()

# modref_add_test_executable(name SOURCES ... LIBS ... [NO_GTEST_MAIN]) and register it in ctest.
function(modref_add_test_executable name)
  cmake_parse_arguments(arg "NO_GTEST_MAIN" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${arg_SOURCES})
  if(arg_NO_GTEST_MAIN)
    target_link_libraries(${name} PRIVATE ${arg_LIBS})
  else()
    target_link_libraries(${name} PRIVATE ${arg_LIBS} GTest::gtest_main GTest::gmock)
  endif()
  modref_apply_warnings(${name})
  modref_link_for_wine(${name})
  add_test(NAME ${name} COMMAND ${name})
  if(arg_LABELS)
    set_tests_properties(${name} PROPERTIES LABELS "${arg_LABELS}")
  endif()
  modref_set_test_environment(${name})
endfunction()

# modref_add_test_dll(name SOURCES ... LIBS ...): a DLL loaded by a test host at run time.
function(modref_add_test_dll name)
  cmake_parse_arguments(arg "" "" "SOURCES;LIBS" ${ARGN})
  add_library(${name} SHARED ${arg_SOURCES})
  set_target_properties(${name} PROPERTIES PREFIX "")
  target_link_libraries(${name} PRIVATE ${arg_LIBS})
  modref_apply_warnings(${name})
  modref_link_for_wine(${name})
endfunction()

# Environment for tests run under Wine: quiet, no debugger on crashes (a crash then ends the
# process at once with exit code 5 for an access violation), and this build's prefix (which
# tools/wine-session.sh boots detached from any pipe) with its architecture: win32 for a 32-bit
# build, which runs under /usr/lib/wine/wine, win64 otherwise. Wine refuses a prefix of the other
# architecture with a clear message rather than running the test in it.
if(CMAKE_CROSSCOMPILING AND WIN32)
  if(CMAKE_SIZEOF_VOID_P EQUAL 4)
    set(MODREF_WINEARCH win32)
  else()
    set(MODREF_WINEARCH win64)
  endif()
  # For tools/wine-session.sh (modref_wine_start <build dir>): which prefix, architecture and
  # loader this build's tests use.
  file(WRITE "${CMAKE_BINARY_DIR}/modref-wine.env"
    "prefix=${MODREF_WINEPREFIX}\narch=${MODREF_WINEARCH}\nloader=${CMAKE_CROSSCOMPILING_EMULATOR}\n")
endif()
function(modref_set_test_environment test)
  if(CMAKE_CROSSCOMPILING AND WIN32)
    set_tests_properties(${test} PROPERTIES ENVIRONMENT
      "WINEDEBUG=-all;WINEDLLOVERRIDES=winedbg.exe=d;WINEPREFIX=${MODREF_WINEPREFIX};WINEARCH=${MODREF_WINEARCH}")
  endif()
endfunction()

# modref_link_shared_runtime(target): link against the shared MinGW runtime (libstdc++-6.dll, the
# libgcc DLL, libwinpthread-1.dll) and copy those DLLs next to the target. The race lab's stress
# loop needs it: under Wine 8, a DLL that links libstdc++ statically and includes <iostream>
# (Abseil's status.h does) leaks per load/unload and aborts after about a thousand cycles in one
# process (docs/testing.md). With one shared runtime per process, as MSVC /MD users have, the loop
# measures modref rather than that.
#
# Where the DLLs are: the toolchain file may list the folders in MODREF_MINGW_RUNTIME_DIRS (the clang
# toolchain does: clang cannot answer -print-file-name for Debian's "12-posix" GCC folder); a GCC
# is asked with -print-file-name; the sysroot's lib/ and bin/ come last. The libgcc DLL's name
# depends on how that GCC unwinds (libgcc_s_seh-1.dll for x86_64 SEH, libgcc_s_dw2-1.dll for i686
# DWARF-2, libgcc_s_sjlj-1.dll for setjmp/longjmp builds): whichever one sits next to
# libstdc++-6.dll is the one it imports.
function(modref_link_shared_runtime target)
  if(NOT MINGW)
    return()
  endif()
  get_property(dlls GLOBAL PROPERTY MODREF_MINGW_RUNTIME_DLLS)
  if(NOT dlls)
    set(dirs ${MODREF_MINGW_RUNTIME_DIRS})
    if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
      execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=libstdc++-6.dll
                      OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE)
      if(IS_ABSOLUTE "${path}")
        get_filename_component(dir "${path}" DIRECTORY)
        list(APPEND dirs "${dir}")
      endif()
    endif()
    foreach(root IN LISTS CMAKE_FIND_ROOT_PATH)
      list(APPEND dirs "${root}/lib" "${root}/bin")
    endforeach()
    set(stdcxx "")
    foreach(dir IN LISTS dirs)
      if(EXISTS "${dir}/libstdc++-6.dll")
        set(stdcxx "${dir}/libstdc++-6.dll")
        file(GLOB libgcc "${dir}/libgcc_s_*-1.dll")
        break()
      endif()
    endforeach()
    list(LENGTH libgcc count)
    if(NOT stdcxx OR NOT count EQUAL 1)
      message(FATAL_ERROR "modref: cannot find the MinGW runtime DLLs (libstdc++-6.dll and exactly one "
        "libgcc_s_*-1.dll next to it; found '${stdcxx}' and '${libgcc}') in: ${dirs}. List the "
        "folder in MODREF_MINGW_RUNTIME_DIRS (toolchain file or -D).")
    endif()
    set(winpthread "")
    foreach(dir IN LISTS dirs)
      if(EXISTS "${dir}/libwinpthread-1.dll")
        set(winpthread "${dir}/libwinpthread-1.dll")
        break()
      endif()
    endforeach()
    if(NOT winpthread)
      message(FATAL_ERROR "modref: cannot find libwinpthread-1.dll in: ${dirs}")
    endif()
    set(dlls "${stdcxx}" ${libgcc} "${winpthread}")
    set_property(GLOBAL PROPERTY MODREF_MINGW_RUNTIME_DLLS "${dlls}")
    message(STATUS "modref: shared MinGW runtime for the stress loop: ${dlls}")
  endif()
  add_custom_command(TARGET ${target} POST_BUILD
    COMMAND ${CMAKE_COMMAND} -E copy_if_different ${dlls} "$<TARGET_FILE_DIR:${target}>")
endfunction()
