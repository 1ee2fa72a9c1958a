// threadpool_termination_host.exe <dll> <log>
// Loads threadpool_termination_dll.dll, lets it arm its pool objects and returns from wmain with
// the DLL still loaded: exit() then ExitProcess run the DLL's atexit handler and global destructor
// during process termination. Exit code 0 on success, 2 when the DLL could not be loaded, 10 + the
// DLL's step number when arming failed.
#include <windows.h>

int wmain(int argc, wchar_t** argv) {
  if (argc != 3) return 3;
  HMODULE dll = ::LoadLibraryW(argv[1]);
  if (dll == nullptr) return 2;
  auto arm = reinterpret_cast<int (*)(const wchar_t*)>(
      reinterpret_cast<void*>(::GetProcAddress(dll, "arm")));
  if (arm == nullptr) return 2;
  if (const int step = arm(argv[2]); step != 0) return 10 + step;
  return 0;  // returning from wmain calls exit(), then ExitProcess
}
