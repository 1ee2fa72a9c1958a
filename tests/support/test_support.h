// Helpers shared by modref's Windows tests: paths of sibling DLLs and executables, bounded polls
// for "has this module unloaded yet", child processes with captured exit codes, and a handle
// counter that works under Wine (whose GetProcessHandleCount always reports 0).
#ifndef MODREF_TESTS_SUPPORT_TEST_SUPPORT_H_
#define MODREF_TESTS_SUPPORT_TEST_SUPPORT_H_

#include <windows.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace modref_test {

// The folder of the running executable; test DLLs and helper executables are built next to it.
inline std::filesystem::path exe_dir() {
  wchar_t buffer[MAX_PATH * 4];
  const DWORD n = ::GetModuleFileNameW(nullptr, buffer, static_cast<DWORD>(std::size(buffer)));
  return std::filesystem::path(std::wstring(buffer, n)).parent_path();
}

inline std::filesystem::path sibling(const wchar_t* name) { return exe_dir() / name; }

// Waits (bounded) until no module named `name` is loaded. Unload after the last worker exits is
// asynchronous from the host's point of view, hence a poll; the bound is generous because Wine
// creates and ends threads through wineserver, which is slow on a loaded 2-core machine.
inline bool wait_until_unloaded(const wchar_t* name,
                                std::chrono::milliseconds bound = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (::GetModuleHandleW(name) != nullptr) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

inline bool is_loaded(const wchar_t* name) { return ::GetModuleHandleW(name) != nullptr; }

// Runs `command_line` as a child process and returns its exit code; ~0u when it could not start,
// WAIT_TIMEOUT (258) when it did not end within `bound` (the child is then killed). With a `log`
// path, the child's standard output and error go to that file (truncated), so that a failure can
// be explained afterwards (see read_file); without one, the child shares this process's handles.
// With a `log` and a non-zero `stall`, a child whose log has not grown for `stall` also counts as
// hung (killed, WAIT_TIMEOUT): for children that print a line per step, a deadlock is then told
// from a slow run after `stall` rather than after the whole `bound`.
inline DWORD run_child(std::wstring command_line,
                       std::chrono::milliseconds bound = std::chrono::seconds(60),
                       const std::filesystem::path& log = {},
                       std::chrono::milliseconds stall = std::chrono::milliseconds::zero()) {
  STARTUPINFOW si{};
  si.cb = sizeof(si);
  PROCESS_INFORMATION pi{};
  HANDLE sink = INVALID_HANDLE_VALUE;
  const bool redirect = !log.empty();
  if (redirect) {
    SECURITY_ATTRIBUTES inherit{sizeof(inherit), nullptr, TRUE};
    sink = ::CreateFileW(log.c_str(), GENERIC_WRITE, FILE_SHARE_READ | FILE_SHARE_WRITE, &inherit,
                         CREATE_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
    if (sink == INVALID_HANDLE_VALUE) return ~0u;
    si.dwFlags = STARTF_USESTDHANDLES;
    si.hStdInput = ::GetStdHandle(STD_INPUT_HANDLE);
    si.hStdOutput = sink;
    si.hStdError = sink;
  }
  const BOOL created = ::CreateProcessW(nullptr, command_line.data(), nullptr, nullptr, redirect, 0,
                                        nullptr, nullptr, &si, &pi);
  if (sink != INVALID_HANDLE_VALUE) ::CloseHandle(sink);
  if (!created) return ~0u;
  ::CloseHandle(pi.hThread);
  DWORD code = ~0u;
  const bool watch_log = redirect && stall > std::chrono::milliseconds::zero();
  const auto deadline = std::chrono::steady_clock::now() + bound;
  auto last_growth = std::chrono::steady_clock::now();
  std::uintmax_t last_size = 0;  // the log's size when it last grew
  DWORD waited = WAIT_TIMEOUT;
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (watch_log) {
      std::error_code error;
      const std::uintmax_t size = std::filesystem::file_size(log, error);
      if (!error && size != last_size) {
        last_size = size;
        last_growth = now;
      } else if (now - last_growth >= stall) {
        break;  // no new output for `stall`: hung
      }
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now);
    const auto slice = watch_log ? std::min(left, std::chrono::milliseconds(250)) : left;
    waited = ::WaitForSingleObject(pi.hProcess, static_cast<DWORD>(slice.count()));
    if (waited != WAIT_TIMEOUT || !watch_log) break;
  }
  if (waited == WAIT_TIMEOUT) {
    ::TerminateProcess(pi.hProcess, WAIT_TIMEOUT);
    ::WaitForSingleObject(pi.hProcess, 10000);  // bounded: the log is complete once it is gone
    code = WAIT_TIMEOUT;
  } else {
    ::GetExitCodeProcess(pi.hProcess, &code);
  }
  ::CloseHandle(pi.hProcess);
  return code;
}

inline std::wstring quoted(const std::filesystem::path& p) { return L"\"" + p.wstring() + L"\""; }

inline std::string read_file(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A unique scratch file path in the temp folder.
inline std::filesystem::path temp_file(const wchar_t* stem) {
  static int counter = 0;
  return std::filesystem::temp_directory_path() /
         (std::wstring(stem) + L"-" + std::to_wstring(::GetCurrentProcessId()) + L"-" +
          std::to_wstring(++counter) + L".log");
}

// Number of valid handles in this process. Wine 8's GetProcessHandleCount succeeds and reports 0,
// so count the values for which GetHandleInformation succeeds instead (handles are multiples of 4;
// a small test process stays far below 2^18).
inline int count_open_handles() {
  int count = 0;
  for (std::uintptr_t value = 4; value < (1u << 18); value += 4) {
    DWORD flags = 0;
    if (::GetHandleInformation(reinterpret_cast<HANDLE>(value), &flags)) ++count;
  }
  return count;
}

}  // namespace modref_test

#endif  // MODREF_TESTS_SUPPORT_TEST_SUPPORT_H_
