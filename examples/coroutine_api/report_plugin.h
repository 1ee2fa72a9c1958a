// The interface between coroutine_api.exe and report_plugin.dll. Everything the plugin's
// coroutines touch after the host has unloaded the DLL (events, results) lives in the host.
#ifndef MODREF_EXAMPLES_COROUTINE_API_REPORT_PLUGIN_H_
#define MODREF_EXAMPLES_COROUTINE_API_REPORT_PLUGIN_H_

#include <windows.h>

struct report_job {
  HANDLE data_ready = nullptr;  // set by the host: the input the report waits for is there
  HANDLE finished = nullptr;    // set by the plugin's coroutine as the last act of its body
  volatile LONG lines = 0;      // the report: how many lines it produced
  volatile LONG cancelled = 0;  // 1 when the job ended because the plugin was stopped
  volatile LONG timed_out = 0;  // 1 when data_ready never came
};

// start_report(job, delay_ms, stoppable): starts the report coroutine and returns at once (0), or
// returns the Win32 error / ERROR_GEN_FAILURE when it could not start (nothing was started then).
// A stoppable report also listens to stop_reports().
using start_report_fn = DWORD (*)(report_job* job, DWORD delay_ms, BOOL stoppable);
// stop_reports(): asks every stoppable report to stop; they resume at once and finish.
using stop_reports_fn = void (*)();

#endif  // MODREF_EXAMPLES_COROUTINE_API_REPORT_PLUGIN_H_
