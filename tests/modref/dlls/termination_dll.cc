// A test DLL with globals that record their destruction in a log file: one held in
// modref::termination_safe, one plain, and (MinGW) one whose teardown is registered with
// __cxa_atexit. DllMain logs what it saw. termination_host.exe loads it and
// either unloads it (FreeLibrary: both destructors must run) or exits with it loaded (process
// termination: only the plain one runs; the termination_safe one is skipped).
#include <windows.h>

#include <cstdio>
#include <cwchar>

#include <modref/dll_main.h>
#include <modref/module_ref.h>
#include <modref/termination_safe.h>

namespace {

// Plain storage: it must outlive every global destructor that writes to it.
wchar_t g_log_path[MAX_PATH * 2] = {};

void log_line(const char* text) {
  if (g_log_path[0] == L'\0') return;
  HANDLE file = ::CreateFileW(g_log_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE,
                              nullptr, OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) return;
  DWORD written = 0;
  ::WriteFile(file, text, static_cast<DWORD>(std::strlen(text)), &written, nullptr);
  ::CloseHandle(file);
}

struct recorder {
  explicit recorder(const char* name) : name_(name) {}
  ~recorder() {
    // Starting asynchronous work from teardown must be refused: the pin would resurrect a module
    // that is being unloaded.
    const bool pin_refused = !modref::module_ref::pin_current().ok();
    char line[128];
    std::snprintf(line, sizeof line, "%s destroyed terminating=%d pin_refused=%d\n", name_,
                  modref::process_terminating() ? 1 : 0, pin_refused ? 1 : 0);
    log_line(line);
  }
  const char* name_;
};

modref::termination_safe<recorder> g_guarded("guarded");
recorder g_plain("plain");

#if defined(__MINGW32__)
// Teardown registered with __cxa_atexit, as clang does for every global with -fuse-cxa-atexit
// (GCC 12 for MinGW ignores that flag and always uses atexit; see docs/testing.md). mingw-w64
// runs these destructors from its TLS callback (.CRT$XLB), which the loader calls before
// DllMain(DLL_PROCESS_DETACH): a "no pin from teardown" flag set only in DllMain is too late.
extern "C" int __cxa_atexit(void (*destructor)(void*), void* object, void* dso_handle);
extern "C" void* __dso_handle;
bool g_dllmain_detach_seen = false;
void cxa_teardown(void*) {
  const bool pin_refused = !modref::module_ref::pin_current().ok();
  char line[160];
  std::snprintf(
      line, sizeof line, "cxa destroyed terminating=%d pin_refused=%d after_dllmain_detach=%d\n",
      modref::process_terminating() ? 1 : 0, pin_refused ? 1 : 0, g_dllmain_detach_seen ? 1 : 0);
  log_line(line);
}
[[maybe_unused]] const int g_cxa_registered = __cxa_atexit(&cxa_teardown, nullptr, &__dso_handle);
#endif

}  // namespace

extern "C" {

__declspec(dllexport) void set_log_path(const wchar_t* path) {
  std::wcsncpy(g_log_path, path, std::size(g_log_path) - 1);
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
  const BOOL ok = modref::dll_main(instance, reason, reserved);
  if (reason == DLL_PROCESS_DETACH) {
#if defined(__MINGW32__)
    g_dllmain_detach_seen = true;
#endif
    char line[128];
    std::snprintf(line, sizeof line, "detach reserved=%d terminating=%d\n",
                  reserved != nullptr ? 1 : 0, modref::process_terminating() ? 1 : 0);
    log_line(line);
  }
  return ok;
}

}  // extern "C"
