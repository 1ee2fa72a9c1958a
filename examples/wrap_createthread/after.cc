// wrap_createthread_after.exe — seed 002's MainHR / CThreadParams program, AFTER the fix.
//
// Read it next to before.cc. The schedule is the same unlucky one (worst_case_schedule.h holds
// every worker until main_hr() has returned), and main_hr() still does not wait for its workers.
// What changed is ownership: thread_params is reference-counted, and every worker owns one
// reference for as long as it runs. main_hr() drops only its own reference when it returns; the
// last worker to finish destroys the parameters, whichever that is.
//
// Two versions of the fix, run one after the other:
//   Fix A  modref::thread + modref::ref_ptr: pass the ref_ptr to the thread like any argument; the
//          thread's context holds the copy. This is the one to write.
//   Fix B  by hand, as seed 002 did with CComPtr: add the worker's reference before CreateThread,
//          give it back if CreateThread fails, adopt it in the worker. This is what Fix A does for
//          you (and modref::thread also pins the module the worker's code lives in: irrelevant in
//          an EXE, essential in a DLL; see examples/async_dll_api).
#include <windows.h>

#include <array>
#include <atomic>
#include <cstdio>
#include <memory>
#include <string_view>

#include <modref/refcount.h>
#include <modref/thread.h>

#include "example_support.h"
#include "worst_case_schedule.h"

namespace wrap_createthread {
namespace {

// Which thread destroyed the parameters, and how often; for the checks in main().
std::atomic<DWORD> g_destroyed_on_thread{0};
std::atomic<int> g_destructions{0};
example::event g_params_destroyed(example::event::reset::automatic);

// seed 002's CThreadParams, now reference-counted: modref::ref_counted is seed 002's
// CRefCountImpl (an intrusive, thread-safe count starting at one), without the virtual destructor
// (the CRTP base deletes the right type) and with a count that refuses to go below zero.
struct thread_params : modref::ref_counted<thread_params> {
  wchar_t message[32] = {};

  HRESULT init(const wchar_t* text) {
    const std::wstring_view source(text);
    if (source.size() >= std::size(message)) return E_INVALIDARG;
    message[source.copy(message, source.size())] = L'\0';
    return S_OK;
  }

  ~thread_params() {
    g_destroyed_on_thread.store(::GetCurrentThreadId(), std::memory_order_relaxed);
    g_destructions.fetch_add(1, std::memory_order_relaxed);
    g_params_destroyed.set();  // orders the two stores above before main()'s wait returns
  }
};

HRESULT hresult_of(const absl::Status& status) {
  return HRESULT_FROM_WIN32(modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE));
}

// ---------------------------------------------------------------------------------------------
// Fix A: modref::thread and modref::ref_ptr

// The worker owns one reference, as a parameter: *params lives at least until this returns.
void worker(modref::ref_ptr<thread_params> params) {
  g_schedule.wait_at_gate();
  g_schedule.report(params->message, std::size(params->message));
  g_schedule.worker_finished();
}  // The reference is dropped here; the last worker to get here destroys *params.

HRESULT main_hr() {
  // One allocation, count one: main_hr's own reference.
  modref::ref_ptr<thread_params> params = modref::make_ref<thread_params>();
  if (const HRESULT hr = params->init(kMessage.data()); FAILED(hr)) return hr;

  for (int n = 0; n < kWorkers; ++n) {
    // modref::thread copies its arguments into the new thread's context, as std::thread does:
    // copying the ref_ptr adds the worker's reference here, on this thread, before the worker
    // exists. (A worker that took its own reference when it starts would be too late: *params
    // could already be gone.)
    absl::StatusOr<modref::thread> started = modref::thread::start(worker, params);
    if (!started.ok()) return hresult_of(started.status());
    started->detach();  // Do not wait for the worker threads: each one owns what it uses.
  }
  std::printf("[main_hr] started %d workers without waiting; use_count() = %u (main_hr + %d)\n",
              kWorkers, static_cast<unsigned>(params->use_count()), kWorkers);
  return S_OK;
}  // main_hr drops its reference here; *params lives on in the workers.

// ---------------------------------------------------------------------------------------------
// Fix B: the same thing by hand, with CreateThread (seed 002's CComPtr version)

DWORD WINAPI worker_thread_by_hand(void* parameter) {
  // Adopt the reference main_hr_by_hand() added for this thread; `params` drops it on return.
  modref::ref_ptr<thread_params> params(static_cast<thread_params*>(parameter), modref::adopt_ref);
  g_schedule.wait_at_gate();
  g_schedule.report(params->message, std::size(params->message));
  g_schedule.worker_finished();
  return 0;
}

struct handle_closer {
  void operator()(HANDLE handle) const noexcept { ::CloseHandle(handle); }
};
using unique_handle = std::unique_ptr<void, handle_closer>;

HRESULT main_hr_by_hand() {
  modref::ref_ptr<thread_params> params = modref::make_ref<thread_params>();
  if (const HRESULT hr = params->init(kMessage.data()); FAILED(hr)) return hr;

  std::array<unique_handle, kWorkers> threads;
  for (unique_handle& thread : threads) {
    modref::ref_ptr<thread_params> for_worker = params;  // the worker's reference, added first
    thread.reset(::CreateThread(nullptr, 0, worker_thread_by_hand, for_worker.get(), 0, nullptr));
    if (!thread) return HRESULT_FROM_WIN32(::GetLastError());  // for_worker gives it back
    (void)for_worker.detach();  // from here on the reference belongs to the worker
  }
  std::printf("[main_hr] started %d workers without waiting; use_count() = %u (main_hr + %d)\n",
              kWorkers, static_cast<unsigned>(params->use_count()), kWorkers);
  return S_OK;
}

// ---------------------------------------------------------------------------------------------

// Runs one version under the unlucky schedule and checks what happened.
void run(const char* title, HRESULT (*version)()) {
  std::printf("-- %s\n", title);
  g_schedule.begin(kWorkers);
  g_destructions.store(0, std::memory_order_relaxed);

  if (!example::check(SUCCEEDED(version()), "main_hr started the workers")) return;
  std::printf(
      "[main] main_hr returned; opening the gate: the workers read their parameters only "
      "now\n");
  // Nobody can have destroyed the parameters yet: every worker still holds a reference.
  example::check(g_destructions.load(std::memory_order_relaxed) == 0,
                 "the parameters outlived main_hr (the workers' references keep them)");
  g_schedule.open_gate();

  if (!example::check(g_schedule.wait_for_workers(), "the workers finished")) return;
  example::check(g_schedule.wrong_messages() == 0, "every worker read \"Hello World!\"");
  // The last worker destroys the parameters just after it reports; wait for that (bounded).
  if (!example::check(g_params_destroyed.wait(kBoundMs), "the parameters were destroyed")) return;
  example::check(g_destructions.load(std::memory_order_relaxed) == 1, "...exactly once");
  example::check(g_destroyed_on_thread.load(std::memory_order_relaxed) != ::GetCurrentThreadId(),
                 "...by the last worker to finish, not by main");
}

}  // namespace
}  // namespace wrap_createthread

int wmain() {
  using namespace wrap_createthread;
  example::unbuffered_output();
  std::printf(
      "wrap_createthread_after: seed 002's main_hr, fixed with reference counting, under "
      "the same unlucky schedule as before.cc\n");
  run("Fix A: modref::thread, each worker holds a modref::ref_ptr<thread_params>", main_hr);
  run("Fix B: by hand, CreateThread + a reference added for each worker and adopted by it",
      main_hr_by_hand);
  return example::finish("wrap_createthread_after");
}
