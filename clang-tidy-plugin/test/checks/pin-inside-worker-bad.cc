// modref-pin-inside-worker, positive: the worker takes the module reference itself.
#include <windows.h>

static DWORD WINAPI pins_itself(void*) {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: unload race: the thread procedure pins its own module itself, too late [modref-pin-inside-worker]
                       reinterpret_cast<LPCWSTR>(&pins_itself), &self);
  ::FreeLibraryAndExitThread(self, 0);
}

// Through a helper, and by LoadLibrary of the module's own file name.
static HMODULE load_self() {
  wchar_t path[MAX_PATH];
  ::GetModuleFileNameW(nullptr, path, MAX_PATH);
  return ::LoadLibraryW(path);
  // CHECK-MESSAGES: :[[@LINE-1]]:10: warning: unload race: the thread procedure pins its own module itself [modref-pin-inside-worker]
}
static DWORD WINAPI loads_itself(void*) {
  HMODULE self = load_self();
  ::FreeLibraryAndExitThread(self, 0);
}

extern "C" __declspec(dllexport) void start() {
  // No pin before the calls either: modref-thread-without-pin reports the creator's side.
  ::CloseHandle(::CreateThread(nullptr, 0, pins_itself, nullptr, 0, nullptr));
  // CHECK-NOTES: :[[@LINE-1]]:17: note: the thread is started here
  // CHECK-MESSAGES: :[[@LINE-2]]:17: warning: unload race: CreateThread starts [modref-thread-without-pin]
  ::CloseHandle(::CreateThread(nullptr, 0, loads_itself, nullptr, 0, nullptr));
  // CHECK-NOTES: :[[@LINE-1]]:17: note: the thread is started here
  // CHECK-MESSAGES: :[[@LINE-2]]:17: warning: unload race: CreateThread starts [modref-thread-without-pin]
}
