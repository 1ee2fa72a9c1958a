// modref-wait-in-dllmain, negative: a poll is not a wait; modref::jthread refuses to join under the
// loader lock; a global whose destructor only closes a handle.
#include <windows.h>

#include <modref/dll_main.h>
#include <modref/thread.h>

HANDLE g_worker = nullptr;
modref::jthread g_jworker;

struct handle_owner {
  HANDLE h = nullptr;
  ~handle_owner() {
    if (h != nullptr) ::CloseHandle(h);
  }
} g_handle;

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
  if (reason == DLL_PROCESS_ATTACH) ::DisableThreadLibraryCalls(instance);
  if (reason == DLL_PROCESS_DETACH && g_worker != nullptr &&
      ::WaitForSingleObject(g_worker, 0) == WAIT_TIMEOUT) {
    return TRUE;  // still running: leave it alone
  }
  return modref::dll_main(instance, reason, reserved);
}
