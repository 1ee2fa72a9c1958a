// modref-exit-thread-not-last, negative: every destructor runs in a scope closed before the call,
// which is the thread's last statement on its path (modref's trampoline has the same shape).
#include <windows.h>

#include <string>

static DWORD WINAPI scoped(void* module) {
  DWORD code = 0;
  {
    std::string name = "worker";
    code = static_cast<DWORD>(name.size());
  }
  ::FreeLibraryAndExitThread(static_cast<HMODULE>(module), code);
}

// Code after an `if` that ends the thread runs on the other path: not dead.
static DWORD WINAPI early_exit(void* module) {
  if (module != nullptr) ::FreeLibraryAndExitThread(static_cast<HMODULE>(module), 0);
  return 1;
}

