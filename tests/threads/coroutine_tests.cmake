# Coroutine tests, Windows only, run under Wine. Test files mirror the headers:
# coroutine_task_test (<modref/coroutine_task.h>), coroutine_awaitables_test
# (<modref/coroutine_awaitables.h>) and coroutine_test (<modref/coroutine.h>: a real DLL whose
# asynchronous exports are coroutines, unloaded while they are suspended; DllMain refusals).
modref_add_test_dll(coroutine_dll SOURCES dlls/coroutine_dll.cc LIBS modref::threads)
foreach(name coroutine_task_test coroutine_awaitables_test coroutine_test)
  modref_add_test_executable(${name} SOURCES ${name}.cc LIBS modref::threads LABELS threads)
  target_compile_definitions(${name} PRIVATE MODREF_TEST_SEAMS)
endforeach()
add_dependencies(coroutine_test coroutine_dll)
