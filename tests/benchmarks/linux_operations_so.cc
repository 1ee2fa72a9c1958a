// linux_operations_so: the operations linux_benchmark measures, compiled into a .so so that
// pin_current() pins a .so the way it does for modref's users (the program itself is pinned by
// dlopen(nullptr), which skips the name lookup). Each returns 0 on success.
#include <dlfcn.h>

#include <thread>

#include "modref/module_ref.h"
#include "modref/thread.h"

namespace {
int g_anchor = 0;  // an address in this .so for the raw baseline's dladdr
}  // namespace

extern "C" {

// modref::thread start + join (pin before return, release as the thread's last act).
__attribute__((visibility("default"))) int linux_bench_modref_thread_start_join() {
  modref::thread t([] {});
  t.join();
  return 0;
}

// std::thread start + join from the same .so: no pin (the race modref closes).
__attribute__((visibility("default"))) int linux_bench_std_thread_start_join() {
  std::thread t([] {});
  t.join();
  return 0;
}

// module_ref::pin_current() then reset().
__attribute__((visibility("default"))) int linux_bench_pin_current_then_reset() {
  absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_current();
  if (!pin.ok()) return 1;
  pin->reset();
  return 0;
}

// The raw baseline: dladdr, dlopen(dli_fname, RTLD_NOW | RTLD_NOLOAD), dlclose.
__attribute__((visibility("default"))) int linux_bench_raw_dladdr_dlopen_dlclose() {
  Dl_info info{};
  if (::dladdr(&g_anchor, &info) == 0) return 1;
  void* handle = ::dlopen(info.dli_fname, RTLD_NOW | RTLD_NOLOAD);
  if (handle == nullptr) return 1;
  return ::dlclose(handle);
}

}  // extern "C"
