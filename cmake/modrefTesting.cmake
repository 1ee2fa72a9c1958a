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
# process at once with exit code 5 for an access violation), and the prefix that the test
# script booted detached from any pipe.
function(modref_set_test_environment test)
  if(CMAKE_CROSSCOMPILING AND WIN32)
    set(prefix "$ENV{WINEPREFIX}")
    if(NOT prefix)
      set(prefix "${MODREF_WINEPREFIX}")
    endif()
    set_tests_properties(${test} PROPERTIES ENVIRONMENT
      "WINEDEBUG=-all;WINEDLLOVERRIDES=winedbg.exe=d;WINEPREFIX=${prefix}")
  endif()
endfunction()

# modref_link_shared_runtime(target): link against the shared MinGW runtime (libstdc++-6.dll,
# libgcc_s_seh-1.dll, libwinpthread-1.dll) and copy those DLLs next to the target. The race lab's
# stress loop needs it: under Wine 8, a DLL that links libstdc++ statically and includes <iostream>
# (Abseil's status.h does) leaks per load/unload and aborts after about a thousand cycles in one
# process (docs/testing.md). With one shared runtime per process, as MSVC /MD users have, the loop
# measures modref rather than that.
function(modref_link_shared_runtime target)
  if(NOT MINGW)
    return()
  endif()
  foreach(dll libstdc++-6.dll libgcc_s_seh-1.dll libwinpthread-1.dll)
    execute_process(COMMAND ${CMAKE_CXX_COMPILER} -print-file-name=${dll}
                    OUTPUT_VARIABLE path OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(NOT IS_ABSOLUTE "${path}" AND EXISTS "${CMAKE_FIND_ROOT_PATH}/lib/${dll}")
      set(path "${CMAKE_FIND_ROOT_PATH}/lib/${dll}")
    endif()
    if(NOT EXISTS "${path}")
      message(FATAL_ERROR "modref: cannot find the MinGW runtime DLL ${dll}")
    endif()
    add_custom_command(TARGET ${target} POST_BUILD
      COMMAND ${CMAKE_COMMAND} -E copy_if_different "${path}" "$<TARGET_FILE_DIR:${target}>")
  endforeach()
endfunction()
