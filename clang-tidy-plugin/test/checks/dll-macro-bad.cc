// DLL detection by macro: CMake defines <target>_EXPORTS when it compiles a SHARED library.
// RUN-FLAGS: -Dworker_plugin_EXPORTS
#include <windows.h>

static DWORD WINAPI worker(void*) { return 0; }

void start_from_a_helper_file() {
  HANDLE h = ::CreateThread(nullptr, 0, worker, nullptr, 0, nullptr);
  // CHECK-MESSAGES: :[[@LINE-1]]:14: warning: unload race: CreateThread starts [modref-thread-without-pin]
  ::CloseHandle(h);
}
