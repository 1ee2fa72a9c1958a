// termination_host.exe <dll> <log> free|exit
// Loads the termination test DLL, tells it where to log, then either unloads it with FreeLibrary
// and exits, or exits with the DLL still loaded (process termination). Exit code 0 on success,
// 2 when the DLL could not be loaded.
#include <windows.h>

#include <cwchar>

int wmain(int argc, wchar_t** argv) {
  if (argc != 4) return 3;
  HMODULE dll = ::LoadLibraryW(argv[1]);
  if (dll == nullptr) return 2;
  auto set_log_path = reinterpret_cast<void (*)(const wchar_t*)>(
      reinterpret_cast<void*>(::GetProcAddress(dll, "set_log_path")));
  if (set_log_path == nullptr) return 2;
  set_log_path(argv[2]);
  if (std::wcscmp(argv[3], L"free") == 0) ::FreeLibrary(dll);
  return 0;  // returning from wmain calls exit(), then ExitProcess
}
