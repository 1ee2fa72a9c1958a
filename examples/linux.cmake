# modref's examples that make sense on Linux (included from examples/CMakeLists.txt's caller for
# Linux builds): each a plugin .so and a host, the host checking its own invariants and ending with
# "<example>: all checks passed". ctest checks that line (ctest --preset linux -L examples).
#
# 1. async_dll_api: the asynchronous export written with modref::start_detached, dlclose'd at once.
add_library(word_count_plugin MODULE async_dll_api/word_count_plugin_linux.cc)
set_target_properties(word_count_plugin PROPERTIES PREFIX "" LIBRARY_OUTPUT_DIRECTORY
  "${PROJECT_BINARY_DIR}/bin")
target_link_libraries(word_count_plugin PRIVATE modref::threads)
modref_apply_warnings(word_count_plugin)
add_executable(async_dll_api_linux async_dll_api/host_linux.cc)
target_link_libraries(async_dll_api_linux PRIVATE ${CMAKE_DL_LIBS})
modref_apply_warnings(async_dll_api_linux)
add_dependencies(async_dll_api_linux word_count_plugin)
add_test(NAME example_async_dll_api_linux COMMAND async_dll_api_linux)
set_tests_properties(example_async_dll_api_linux PROPERTIES
  LABELS examples
  PASS_REGULAR_EXPRESSION "async_dll_api_linux: all checks passed"
  FAIL_REGULAR_EXPRESSION "\\[FAILED\\]|check\\(s\\) FAILED"
  TIMEOUT 180)
