// wrap_createthread_before.exe — seed 002's MainHR / CThreadParams program, BEFORE the fix.
//
// *** THIS PROGRAM IS DELIBERATELY BROKEN. Read it next to after.cc. ***
//
// main_hr() hands a pointer to its thread parameters to worker threads and returns without waiting
// for them; the parameters are owned by a smart pointer (seed 002's CAutoPtr, here unique_ptr) that
// deletes them when main_hr() returns. Nothing counts that the workers still use them. Any worker
// that reads its parameters after that moment reads freed memory: garbage, someone else's data, or
// an access violation.
//
// Two things make the failure deterministic and harmless, so that it can run as a test:
//   - worst_case_schedule.h holds every worker until main_hr() has returned (the unlucky schedule,
//     every time);
//   - thread_params is allocated from one static block that stands in for the heap: the block
//     stays mapped after delete (no crash), and the next allocation of the same size gets the same
//     block, as the next allocation on a real heap usually does. So the workers print what the
//     *next* owner of that memory wrote there: "okkkk", as in seed 002's output.
// The test passes when the program shows the corruption it predicts. Real code has neither crutch:
// it crashes, or worse, prints the wrong thing once a month.
#include <windows.h>

#include <array>
#include <cstddef>
#include <cstdio>
#include <memory>
#include <new>
#include <string_view>

#include "example_support.h"
#include "worst_case_schedule.h"

namespace wrap_createthread {
namespace {

// seed 002's CThreadParams: the message the workers print. Not reference-counted.
struct thread_params {
  wchar_t message[32] = {};

  HRESULT init(const wchar_t* text) {
    const std::wstring_view source(text);
    if (source.size() >= std::size(message)) return E_INVALIDARG;
    message[source.copy(message, source.size())] = L'\0';
    return S_OK;
  }

  // The stand-in heap; see the note at the top. Real code has nothing of the sort.
  static void* operator new(std::size_t size);
  static void operator delete(void* block) noexcept;
};

alignas(thread_params) unsigned char g_stand_in_heap_block[sizeof(thread_params)];

void* thread_params::operator new(std::size_t size) {
  if (size > sizeof g_stand_in_heap_block) throw std::bad_alloc();
  return g_stand_in_heap_block;  // the same block every time: a freed block is reused at once
}
void thread_params::operator delete(void*) noexcept {}  // "freed": the block may be reused

// Closes a thread handle (seed 002's CHandle). Closing the handle does not stop the thread.
struct handle_closer {
  void operator()(HANDLE handle) const noexcept { ::CloseHandle(handle); }
};
using unique_handle = std::unique_ptr<void, handle_closer>;

// seed 002's WorkerThread. It gets a bare pointer: nothing keeps *params alive for it.
DWORD WINAPI worker_thread(void* parameter) {
  const auto* params = static_cast<const thread_params*>(parameter);
  g_schedule.wait_at_gate();  // the unlucky schedule, forced (worst_case_schedule.h)
  g_schedule.report(params->message, std::size(params->message));  // reads freed memory
  g_schedule.worker_finished();
  return 0;
}

// seed 002's MainHR, before the fix.
HRESULT main_hr() {
  auto params = std::make_unique<thread_params>();  // CAutoPtr<CThreadParams> spParameter
  if (const HRESULT hr = params->init(kMessage.data()); FAILED(hr)) return hr;

  std::array<unique_handle, kWorkers> threads;  // CHandle shThreads[]
  for (unique_handle& thread : threads) {
    // Create new worker threads with non-ref-counted shared state: every worker gets the same
    // raw pointer, and nobody records that it is in use.
    thread.reset(::CreateThread(nullptr, 0, worker_thread, params.get(), 0, nullptr));
    if (!thread) return HRESULT_FROM_WIN32(::GetLastError());
  }

  // Do not wait for the worker threads to exit.
  std::printf("[main_hr] started %d workers without waiting for them; returning\n", kWorkers);
  return S_OK;
}  // <- THE BUG: ~unique_ptr deletes *params here, while the workers still have to read it.
   //    (~unique_handle only closes the handles; the threads run on.)

}  // namespace
}  // namespace wrap_createthread

int wmain() {
  using namespace wrap_createthread;
  example::unbuffered_output();
  std::printf(
      "wrap_createthread_before: seed 002's main_hr with CreateThread and a parameter that is not\n"
      "reference-counted. DELIBERATELY BROKEN; made deterministic (see before.cc) so that the "
      "race\n"
      "shows on every run instead of once in a while.\n");

  g_schedule.begin(kWorkers);
  const HRESULT hr = main_hr();
  if (!example::check(SUCCEEDED(hr), "main_hr started the workers")) {
    return example::finish("wrap_createthread_before");
  }

  // main_hr's parameters are freed. The program goes on with its life; its next allocation of the
  // same size gets the same memory, as it would on a real heap.
  auto next_request = std::make_unique<thread_params>();
  (void)next_request->init(L"okkkk");
  std::printf(
      "[main] main_hr returned and freed its parameters; the next allocation reused them\n");
  std::printf("[main] opening the gate: the workers read their parameters only now\n");
  g_schedule.open_gate();

  if (!example::check(g_schedule.wait_for_workers(), "the workers finished")) {
    return example::finish("wrap_createthread_before");
  }
  example::check(g_schedule.wrong_messages() == kWorkers,
                 "every worker printed someone else's data instead of \"Hello World!\": the "
                 "use-after-free, as predicted");
  std::printf("The fix is in after.cc: the workers own a reference to their parameters.\n");
  return example::finish("wrap_createthread_before");
}
