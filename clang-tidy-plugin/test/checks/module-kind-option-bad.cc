// The ModuleKind option: the same code as thread-without-pin-exe.cc, declared DLL code by
// configuration (for a DLL's source file that has no export of its own), and a DLL macro.
// RUN-TIDY: "--config={CheckOptions: {modref-thread-without-pin.ModuleKind: dll}}"
#include <windows.h>

static DWORD WINAPI worker(void*) { return 0; }

void start_from_a_helper_file() {
  HANDLE h = ::CreateThread(nullptr, 0, worker, nullptr, 0, nullptr);
  // CHECK-MESSAGES: :[[@LINE-1]]:14: warning: unload race: CreateThread starts [modref-thread-without-pin]
  ::CloseHandle(h);
}
