// Benchmarks for <modref/thread.h> and <modref/threadpool.h> against the raw Win32 and std
// baselines (run under Wine here: compare the printed ratios, not absolute times; see
// docs/benchmarks.md).
//   - start + join: modref::thread vs CreateThread + WaitForSingleObject + CloseHandle vs
//     std::thread;
//   - submit-to-callback round trip: modref::submit and callback_group::submit vs
//     TrySubmitThreadpoolCallback; threadpool_work::submit (which takes the object's arm lock)
//     vs SubmitThreadpoolWork on a raw work object;
//   - start_detached throughput: N detached tasks, each pinning and releasing the module, vs N raw
//     detached CreateThread calls (which pin nothing).
#include <windows.h>

#include <atomic>
#include <thread>

#include <benchmark/benchmark.h>
#include <modref/callback_group.h>
#include <modref/thread.h>
#include <modref/threadpool.h>

#include "ratio_report.h"

namespace {

DWORD WINAPI raw_noop(void*) { return 0; }

void raw_create_thread_wait(benchmark::State& state) {
  for (auto _ : state) {
    HANDLE h = ::CreateThread(nullptr, 0, raw_noop, nullptr, 0, nullptr);
    ::WaitForSingleObject(h, INFINITE);
    ::CloseHandle(h);
  }
}
BENCHMARK(raw_create_thread_wait)->UseRealTime();

void modref_thread_start_join(benchmark::State& state) {
  for (auto _ : state) {
    modref::thread t([] {});
    t.join();
  }
}
BENCHMARK(modref_thread_start_join)->UseRealTime();

void std_thread_start_join(benchmark::State& state) {
  for (auto _ : state) {
    std::thread t([] {});
    t.join();
  }
}
BENCHMARK(std_thread_start_join)->UseRealTime();

// One auto-reset event per benchmark run; the callback sets it, the loop waits for it.
struct round_trip {
  HANDLE done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  ~round_trip() { ::CloseHandle(done); }
};

void CALLBACK raw_signal(PTP_CALLBACK_INSTANCE, void* event) { ::SetEvent(event); }

void raw_submit_round_trip(benchmark::State& state) {
  round_trip rt;
  for (auto _ : state) {
    ::TrySubmitThreadpoolCallback(raw_signal, rt.done, nullptr);
    ::WaitForSingleObject(rt.done, INFINITE);
  }
}
BENCHMARK(raw_submit_round_trip)->UseRealTime();

void modref_submit_round_trip(benchmark::State& state) {
  round_trip rt;
  for (auto _ : state) {
    (void)modref::submit([event = rt.done] { ::SetEvent(event); });
    ::WaitForSingleObject(rt.done, INFINITE);
  }
}
BENCHMARK(modref_submit_round_trip)->UseRealTime();

void group_submit_round_trip(benchmark::State& state) {
  round_trip rt;
  modref::callback_group group{modref::threadpool_options{}};
  for (auto _ : state) {
    (void)group.submit([event = rt.done] { ::SetEvent(event); });
    ::WaitForSingleObject(rt.done, INFINITE);
  }
}
BENCHMARK(group_submit_round_trip)->UseRealTime();

void CALLBACK raw_work_signal(PTP_CALLBACK_INSTANCE, void* event, PTP_WORK) { ::SetEvent(event); }

void raw_work_round_trip(benchmark::State& state) {
  round_trip rt;
  PTP_WORK work = ::CreateThreadpoolWork(raw_work_signal, rt.done, nullptr);
  for (auto _ : state) {
    ::SubmitThreadpoolWork(work);
    ::WaitForSingleObject(rt.done, INFINITE);
  }
  ::WaitForThreadpoolWorkCallbacks(work, FALSE);
  ::CloseThreadpoolWork(work);
}
BENCHMARK(raw_work_round_trip)->UseRealTime();

void modref_work_round_trip(benchmark::State& state) {
  round_trip rt;
  modref::threadpool_work<modref::on_destroy::wait> work([event = rt.done] { ::SetEvent(event); });
  for (auto _ : state) {
    (void)work.submit();
    ::WaitForSingleObject(rt.done, INFINITE);
  }
}
BENCHMARK(modref_work_round_trip)->UseRealTime();

// A burst of 1,000 submissions of a no-op work callback, then a wait for all of them: the cost of
// submit() itself (modref adds the arm lock, taken shared, and its checks) weighs more here than
// in a round trip, which Wine's wake-up latency dominates.
void CALLBACK raw_work_noop(PTP_CALLBACK_INSTANCE, void*, PTP_WORK) {}

void raw_work_burst(benchmark::State& state) {
  PTP_WORK work = ::CreateThreadpoolWork(raw_work_noop, nullptr, nullptr);
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) ::SubmitThreadpoolWork(work);
    ::WaitForThreadpoolWorkCallbacks(work, FALSE);
  }
  ::CloseThreadpoolWork(work);
}
BENCHMARK(raw_work_burst)->UseRealTime();

