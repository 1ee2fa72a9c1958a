// Benchmarks for <modref/coroutine.h> against raw coroutine types written the same way (run under
// Wine here: compare the printed ratios, not absolute times; see docs/benchmarks.md).
//
//   - resume_background round trip: a fire-and-forget coroutine hops to the default pool and
//     signals the benchmark thread. Raw: a promise with no pin and an awaiter that submits with
//     TrySubmitThreadpoolCallback(..., nullptr) and calls resume() (the C++/WinRT pattern).
//     modref: modref::fire_and_forget (pinned frame, pin handed to FreeLibraryWhenCallbackReturns)
//     and modref::resume_background() (callback environment naming the module).
//   - a chain of 1,000 nested awaited tasks (each awaits the next, symmetric transfer both ways),
//     run to completion from the benchmark thread. Raw: a minimal lazy task with no pin. modref:
//     modref::task<int>, started with get(); the 1,000 children borrow the parent's pin.
#include <windows.h>

#include <coroutine>
#include <exception>
#include <utility>

#include <modref/coroutine.h>

#include "ratio_report.h"

namespace {

// ---------------------------------------------------------------------------------------------
// Raw types: what a coroutine library without unload safety writes.

struct raw_fire_and_forget {
  struct promise_type {
    raw_fire_and_forget get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() noexcept { return {}; }
    std::suspend_never final_suspend() noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

struct raw_resume_background {
  std::coroutine_handle<> frame;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    frame = h;
    if (!::TrySubmitThreadpoolCallback(&entry, this, nullptr)) std::terminate();
  }
  void await_resume() const noexcept {}
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE, void* raw) noexcept {
    static_cast<raw_resume_background*>(raw)->frame.resume();
  }
};

// A minimal lazy task<int> with symmetric transfer and no pin (cppcoro's shape).
class raw_task {
 public:
  struct promise_type {
    int value = 0;
    std::coroutine_handle<> continuation;
    raw_task get_return_object() noexcept {
      return raw_task(std::coroutine_handle<promise_type>::from_promise(*this));
    }
    std::suspend_always initial_suspend() noexcept { return {}; }
    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<promise_type> h) noexcept {
        std::coroutine_handle<> next = h.promise().continuation;
        return next ? next : std::noop_coroutine();
      }
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() noexcept { return {}; }
    void return_value(int v) noexcept { value = v; }
    void unhandled_exception() noexcept { std::terminate(); }
  };

  explicit raw_task(std::coroutine_handle<promise_type> h) noexcept : frame_(h) {}
  raw_task(raw_task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  raw_task(const raw_task&) = delete;
  raw_task& operator=(const raw_task&) = delete;
  raw_task& operator=(raw_task&&) = delete;
  ~raw_task() {
    if (frame_) frame_.destroy();
  }

  auto operator co_await() && noexcept {
    struct awaiter {
      std::coroutine_handle<promise_type> frame;
      bool await_ready() const noexcept { return false; }
      std::coroutine_handle<> await_suspend(std::coroutine_handle<> awaiting) noexcept {
        frame.promise().continuation = awaiting;
        return frame;
      }
      int await_resume() const noexcept { return frame.promise().value; }
    };
    return awaiter{frame_};
  }
  // Runs a task that completes without suspending on a pool (the chain below).
  int run_synchronously() {
    frame_.resume();
    return frame_.promise().value;
  }

 private:
  std::coroutine_handle<promise_type> frame_;
};

// ---------------------------------------------------------------------------------------------
// resume_background round trip

raw_fire_and_forget raw_hop(HANDLE done) {
  co_await raw_resume_background{};
  ::SetEvent(done);
}

modref::fire_and_forget modref_hop(HANDLE done) {
  co_await modref::resume_background();
  ::SetEvent(done);
}

void raw_resume_background_round_trip(benchmark::State& state) {
  HANDLE done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  for (auto _ : state) {
    raw_hop(done);
    ::WaitForSingleObject(done, INFINITE);
  }
  ::CloseHandle(done);
}
BENCHMARK(raw_resume_background_round_trip)->UseRealTime();

void modref_resume_background_round_trip(benchmark::State& state) {
  HANDLE done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  for (auto _ : state) {
    modref_hop(done);
    ::WaitForSingleObject(done, INFINITE);
  }
  ::CloseHandle(done);
}
BENCHMARK(modref_resume_background_round_trip)->UseRealTime();

// ---------------------------------------------------------------------------------------------
// A chain of 1,000 awaited tasks

constexpr int kChain = 1000;

raw_task raw_chain(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await raw_chain(n - 1);
}

modref::task<int> modref_chain(int n) {
  if (n == 0) co_return 0;
  co_return 1 + co_await modref_chain(n - 1);
}

void raw_task_chain_1000(benchmark::State& state) {
  for (auto _ : state) {
    const int depth = raw_chain(kChain).run_synchronously();
    if (depth != kChain) state.SkipWithError("raw chain returned the wrong depth");
  }
}
BENCHMARK(raw_task_chain_1000);

void modref_task_chain_1000(benchmark::State& state) {
  for (auto _ : state) {
    const int depth = modref_chain(kChain).get();
    if (depth != kChain) state.SkipWithError("modref chain returned the wrong depth");
  }
}
BENCHMARK(modref_task_chain_1000);

// The same with one task: what get() costs once per chain (the top frame's pin, its release
// through the releaser callback), separated from the per-frame cost.
void raw_task_single(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(raw_chain(0).run_synchronously());
}
BENCHMARK(raw_task_single);

void modref_task_single(benchmark::State& state) {
  for (auto _ : state) benchmark::DoNotOptimize(modref_chain(0).get());
}
BENCHMARK(modref_task_single);

using modref_bench::declare_ratio;
using modref_bench::time_basis;

[[maybe_unused]] const bool background_declared = declare_ratio({
    .label = "co_await modref::resume_background() round trip / raw null-environment submit",
    .numerator = "modref_resume_background_round_trip/real_time",
    .denominator = "raw_resume_background_round_trip/real_time",
    .target_at_most = 1.05,
    .basis = time_basis::real_time,
});

[[maybe_unused]] const bool chain_declared = declare_ratio({
    .label = "chain of 1,000 awaited modref::task<int> (get) / unpinned minimal task",
    .numerator = "modref_task_chain_1000",
    .denominator = "raw_task_chain_1000",
    .target_at_most = 1.10,
    .basis = time_basis::cpu_time,
});

[[maybe_unused]] const bool single_declared = declare_ratio({
    .label = "one modref::task<int> created and run with get() / unpinned minimal task",
    .numerator = "modref_task_single",
    .denominator = "raw_task_single",
    .target_at_most = 0,  // informative: the fixed cost inside the chain pair
    .basis = time_basis::cpu_time,
});

}  // namespace
