// coroutine_api.exe — starts two reports in report_plugin.dll (coroutines), stops one, unloads the
// DLL while the other is still suspended on an event, then lets it finish.
//
//   1. report A: 50 ms timer, then waits for data_ready (the host sets it only after step 3);
//   2. report B (stoppable): an hour's timer; stop_reports() resumes it at once, cancelled;
//   3. FreeLibrary: A's frame still holds its pin, so the DLL stays loaded;
//   4. data_ready: A resumes on a pool thread, finishes, and its frame is destroyed there; the DLL
//      unloads after that, without a crash.
#include <windows.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <thread>

#include "example_support.h"
#include "report_plugin.h"

namespace {

constexpr const wchar_t* kPluginName = L"report_plugin.dll";
constexpr const char* kName = "coroutine_api";
// Bound for each rendezvous (each takes milliseconds); it only turns a broken build into a
// failure instead of a hang.
constexpr DWORD kBoundMs = 30'000;

template <class Fn>
Fn get_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(dll, name)));
}

bool unloaded_within(DWORD bound_ms) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(bound_ms);
  while (example::is_loaded(kPluginName)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));  // polls the loader, no rendezvous
  }
  return true;
}

}  // namespace

int wmain() {
  example::unbuffered_output();
  std::printf("%s: a plugin whose asynchronous export is a coroutine, unloaded mid-flight\n",
              kName);

  example::event a_data, a_finished, b_data, b_finished;
  report_job a{a_data.get(), a_finished.get()};
  report_job b{b_data.get(), b_finished.get()};

  const std::wstring path = (example::exe_dir() / kPluginName).wstring();
  HMODULE dll = ::LoadLibraryExW(
      path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
  if (!example::check(dll != nullptr, "LoadLibraryExW(report_plugin.dll)")) {
    return example::finish(kName);
  }
  const auto start_report = get_export<start_report_fn>(dll, "start_report");
  const auto stop_reports = get_export<stop_reports_fn>(dll, "stop_reports");
  if (!example::check(start_report != nullptr && stop_reports != nullptr, "found the exports")) {
    return example::finish(kName);
  }

  std::printf("-- 1. report A: a 50 ms timer, then an event the host holds back\n");
  example::check(start_report(&a, 50, FALSE) == 0, "start_report(A) returned at once");
  std::printf("-- 2. report B: an hour's timer, then stop_reports()\n");
  example::check(start_report(&b, 3'600'000, TRUE) == 0, "start_report(B) returned at once");
  stop_reports();
  example::check(b_finished.wait(kBoundMs) && b.cancelled == 1,
                 "B resumed at once with a 'cancelled' result (it did not wait out the hour)");
  example::check(!a_finished.is_set(), "A is still waiting");

  std::printf("-- 3. FreeLibrary while A is suspended\n");
  ::FreeLibrary(dll);
  example::check(example::is_loaded(kPluginName), "the DLL stays loaded: A's frame holds its pin");

  std::printf("-- 4. data_ready: A resumes on a pool thread and finishes there\n");
  a_data.set();
  example::check(a_finished.wait(kBoundMs) && a.lines == 3 && a.cancelled == 0,
                 "A produced its report (3 lines) after the host had freed the DLL");
  example::check(unloaded_within(kBoundMs),
                 "the DLL unloaded once A's frame was destroyed (FreeLibraryWhenCallbackReturns)");
  return example::finish(kName);
}
