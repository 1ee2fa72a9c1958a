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

# 12 cycles: the defect this guards against (object_pool and callback_group on absl::Mutex, commit
# 652e4d3) left about 40 handles per cycle against the control's 6, so 12 cycles leak about 480
# handles where the check allows about 6 x 12 + 32 = 104. Each cycle takes about 0.8 s under
# Wine; 30 cycles cost a minute per test and leg and showed nothing 12 do not.
foreach(mode static shared)
  add_test(NAME contended_locks_${mode} COMMAND contended_locks_host contended_locks_${mode}.dll 12)
  set_tests_properties(contended_locks_${mode} PROPERTIES LABELS threads TIMEOUT 300)
  modref_set_test_environment(contended_locks_${mode})
endforeach()
