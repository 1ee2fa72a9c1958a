# Thread-pool tests (<modref/threadpool.h>), Windows only, run under Wine with real DLLs:
#   threadpool_dll / threadpool_leak_dll   asynchronous entry points unloaded under their callbacks
#                                          (one source, two DLLs: the leak test pins the second
#                                          for ever)
#   threadpool_loader_lock_dll             destroys a host object from DllMain (loader lock)
#   threadpool_termination_dll + _host     the pool used at ExitProcess, in a child process
foreach(name threadpool_dll threadpool_leak_dll)
  modref_add_test_dll(${name} SOURCES dlls/threadpool_dll.cc LIBS modref::threads)
  target_compile_definitions(${name} PRIVATE MODREF_TEST_SEAMS)
endforeach()
modref_add_test_dll(threadpool_loader_lock_dll SOURCES dlls/threadpool_loader_lock_dll.cc)
modref_add_test_dll(threadpool_termination_dll SOURCES dlls/threadpool_termination_dll.cc
  LIBS modref::threads)
target_compile_definitions(threadpool_termination_dll PRIVATE MODREF_TEST_SEAMS)

add_executable(threadpool_termination_host dlls/threadpool_termination_host.cc)
if(MINGW)
  target_link_options(threadpool_termination_host PRIVATE -municode)
endif()
modref_apply_warnings(threadpool_termination_host)
modref_link_for_wine(threadpool_termination_host)

modref_add_test_executable(threadpool_test SOURCES threadpool_test.cc LIBS modref::threads
  LABELS threads)
target_compile_definitions(threadpool_test PRIVATE MODREF_TEST_SEAMS)
add_dependencies(threadpool_test threadpool_dll threadpool_leak_dll threadpool_loader_lock_dll
  threadpool_termination_dll threadpool_termination_host)

# modref::callback_group (<modref/callback_group.h>): in-process tests, and a DLL whose global
# group is destroyed by the unload its own callback triggers.
modref_add_test_dll(callback_group_dll SOURCES dlls/callback_group_dll.cc LIBS modref::threads)
modref_add_test_executable(callback_group_test SOURCES callback_group_test.cc LIBS modref::threads
  LABELS threads)
target_compile_definitions(callback_group_test PRIVATE MODREF_TEST_SEAMS)
add_dependencies(callback_group_test callback_group_dll)

# Adversarial pool tests (issue 9): own-callback scope, re-arming during stop/cancel, dont_wait
# closers, callback_instance and the throwing group constructor. Its own executable because it
# replaces the global operator new (allocation failure on one chosen thread).
modref_add_test_executable(pool_hardening_test SOURCES pool_hardening_test.cc LIBS modref::threads
  LABELS threads)
target_compile_definitions(pool_hardening_test PRIVATE MODREF_TEST_SEAMS)

# modref::threadpool_io (<modref/threadpool_io.h>): real named pipes and files; the loader-lock
# test reuses threadpool_loader_lock_dll; threadpool_io_dll has a read pending when the host
# unloads it.
modref_add_test_executable(threadpool_io_test SOURCES threadpool_io_test.cc LIBS modref::threads
  LABELS threads)
target_compile_definitions(threadpool_io_test PRIVATE MODREF_TEST_SEAMS)
add_dependencies(threadpool_io_test threadpool_loader_lock_dll threadpool_io_dll)
modref_add_test_dll(threadpool_io_dll SOURCES dlls/threadpool_io_dll.cc LIBS modref::threads)
# <modref/coroutine_io.h>: co_await async_read / async_write over the same real pipes
# (io_test_support.h is shared with threadpool_io_test).
modref_add_test_executable(coroutine_io_test SOURCES coroutine_io_test.cc LIBS modref::threads
  LABELS threads)
target_compile_definitions(coroutine_io_test PRIVATE MODREF_TEST_SEAMS)
