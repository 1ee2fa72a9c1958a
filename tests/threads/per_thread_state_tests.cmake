# Issue 9, item 8: per-thread state of dependencies on threads that outlive the DLL.
# One DLL source, two link modes: the static MinGW runtime (-static, what the other test DLLs use)
# and the shared one (modref_link_shared_runtime). The host loads it, starts contended pool work,
# frees it at once, and checks that every cycle unloads and that handles stay flat.
foreach(mode static shared)
  add_library(contended_locks_${mode} SHARED dlls/contended_locks_dll.cc)
  set_target_properties(contended_locks_${mode} PROPERTIES PREFIX "")
  target_link_libraries(contended_locks_${mode} PRIVATE modref::threads)
  modref_apply_warnings(contended_locks_${mode})
endforeach()
modref_link_for_wine(contended_locks_static)
modref_link_shared_runtime(contended_locks_shared)

add_executable(contended_locks_host contended_locks_host.cc)
if(MINGW)
  target_link_options(contended_locks_host PRIVATE -municode)
endif()
modref_apply_warnings(contended_locks_host)
modref_link_for_wine(contended_locks_host)
add_dependencies(contended_locks_host contended_locks_static contended_locks_shared)

foreach(mode static shared)
  add_test(NAME contended_locks_${mode} COMMAND contended_locks_host contended_locks_${mode}.dll 30)
  set_tests_properties(contended_locks_${mode} PROPERTIES LABELS threads TIMEOUT 300)
  modref_set_test_environment(contended_locks_${mode})
endforeach()
