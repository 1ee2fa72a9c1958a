// modref-thread-without-pin, negative: EXE code. A thread cannot outlive the executable that
// started it, so the unload checks stay silent (no DllMain, no dllexport, no DLL macro).
#include <windows.h>

static DWORD WINAPI worker(void*) { return 0; }

int main() {
  HANDLE h = ::CreateThread(nullptr, 0, worker, nullptr, 0, nullptr);
  ::CloseHandle(h);
  return 0;
}
