// modref-free-library-then-exit, positive: the module reference is dropped, then code runs.
#include <windows.h>

static DWORD WINAPI two_calls(void*) {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&two_calls), &self);
  ::FreeLibrary(self);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: unload race: FreeLibrary of the module this code is in, followed by ExitThread [modref-free-library-then-exit]
  ::ExitThread(0);
  // CHECK-FIXES: ::FreeLibraryAndExitThread(self, 0);
}

static DWORD WINAPI free_then_return(void*) {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&free_then_return), &self);
  FreeLibrary(self);
  // CHECK-MESSAGES: :[[@LINE-1]]:3: warning: unload race: FreeLibrary of the module this code is in, followed by a return [modref-free-library-then-exit]
  return 0;
}

extern "C" __declspec(dllexport) void start() {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&two_calls), &self);
  ::CloseHandle(::CreateThread(nullptr, 0, two_calls, nullptr, 0, nullptr));
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&two_calls), &self);
  ::CloseHandle(::CreateThread(nullptr, 0, free_then_return, nullptr, 0, nullptr));
}
