// A test DLL whose DllMain(DLL_PROCESS_ATTACH) starts a modref::thread and tries to join it. Under
// the loader lock the new thread cannot even start (it needs the lock for DLL_THREAD_ATTACH), so a
// plain wait would never return. modref refuses the join instead; the DLL records what it got, then
// detaches the thread, which runs once the loader lock is released.
#include <windows.h>

#include <atomic>
#include <optional>

#include <modref/thread.h>

namespace {
std::atomic<int> g_join_status_code{-1};
std::atomic<bool> g_system_error_was_deadlock{false};
std::atomic<bool> g_worker_ran{false};
}  // namespace

extern "C" {

__declspec(dllexport) int join_status_code() { return g_join_status_code.load(); }
__declspec(dllexport) BOOL join_threw_resource_deadlock() {
  return g_system_error_was_deadlock.load();
}
__declspec(dllexport) BOOL worker_ran() { return g_worker_ran.load(); }

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
  if (!modref::dll_main(instance, reason, reserved)) return FALSE;
  if (reason == DLL_PROCESS_ATTACH) {
    absl::StatusOr<modref::thread> t = modref::thread::start([] { g_worker_ran.store(true); });
    if (!t.ok()) return FALSE;
    absl::StatusOr<DWORD> joined = t->try_join();
    g_join_status_code.store(static_cast<int>(joined.status().code()));
    try {
      t->join();
    } catch (const std::system_error& e) {
      g_system_error_was_deadlock.store(e.code() == std::errc::resource_deadlock_would_occur);
    }
    t->detach();
  }
  return TRUE;
}

}  // extern "C"
