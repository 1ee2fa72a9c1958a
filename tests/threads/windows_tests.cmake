# Windows-only thread tests: real DLLs loaded and unloaded by real hosts under Wine.
modref_add_test_dll(async_api_dll SOURCES dlls/async_api_dll.cc LIBS modref::threads)
target_compile_definitions(async_api_dll PRIVATE MODREF_TEST_SEAMS)
modref_add_test_dll(join_in_dllmain_dll SOURCES dlls/join_in_dllmain_dll.cc LIBS modref::threads)

modref_add_test_executable(thread_test SOURCES thread_test.cc LIBS modref::threads LABELS threads)
target_compile_definitions(thread_test PRIVATE MODREF_TEST_SEAMS)
add_dependencies(thread_test async_api_dll join_in_dllmain_dll)

# The thread-pool tests live in their own file (threadpool.h has its own owner).
include(${CMAKE_CURRENT_LIST_DIR}/threadpool_tests.cmake OPTIONAL)

# The coroutine tests live in their own file too.
include(${CMAKE_CURRENT_LIST_DIR}/coroutine_tests.cmake)

# Per-thread state of locks on threads that outlive the DLL (issue 9, item 8).
include(${CMAKE_CURRENT_LIST_DIR}/per_thread_state_tests.cmake)
