// modref-free-library-then-exit, negative.
#include <windows.h>

static DWORD WINAPI one_call(void*) {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&one_call), &self);
  ::FreeLibraryAndExitThread(self, 0);
}

// Another module freed by a worker: fine.
static DWORD WINAPI frees_another(void*) {
  HMODULE other = ::LoadLibraryW(L"other.dll");
  ::FreeLibrary(other);
  return 0;
}

// A creator that gives back a pin it took itself when the thread could not start.
extern "C" __declspec(dllexport) BOOL start() {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&one_call), &self);
  HANDLE h = ::CreateThread(nullptr, 0, one_call, nullptr, 0, nullptr);
  if (h == nullptr) {
    ::FreeLibrary(self);
    return FALSE;
  }
  ::CloseHandle(h);
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&one_call), &self);
  ::CloseHandle(::CreateThread(nullptr, 0, frees_another, nullptr, 0, nullptr));
  return TRUE;
}
