# The package consumers' targets, shared by the find_package and add_subdirectory projects.
#
# modref_consumer_targets(<modref target>) defines, linked to <modref target>:
#   Windows    async_worker.dll, whose export starts its work with modref::start_detached, and
#              unload_host.exe, which loads it, calls it, FreeLibrary()s it at once and checks that
#              the worker finished and the DLL unloaded after it;
#   elsewhere  portable, a program using modref::refcount and modref::object_pool;
# and registers the executable with this project's ctest. When cross-compiling, ctest runs it
# through the toolchain file's CMAKE_CROSSCOMPILING_EMULATOR (Wine).
function(modref_consumer_targets modref_target)
  set(here "${CMAKE_CURRENT_FUNCTION_LIST_DIR}")
  if(WIN32)
    add_library(async_worker SHARED "${here}/async_worker_dll.cc")
    set_target_properties(async_worker PROPERTIES PREFIX "")  # async_worker.dll, also with MinGW
    target_link_libraries(async_worker PRIVATE ${modref_target})
    add_executable(unload_host "${here}/unload_host.cc")
    add_dependencies(unload_host async_worker)  # loaded at run time, not linked
    set(targets async_worker unload_host)
    set(test_target unload_host)
  else()
    add_executable(portable "${here}/portable_main.cc")
    target_link_libraries(portable PRIVATE ${modref_target})
    set(targets portable)
    set(test_target portable)
  endif()
  foreach(target IN LISTS targets)
    # The host finds the DLL next to itself.
    set_target_properties(${target} PROPERTIES RUNTIME_OUTPUT_DIRECTORY "${PROJECT_BINARY_DIR}/bin")
    target_compile_features(${target} PRIVATE cxx_std_20)
    if(MSVC)
      target_compile_options(${target} PRIVATE /W4 /permissive-)
    else()
      target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic)
    endif()
    if(MINGW)
      # libgcc, libstdc++ and winpthread linked in: a DLL that imports libwinpthread-1.dll does
      # not load where that DLL is not on the search path (Wine: LoadLibrary error 126).
      target_link_options(${target} PRIVATE -static)
    endif()
  endforeach()
  add_test(NAME ${test_target} COMMAND ${test_target})
endfunction()
