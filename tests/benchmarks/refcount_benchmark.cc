// refcount_benchmark.cc — what modref::ref_ptr costs next to the hand-written atomic pair it
// replaces and next to std::shared_ptr: copy+destroy on one thread and with two threads hammering
// one shared object, make_ref against std::make_shared, and the single_thread_count policy against
// the atomic one. Prints ratios (ratio_report.h); nothing fails on speed. See docs/benchmarks.md.
//
// Honest baseline: raw_atomic_inc_dec_pair performs exactly the two read-modify-writes that
// ref_ptr's copy and destruction perform (fetch_add relaxed, fetch_sub acq_rel, both with their
// results used, so both compile to `lock xadd` like ref_ptr's), on an object reached the same
// way, with the same compiler barrier between them. What it leaves out is what ref_ptr adds: the
// null checks, the dead-object / overflow / underflow checks and the "was it the last?" test.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <thread>

#include "modref/refcount.h"
#include "ratio_report.h"

#if __has_include(<sys/single_threaded.h>)
#include <sys/single_threaded.h>  // glibc 2.32+: __libc_single_threaded
#define MODREF_BENCH_HAS_LIBC_SINGLE_THREADED 1
#endif

namespace {

// The objects copied below: one reference count and one word of payload, the smallest context.
struct counted_object : modref::ref_counted<counted_object> {
  std::uint64_t payload = 0;
};

struct single_thread_counted_object
    : modref::ref_counted<single_thread_counted_object, modref::single_thread_count> {
  std::uint64_t payload = 0;
};

// What a hand-written intrusive count looks like without modref: the same 32-bit atomic.
struct raw_counted_object {
  std::atomic<std::uint32_t> count{1};
  std::uint64_t payload = 0;
};

// std::shared_ptr keeps its counts in its own control block (make_shared: same allocation).
struct plain_object {
  std::uint64_t payload = 0;
};

// libstdc++ keeps shared_ptr's counts as plain integers until the program starts its first
// thread (__libc_single_threaded on glibc); a benchmark that never started one would measure a
// shared_ptr no multi-threaded program has. Start and join one thread before main().
bool start_and_join_one_thread() {
  std::thread([] {}).join();
  return true;
}
[[maybe_unused]] const bool shared_ptr_counts_made_atomic = start_and_join_one_thread();

// Refuses to measure shared_ptr when the C library still reports a single-threaded process.
bool shared_ptr_counts_are_atomic(benchmark::State& state) {
#if defined(MODREF_BENCH_HAS_LIBC_SINGLE_THREADED)
  if (__libc_single_threaded) {
    state.SkipWithError("process still single-threaded: shared_ptr counts would not be atomic");
    return false;
  }
#else
  (void)state;
#endif
  return true;
}

// The one object every thread of a run copies. Thread 0 creates it before the timed loop and
// drops it after; the library's start and stop barriers order that against the other threads.
template <class Pointer>
Pointer& object_shared_by_all_threads() {
  static Pointer shared;
  return shared;
}

void raw_atomic_inc_dec_pair(benchmark::State& state) {
  raw_counted_object*& shared = object_shared_by_all_threads<raw_counted_object*>();
  if (state.thread_index() == 0) shared = new raw_counted_object;
  for (auto _ : state) {
    raw_counted_object* const copy = shared;
    benchmark::DoNotOptimize(copy->count.fetch_add(1, std::memory_order_relaxed));
    benchmark::DoNotOptimize(copy);
    benchmark::DoNotOptimize(copy->count.fetch_sub(1, std::memory_order_acq_rel));
  }
  if (state.thread_index() == 0) {
    delete shared;
    shared = nullptr;
  }
}
BENCHMARK(raw_atomic_inc_dec_pair)->Threads(1)->Threads(2);

void ref_ptr_copy_destroy(benchmark::State& state) {
  using pointer = modref::ref_ptr<counted_object>;
  pointer& shared = object_shared_by_all_threads<pointer>();
  if (state.thread_index() == 0) shared = modref::make_ref<counted_object>();
  for (auto _ : state) {
    const pointer copy(shared);
    benchmark::DoNotOptimize(copy.get());
  }
  if (state.thread_index() == 0) shared.reset();
}
BENCHMARK(ref_ptr_copy_destroy)->Threads(1)->Threads(2);

void shared_ptr_copy_destroy(benchmark::State& state) {
  using pointer = std::shared_ptr<plain_object>;
  pointer& shared = object_shared_by_all_threads<pointer>();
  if (!shared_ptr_counts_are_atomic(state)) return;
  if (state.thread_index() == 0) shared = std::make_shared<plain_object>();
  for (auto _ : state) {
    const pointer copy(shared);
    benchmark::DoNotOptimize(copy.get());
  }
  if (state.thread_index() == 0) shared.reset();
}
BENCHMARK(shared_ptr_copy_destroy)->Threads(1)->Threads(2);

// single_thread_count is a plain integer: sharing it between threads is a data race, so this one
// runs on one thread only.
void single_thread_ref_ptr_copy_destroy(benchmark::State& state) {
  using pointer = modref::ref_ptr<single_thread_counted_object>;
  const pointer original = modref::make_ref<single_thread_counted_object>();
  benchmark::DoNotOptimize(original.get());
  for (auto _ : state) {
    const pointer copy(original);
    benchmark::DoNotOptimize(copy.get());
  }
}
BENCHMARK(single_thread_ref_ptr_copy_destroy)->Threads(1);

// Allocation, construction, destruction and deallocation of one object.
void make_ref_destroy(benchmark::State& state) {
  for (auto _ : state) {
    const modref::ref_ptr<counted_object> made = modref::make_ref<counted_object>();
    benchmark::DoNotOptimize(made.get());
  }
}
BENCHMARK(make_ref_destroy)->Threads(1);

void make_shared_destroy(benchmark::State& state) {
  if (!shared_ptr_counts_are_atomic(state)) return;
  for (auto _ : state) {
    const std::shared_ptr<plain_object> made = std::make_shared<plain_object>();
    benchmark::DoNotOptimize(made.get());
  }
}
BENCHMARK(make_shared_destroy)->Threads(1);

using modref_bench::declare_ratio;
using modref_bench::time_basis;

[[maybe_unused]] const bool ref_ptr_vs_raw_declared = declare_ratio({
    .label = "ref_ptr copy+destroy / raw atomic inc+dec pair (1 thread)",
    .numerator = "ref_ptr_copy_destroy/threads:1",
    .denominator = "raw_atomic_inc_dec_pair/threads:1",
    .target_at_most = 1.10,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool ref_ptr_vs_raw_two_threads_declared = declare_ratio({
    .label = "ref_ptr copy+destroy / raw atomic inc+dec pair (2 threads, one object)",
    .numerator = "ref_ptr_copy_destroy/threads:2",
    .denominator = "raw_atomic_inc_dec_pair/threads:2",
    .target_at_most = 1.10,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool ref_ptr_vs_shared_ptr_declared = declare_ratio({
    .label = "ref_ptr copy+destroy / shared_ptr copy+destroy (1 thread)",
    .numerator = "ref_ptr_copy_destroy/threads:1",
    .denominator = "shared_ptr_copy_destroy/threads:1",
    .target_at_most = 0,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool ref_ptr_vs_shared_ptr_two_threads_declared = declare_ratio({
    .label = "ref_ptr copy+destroy / shared_ptr copy+destroy (2 threads, one object)",
    .numerator = "ref_ptr_copy_destroy/threads:2",
    .denominator = "shared_ptr_copy_destroy/threads:2",
    .target_at_most = 0,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool make_ref_vs_make_shared_declared = declare_ratio({
    .label = "make_ref+destroy / make_shared+destroy",
    .numerator = "make_ref_destroy/threads:1",
    .denominator = "make_shared_destroy/threads:1",
    .target_at_most = 0,
    .basis = time_basis::cpu_time,
});
[[maybe_unused]] const bool single_thread_vs_atomic_declared = declare_ratio({
    .label = "ref_ptr copy+destroy, single_thread_count / atomic_count",
    .numerator = "single_thread_ref_ptr_copy_destroy/threads:1",
    .denominator = "ref_ptr_copy_destroy/threads:1",
    .target_at_most = 0,
    .basis = time_basis::cpu_time,
});

}  // namespace
