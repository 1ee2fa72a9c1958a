# Coroutine tests (<modref/coroutine.h>), Windows only, run under Wine with a real DLL whose
# asynchronous exports are coroutines (unloaded while they are suspended; DllMain refusals).
modref_add_test_dll(coroutine_dll SOURCES dlls/coroutine_dll.cc LIBS modref::threads)
modref_add_test_executable(coroutine_test SOURCES coroutine_test.cc LIBS modref::threads
  LABELS threads)
target_compile_definitions(coroutine_test PRIVATE MODREF_TEST_SEAMS)
add_dependencies(coroutine_test coroutine_dll)