void modref_work_burst(benchmark::State& state) {
  modref::threadpool_work<modref::on_destroy::wait> work([] {});
  for (auto _ : state) {
    for (int i = 0; i < 1000; ++i) (void)work.submit();
    (void)work.wait_for_callbacks();
  }
}
BENCHMARK(modref_work_burst)->UseRealTime();

// N detached tasks; the run ends when every task has finished (and, for modref, every context
// has been destroyed and every pin given back).
struct countdown {
  std::atomic<long> left{0};
  HANDLE all_done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  ~countdown() { ::CloseHandle(all_done); }
  void one_done() {
    if (left.fetch_sub(1, std::memory_order_acq_rel) == 1) ::SetEvent(all_done);
  }
};

DWORD WINAPI raw_count_down(void* raw) {
  static_cast<countdown*>(raw)->one_done();
  return 0;
}

void raw_detached_threads(benchmark::State& state) {
  countdown c;
  for (auto _ : state) {
    c.left = state.range(0);
    for (long i = 0; i < state.range(0); ++i) {
      ::CloseHandle(::CreateThread(nullptr, 0, raw_count_down, &c, 0, nullptr));
    }
    ::WaitForSingleObject(c.all_done, INFINITE);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(raw_detached_threads)->Arg(10000)->Iterations(1)->UseRealTime();

void modref_start_detached(benchmark::State& state) {
  countdown c;
  for (auto _ : state) {
    c.left = state.range(0);
    for (long i = 0; i < state.range(0); ++i) {
      (void)modref::start_detached([&c] { c.one_done(); });
    }
    ::WaitForSingleObject(c.all_done, INFINITE);
    while (!modref::can_unload_now()) ::Sleep(0);  // every pin given back
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}
BENCHMARK(modref_start_detached)->Arg(10000)->Iterations(1)->UseRealTime();

using modref_bench::declare_ratio;
using modref_bench::time_basis;

[[maybe_unused]] const bool thread_declared = declare_ratio({
    .label = "modref::thread start+join / raw CreateThread+wait+close",
    .numerator = "modref_thread_start_join/real_time",
    .denominator = "raw_create_thread_wait/real_time",
    .target_at_most = 1.10,
    .basis = time_basis::real_time,
});
[[maybe_unused]] const bool std_thread_declared = declare_ratio({
    .label = "std::thread start+join / raw CreateThread+wait+close",
    .numerator = "std_thread_start_join/real_time",
    .denominator = "raw_create_thread_wait/real_time",
    .target_at_most = 0,
    .basis = time_basis::real_time,
});
[[maybe_unused]] const bool submit_declared = declare_ratio({
    .label = "modref::submit round trip / raw TrySubmitThreadpoolCallback round trip",
    .numerator = "modref_submit_round_trip/real_time",
    .denominator = "raw_submit_round_trip/real_time",
    .target_at_most = 1.10,
    .basis = time_basis::real_time,
});
[[maybe_unused]] const bool group_submit_declared = declare_ratio({
    .label = "callback_group::submit round trip / raw TrySubmitThreadpoolCallback round trip",
    .numerator = "group_submit_round_trip/real_time",
    .denominator = "raw_submit_round_trip/real_time",
    .target_at_most = 1.10,
    .basis = time_basis::real_time,
});
[[maybe_unused]] const bool work_submit_declared = declare_ratio({
    .label = "threadpool_work::submit round trip / raw SubmitThreadpoolWork round trip",
    .numerator = "modref_work_round_trip/real_time",
    .denominator = "raw_work_round_trip/real_time",
    .target_at_most = 1.10,
    .basis = time_basis::real_time,
});
[[maybe_unused]] const bool work_burst_declared = declare_ratio({
    .label = "1,000 threadpool_work::submit + wait / 1,000 raw SubmitThreadpoolWork + wait",
    .numerator = "modref_work_burst/real_time",
    .denominator = "raw_work_burst/real_time",
    .target_at_most = 1.10,
    .basis = time_basis::real_time,
});
[[maybe_unused]] const bool detached_declared = declare_ratio({
    .label = "10,000 start_detached (pin+release each) / 10,000 raw detached CreateThread (no pin)",
    .numerator = "modref_start_detached/10000/iterations:1/real_time",
    .denominator = "raw_detached_threads/10000/iterations:1/real_time",
    .target_at_most = 0,
    .basis = time_basis::real_time,
});

}  // namespace
