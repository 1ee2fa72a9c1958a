// modref-exit-thread-not-last, positive.
#include <windows.h>

#include <string>

HANDLE g_done = nullptr;

static DWORD WINAPI signals_too_late(void* module) {
  ::FreeLibraryAndExitThread(static_cast<HMODULE>(module), 0);
  ::SetEvent(g_done);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: this statement never runs: FreeLibraryAndExitThread does not return [modref-exit-thread-not-last]
}

static DWORD WINAPI leaks_a_string(void* module) {
  std::string name = "worker";
  // CHECK-MESSAGES: :[[@LINE-1]]:15: warning: 'name' is alive at FreeLibraryAndExitThread, so its destructor never runs [modref-exit-thread-not-last]
  if (!name.empty()) {
    ::FreeLibraryAndExitThread(static_cast<HMODULE>(module), 1);
    // CHECK-NOTES: :[[@LINE-1]]:5: note: the thread ends here
  }
  return 0;
}

