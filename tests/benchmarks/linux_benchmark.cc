// Benchmarks for <modref/module_ref.h> and <modref/thread.h> on Linux/glibc against the raw
// baselines, all run from code in a .so (linux_operations_so.cc):
//   - start + join: modref::thread vs std::thread (target <= 1.05x) and vs raw pthread_create +
//     pthread_join from the program (informative);
//   - pin + release: module_ref::pin_current() + reset() vs raw dladdr + dlopen(RTLD_NOLOAD) +
//     dlclose (informative: modref adds dladdr1's link_map and the dlinfo identity check).
#include <pthread.h>

#include <benchmark/benchmark.h>

#include "ratio_report.h"

extern "C" {
int linux_bench_modref_thread_start_join();
int linux_bench_std_thread_start_join();
int linux_bench_pin_current_then_reset();
int linux_bench_raw_dladdr_dlopen_dlclose();
}

namespace {

void run(benchmark::State& state, int (*operation)()) {
  for (auto _ : state) {
    if (operation() != 0) {
      state.SkipWithError("operation failed");
      break;
    }
  }
}

void modref_thread_start_join(benchmark::State& state) {
  run(state, &linux_bench_modref_thread_start_join);
}
BENCHMARK(modref_thread_start_join)->UseRealTime();

void std_thread_start_join(benchmark::State& state) {
  run(state, &linux_bench_std_thread_start_join);
}
BENCHMARK(std_thread_start_join)->UseRealTime();

void* raw_noop(void*) { return nullptr; }
void raw_pthread_create_join(benchmark::State& state) {
  for (auto _ : state) {
    pthread_t t{};
    ::pthread_create(&t, nullptr, &raw_noop, nullptr);
    ::pthread_join(t, nullptr);
  }
}
BENCHMARK(raw_pthread_create_join)->UseRealTime();

void modref_pin_current_reset(benchmark::State& state) {
  run(state, &linux_bench_pin_current_then_reset);
}
BENCHMARK(modref_pin_current_reset);

void raw_dladdr_dlopen_dlclose(benchmark::State& state) {
  run(state, &linux_bench_raw_dladdr_dlopen_dlclose);
}
BENCHMARK(raw_dladdr_dlopen_dlclose);

using modref_bench::declare_ratio;
using modref_bench::time_basis;

[[maybe_unused]] const bool thread_declared = declare_ratio({
    .label = "modref::thread start+join / std::thread start+join (from a .so)",
    .numerator = "modref_thread_start_join/real_time",
    .denominator = "std_thread_start_join/real_time",
    .target_at_most = 1.05,
    .basis = time_basis::real_time,
});
[[maybe_unused]] const bool raw_thread_declared = declare_ratio({
    .label = "modref::thread start+join / raw pthread_create+join",
    .numerator = "modref_thread_start_join/real_time",
    .denominator = "raw_pthread_create_join/real_time",
    .target_at_most = 0,
    .basis = time_basis::real_time,
});
[[maybe_unused]] const bool pin_declared = declare_ratio({
    .label = "module_ref::pin_current+reset / raw dladdr+dlopen(RTLD_NOLOAD)+dlclose (in a .so)",
    .numerator = "modref_pin_current_reset",
    .denominator = "raw_dladdr_dlopen_dlclose",
    .target_at_most = 0,
    .basis = time_basis::cpu_time,
});

}  // namespace
