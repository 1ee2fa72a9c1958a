# Linux/glibc tests of <modref/module_ref.h> with real .so files: sos/pin_probe_so.cc pins itself
# (with the test seams); sos/unique_so.cc defines an STB_GNU_UNIQUE symbol, so glibc can never
# unload it and module_ref::load must refuse it.
add_library(pin_probe_so SHARED sos/pin_probe_so.cc)
set_target_properties(pin_probe_so PROPERTIES PREFIX "")
target_compile_definitions(pin_probe_so PRIVATE MODREF_TEST_SEAMS)
target_link_libraries(pin_probe_so PRIVATE modref::module)
modref_apply_warnings(pin_probe_so)

add_library(unique_so SHARED sos/unique_so.cc)  # no modref: keeps GCC's default -fgnu-unique
set_target_properties(unique_so PROPERTIES PREFIX "")
modref_apply_warnings(unique_so)
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
  # Explicitly, after any -fno-gnu-unique in CMAKE_CXX_FLAGS (the linux-tsan preset has one).
  target_compile_options(unique_so PRIVATE -fgnu-unique)
endif()

modref_add_test_executable(module_ref_linux_test SOURCES module_ref_linux_test.cc
  LIBS modref::module LABELS modref)
target_compile_definitions(module_ref_linux_test PRIVATE
  MODREF_PIN_PROBE_SO="$<TARGET_FILE:pin_probe_so>"
  MODREF_UNIQUE_SO="$<TARGET_FILE:unique_so>")
add_dependencies(module_ref_linux_test pin_probe_so unique_so)

modref_add_test_executable(posix_error_test SOURCES posix_error_test.cc
  LIBS modref::module LABELS modref)
