// modref-thread-without-pin, negative: correct hand-written pins, threads that cannot outlive the
// call, and modref's own API.
#include <windows.h>

#include <thread>

#include <modref/thread.h>

static DWORD WINAPI pinned_worker(void*) {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&pinned_worker), &self);
  ::FreeLibraryAndExitThread(self, 0);
}

// Pinned by the creator before the call: the worker gives the reference back as its last act.
extern "C" __declspec(dllexport) BOOL start_pinned() {
  HMODULE self = nullptr;
  if (!::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                            reinterpret_cast<LPCWSTR>(&pinned_worker), &self)) {
    return FALSE;
  }
  HANDLE h = ::CreateThread(nullptr, 0, pinned_worker, nullptr, 0, nullptr);
  if (h == nullptr) {
    ::FreeLibrary(self);
    return FALSE;
  }
  ::CloseHandle(h);
  return TRUE;
}

// The same pin, taken by a helper of this translation unit.
static HMODULE pin_self() {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&pin_self), &self);
  return self;
}
extern "C" __declspec(dllexport) void start_pinned_by_helper() {
  HMODULE self = pin_self();
  HANDLE h = ::CreateThread(nullptr, 0, pinned_worker, self, 0, nullptr);
  if (h != nullptr) ::CloseHandle(h);
}

// Threads joined before the function returns cannot outlive it.
static DWORD WINAPI plain_worker(void*) { return 0; }
extern "C" __declspec(dllexport) void run_and_wait() {
  HANDLE h = ::CreateThread(nullptr, 0, plain_worker, nullptr, 0, nullptr);
  ::WaitForSingleObject(h, INFINITE);
  ::CloseHandle(h);
}
extern "C" __declspec(dllexport) void run_std_and_join() {
  std::thread t([] {});
  t.join();
}

// modref's own API pins before it returns.
extern "C" __declspec(dllexport) void start_modref() {
  (void)modref::start_detached([] {});
}
