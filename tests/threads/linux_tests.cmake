# Linux/glibc tests of <modref/thread.h>: a real .so (sos/thread_probe_so.cc, with the test
# seams) that the test dlopens and dlcloses under its running workers.
add_library(thread_probe_so SHARED sos/thread_probe_so.cc)
set_target_properties(thread_probe_so PROPERTIES PREFIX "")
target_compile_definitions(thread_probe_so PRIVATE MODREF_TEST_SEAMS)
target_link_libraries(thread_probe_so PRIVATE modref::threads)
modref_apply_warnings(thread_probe_so)

modref_add_test_executable(thread_linux_test SOURCES thread_linux_test.cc LIBS modref::threads
  LABELS threads)
target_compile_definitions(thread_linux_test PRIVATE
  MODREF_THREAD_PROBE_SO="$<TARGET_FILE:thread_probe_so>")
add_dependencies(thread_linux_test thread_probe_so)
