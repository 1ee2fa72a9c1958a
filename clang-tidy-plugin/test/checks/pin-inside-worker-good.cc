// modref-pin-inside-worker, negative: the creator pins; the worker only looks its handle up
// (UNCHANGED_REFCOUNT) or loads another DLL.
#include <windows.h>

static DWORD WINAPI worker(void*) {
  HMODULE other = ::LoadLibraryW(L"other.dll");  // another module: not a pin of this one
  if (other != nullptr) ::FreeLibrary(other);
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&worker), &self);
  ::FreeLibraryAndExitThread(self, 0);
}

extern "C" __declspec(dllexport) void start() {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, reinterpret_cast<LPCWSTR>(&worker),
                       &self);
  HANDLE h = ::CreateThread(nullptr, 0, worker, nullptr, 0, nullptr);
  if (h == nullptr) {
    ::FreeLibrary(self);
    return;
  }
  ::CloseHandle(h);
}
