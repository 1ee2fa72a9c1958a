// example_support.h — the few lines every example host needs, kept out of the examples' way.
//
// Each example prints a short narrative of what happened and checks its own invariants with
// example::check(). A check prints "  [ok] ..." or "  [FAILED] ...". The host prints its final
// "... all checks passed" line only when every check held, and returns non-zero otherwise;
// examples/CMakeLists.txt makes ctest look for that line, and fail on any "[FAILED]".
//
// Nothing here is part of modref: it is plumbing for the examples (Windows only).
#ifndef MODREF_EXAMPLES_COMMON_EXAMPLE_SUPPORT_H_
#define MODREF_EXAMPLES_COMMON_EXAMPLE_SUPPORT_H_

#include <windows.h>

#include <cstdio>
#include <filesystem>
#include <string>

namespace example {

// example::unbuffered_output()
// Makes stdout unbuffered, so that lines printed by several threads, or just before a crash,
// reach the console (or ctest's pipe) in the order they were printed.
inline void unbuffered_output() { std::setvbuf(stdout, nullptr, _IONBF, 0); }

// example::failures()
// How many checks have failed so far in this process.
inline int& failures() {
  static int count = 0;
  return count;
}

// example::check(condition, what)
// Prints the outcome of one invariant and remembers failures. Returns `condition`.
inline bool check(bool condition, const char* what) {
  std::printf("  [%s] %s\n", condition ? "ok" : "FAILED", what);
  if (!condition) ++failures();
  return condition;
}

// example::finish(name)
// Prints the closing line and returns the process exit code: 0 only when every check held.
inline int finish(const char* name) {
  if (failures() == 0) {
    std::printf("%s: all checks passed\n", name);
    return 0;
  }
  std::printf("%s: %d check(s) FAILED\n", name, failures());
  return 1;
}

// example::exe_dir()
// The folder of the running executable. The examples' DLLs are built next to their hosts, and
// hosts load them by full path: a bare name would go through the DLL search path.
inline std::filesystem::path exe_dir() {
  wchar_t buffer[MAX_PATH * 4];
  const DWORD n = ::GetModuleFileNameW(nullptr, buffer, static_cast<DWORD>(std::size(buffer)));
  return std::filesystem::path(std::wstring(buffer, n)).parent_path();
}

// example::signalled(handle, bound_ms)
// Waits for `handle` at most `bound_ms` milliseconds; true when it was signalled. Every wait in
// the examples is bounded so that a broken build fails instead of hanging; the bounds are far
// above the time any step needs (Wine creates threads through wineserver, and CI machines are
// small and busy), and each caller says what it waits for.
inline bool signalled(HANDLE handle, DWORD bound_ms) {
  return ::WaitForSingleObject(handle, bound_ms) == WAIT_OBJECT_0;
}

// example::is_signalled(handle)
// True when `handle` is signalled right now (a zero-timeout look, never a wait).
inline bool is_signalled(HANDLE handle) {
  return ::WaitForSingleObject(handle, 0) == WAIT_OBJECT_0;
}

// example::event
// A Win32 event: created non-signalled, closed by the destructor.
class event {
 public:
  enum class reset { manual, automatic };
  explicit event(reset kind = reset::manual)
      : handle_(::CreateEventW(nullptr, kind == reset::manual, FALSE, nullptr)) {}
  event(const event&) = delete;  // one kernel object, one owner
  event& operator=(const event&) = delete;
  ~event() {
    if (handle_ != nullptr) ::CloseHandle(handle_);
  }

  HANDLE get() const noexcept { return handle_; }
  explicit operator bool() const noexcept { return handle_ != nullptr; }
  void set() const noexcept { ::SetEvent(handle_); }
  // Bounded wait; see signalled().
  bool wait(DWORD bound_ms) const noexcept { return signalled(handle_, bound_ms); }
  // A zero-timeout look (for an auto-reset event, a successful look consumes the signal).
  bool is_set() const noexcept { return is_signalled(handle_); }

 private:
  HANDLE handle_;
};

// example::is_loaded(dll_name)
// True while a module of that name is loaded in this process. It takes no reference.
inline bool is_loaded(const wchar_t* dll_name) { return ::GetModuleHandleW(dll_name) != nullptr; }

}  // namespace example

#endif  // MODREF_EXAMPLES_COMMON_EXAMPLE_SUPPORT_H_
