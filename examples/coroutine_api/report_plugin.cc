// report_plugin.dll — an asynchronous export written as a coroutine. start_report() returns as
// soon as the coroutine first suspends; the host may FreeLibrary the DLL right then. The frame
// pinned the DLL when it was created (before start_report returned) and lets it go after it has
// been destroyed, with FreeLibraryWhenCallbackReturns on the pool thread that finished it.
#include <windows.h>

#include <modref/coroutine.h>
#include <modref/dll_main.h>

#include <chrono>
#include <stop_token>
#include <system_error>

#include "report_plugin.h"

MODREF_DEFINE_DLLMAIN();

namespace {

std::stop_source g_stop;  // stop_reports() requests it: every stoppable report resumes at once

// Signals job->finished when the coroutine body ends, however it ends.
struct finish_signal {
  report_job* job;
  ~finish_signal() { ::SetEvent(job->finished); }
};

modref::task<LONG> count_lines() {
  co_await modref::resume_background();  // pretend to parse on a pool thread
  co_return 3;
}

modref::fire_and_forget run_report(report_job* job, std::chrono::milliseconds delay,
                                   std::stop_token stop) {
  finish_signal signal{job};
  // 1. A timer: wait `delay` before looking for data (cancellable).
  modref::wake_result woke = co_await modref::resume_after(delay, stop);
  if (woke.cancelled()) {
    job->cancelled = 1;
    co_return;
  }
  // 2. An event: wait for the host's data, at most 30 s (cancellable).
  woke = co_await modref::resume_on_signal(job->data_ready, std::chrono::seconds(30), stop);
  if (woke.cancelled()) {
    job->cancelled = 1;
    co_return;
  }
  if (woke.timed_out()) {
    job->timed_out = 1;
    co_return;
  }
  // 3. A child task: borrows this frame's pin, its exceptions would come back here.
  job->lines = co_await count_lines();
}

}  // namespace

extern "C" {

__declspec(dllexport) DWORD start_report(report_job* job, DWORD delay_ms, BOOL stoppable) {
  try {
    // The frame is pinned before this line returns.
    run_report(job, std::chrono::milliseconds(delay_ms),
               stoppable ? g_stop.get_token() : std::stop_token());
    return 0;
  } catch (const std::system_error& e) {
    return e.code().category() == std::system_category() ? static_cast<DWORD>(e.code().value())
                                                         : ERROR_GEN_FAILURE;
  }
}

__declspec(dllexport) void stop_reports() { g_stop.request_stop(); }

}  // extern "C"
