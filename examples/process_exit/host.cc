// process_exit.exe — runs cache_service.dll through both ends of a DLL's life, each in a child
// process (a copy of this program), and reads back the log the DLL wrote:
//
//   exit-with-cache-running  load, start the cache, return from wmain with the DLL loaded and its
//                            pool timer armed. exit() then ExitProcess kill the pool's threads and
//                            run the DLL's teardown during termination: seed 000's crash site.
//   orderly-shutdown         load, start the cache, cache_stop(), FreeLibrary, return.
//
// The parent checks that each child exited with 0, promptly (a destructor that waited for a pool
// callback the exiting process has already killed would hang it), and that the log shows the
// right behaviour: nothing touched the pool during termination, and everything was cleaned up
// on FreeLibrary.
#include <windows.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <string_view>

#include "example_support.h"

namespace {

constexpr const char* kName = "process_exit";
constexpr const wchar_t* kDllName = L"cache_service.dll";

using cache_start_fn = HRESULT (*)(const wchar_t* log_path);
using cache_stop_fn = void (*)();

template <class Fn>
Fn get_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(dll, name)));
}

// ---------------------------------------------------------------------------------------------
// The child

int run_child(std::wstring_view scenario, const wchar_t* log_path) {
  const std::wstring path = (example::exe_dir() / kDllName).wstring();
  HMODULE dll = ::LoadLibraryExW(
      path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
  if (dll == nullptr) return 10;
  const auto cache_start = get_export<cache_start_fn>(dll, "cache_start");
  const auto cache_stop = get_export<cache_stop_fn>(dll, "cache_stop");
  if (cache_start == nullptr || cache_stop == nullptr) return 11;
  if (FAILED(cache_start(log_path))) return 12;

  if (scenario == L"orderly-shutdown") {
    cache_stop();        // the timer goes, and with it the timer's pin on the DLL
    ::FreeLibrary(dll);  // the last reference: the DLL unloads now, its globals are destroyed
    return 0;
  }
  // exit-with-cache-running: the DLL stays loaded and its timer keeps firing. Returning from
  // wmain calls exit(), which ends in ExitProcess: DLL teardown happens during termination.
  return 0;
}

// ---------------------------------------------------------------------------------------------
// The parent

// A child that has not exited after this long is hung (the failure this example guards against).
// Starting a process under Wine takes a second or two on a busy machine; the child itself needs
// milliseconds.
constexpr DWORD kChildBoundMs = 60'000;

// Runs this program as a child for `scenario`; returns its exit code, or WAIT_TIMEOUT if it hung
// (it is then killed), or ~0u if it could not be started.
DWORD run_in_child(const wchar_t* scenario, const std::filesystem::path& log) {
  wchar_t self[MAX_PATH * 4];
  const DWORD n = ::GetModuleFileNameW(nullptr, self, static_cast<DWORD>(std::size(self)));
  std::wstring command =
      L"\"" + std::wstring(self, n) + L"\" --child " + scenario + L" \"" + log.wstring() + L"\"";
  STARTUPINFOW startup{};
  startup.cb = sizeof(startup);
  PROCESS_INFORMATION process{};
  if (!::CreateProcessW(nullptr, command.data(), nullptr, nullptr, FALSE, 0, nullptr, nullptr,
                        &startup, &process)) {
    return ~0u;
  }
  ::CloseHandle(process.hThread);
  DWORD code = ~0u;
  if (!example::signalled(process.hProcess, kChildBoundMs)) {
    ::TerminateProcess(process.hProcess, WAIT_TIMEOUT);
    code = WAIT_TIMEOUT;
  } else {
    ::GetExitCodeProcess(process.hProcess, &code);
  }
  ::CloseHandle(process.hProcess);
  return code;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

bool contains(const std::string& text, std::string_view what) {
  return text.find(what) != std::string::npos;
}

// Runs one scenario and prints the DLL's log; returns the log for the checks.
std::string run_scenario(const wchar_t* scenario, const char* title) {
  std::printf("-- %s\n", title);
  const std::filesystem::path log =
      std::filesystem::temp_directory_path() /
      (L"modref-example-process-exit-" + std::to_wstring(::GetCurrentProcessId()) + L"-" +
       scenario + L".log");
  std::error_code ignored;
  std::filesystem::remove(log, ignored);
  const DWORD code = run_in_child(scenario, log);
  const std::string text = read_file(log);
  std::filesystem::remove(log, ignored);

  std::printf("[parent] the child exited with code %lu; the DLL's log:\n",
              static_cast<unsigned long>(code));
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) std::printf("    | %s\n", line.c_str());
  example::check(code == 0, "the child exited promptly with code 0 (no crash, no hang)");
  return text;
}

int run_parent() {
  example::unbuffered_output();
  std::printf(
      "%s: a DLL global that owns a thread-pool timer, at process exit and at "
      "FreeLibrary\n",
      kName);

  const std::string exiting =
      run_scenario(L"exit-with-cache-running",
                   "the host exits with the DLL loaded and the cache's timer armed (seed 000)");
  example::check(contains(exiting, "cache_start: refresh timer armed"), "the cache was running");
  example::check(contains(exiting, "DllMain(DLL_PROCESS_DETACH): the process is exiting"),
                 "DllMain saw the process exit (lpReserved != NULL) and told modref::dll_main");
  example::check(contains(exiting, "returned FAILED_PRECONDITION"),
                 "a late pool call from a global destructor was refused, not executed");
  example::check(!contains(exiting, "~refresh_cache") && !contains(exiting, "cache_stop"),
                 "termination_safe skipped the cache's destructor: nothing stopped, waited for "
                 "or closed the timer during termination");

  const std::string orderly =
      run_scenario(L"orderly-shutdown", "the host stops the cache and calls FreeLibrary");
  example::check(contains(orderly, "cache_stop: refresh timer cancelled"),
                 "cache_stop cancelled the timer while the process was healthy");
  example::check(contains(orderly, "DllMain(DLL_PROCESS_DETACH): FreeLibrary"),
                 "FreeLibrary unloaded the DLL (the timer's pin was gone)");
  example::check(contains(orderly, "process_terminating() = false") &&
                     contains(orderly, "~refresh_cache: nothing left to stop"),
                 "on FreeLibrary the globals were destroyed normally");
  return example::finish(kName);
}

}  // namespace

// process_exit.exe                                  the example (parent)
// process_exit.exe --child <scenario> <log path>    one scenario (started by the parent)
int wmain(int argc, wchar_t** argv) {
  if (argc == 4 && std::wstring_view(argv[1]) == L"--child") return run_child(argv[2], argv[3]);
  return run_parent();
}
