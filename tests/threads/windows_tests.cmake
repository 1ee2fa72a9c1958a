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

# Init order (issue 9, item 4): a DLL whose global constructor, in a translation unit initialised
# before the one that includes <modref/threadpool.h>, starts pool work. The starter is listed last:
# MinGW runs constructors in reverse link order.
modref_add_test_dll(init_order_dll SOURCES dlls/init_order_pool.cc dlls/init_order_starter.cc
  LIBS modref::threads)
modref_add_test_executable(init_order_test SOURCES init_order_test.cc LIBS modref::threads
  LABELS threads)
add_dependencies(init_order_test init_order_dll)
