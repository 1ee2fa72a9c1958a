// Tests for <modref/coroutine.h> under Wine: fire_and_forget and task<T> (results, exceptions,
// symmetric transfer, borrowed pins, misuse), the pool awaitables (completion, timeouts,
// cancellation, bad input, a custom pool), refusals (loader lock, process termination, pin
// failure, get() inside a coroutine), where each pin goes (FreeLibraryWhenCallbackReturns or the
// releaser), and a real DLL unloaded by FreeLibrary while its coroutines are suspended.
//
// Rendezvous use events; every wait is bounded (kBoundMs: see pool_test_support.h).
#include <modref/coroutine.h>

#include <windows.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <stdexcept>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "pool_test_support.h"

namespace {

using modref_pool_test::event;
using modref_pool_test::eventually;
using modref_pool_test::get_export;
using modref_pool_test::kBoundMs;
using modref_pool_test::settles_at_end;
using modref_pool_test::single_thread_pool;
using std::chrono::milliseconds;

auto& coro_seams() { return modref::detail::g_coro_test_seams; }

// ---------------------------------------------------------------------------------------------
// fire_and_forget

modref::fire_and_forget hop_and_signal(const event& done, std::atomic<DWORD>* ran_on,
                                       modref::threadpool_options options = {}) {
  co_await modref::resume_background(options);
  *ran_on = ::GetCurrentThreadId();
  done.set();
}

TEST(FireAndForget, RunsOnThePoolAndItsPinGoesWithTheCallback) {
  const settles_at_end settles;
  const long handed = coro_seams().handed_to_callback.load();
  event done;
  std::atomic<DWORD> ran_on{0};
  hop_and_signal(done, &ran_on);
  ASSERT_TRUE(done.wait());
  EXPECT_NE(ran_on.load(), ::GetCurrentThreadId());
  EXPECT_TRUE(eventually([&] { return coro_seams().handed_to_callback.load() == handed + 1; }))
      << "the frame ended inside a modref callback: its pin must go with "
         "FreeLibraryWhenCallbackReturns";
}

TEST(FireAndForget, FramePinsBeforeTheCallReturnsAndCountsAsActivity) {
  const settles_at_end settles;
  event go, done;
  std::atomic<DWORD> ran_on{0};
  const modref::activity_snapshot before = modref::activity();
  [](const event& go, const event& done, std::atomic<DWORD>* ran) -> modref::fire_and_forget {
    co_await modref::resume_on_signal(go.get());
    *ran = ::GetCurrentThreadId();
    done.set();
  }(go, done, &ran_on);
  EXPECT_EQ(modref::activity().live_contexts, before.live_contexts + 1) << "one live frame";
  EXPECT_EQ(modref::activity().live_pins, before.live_pins + 1) << "the frame's pin";
  EXPECT_FALSE(modref::can_unload_now());
  go.set();
  ASSERT_TRUE(done.wait());
}

TEST(FireAndForget, FinishingOnTheCallingThreadUsesTheReleaser) {
  const settles_at_end settles;
  const long released = coro_seams().handed_to_releaser.load();
  bool ran = false;
  [](bool* ran) -> modref::fire_and_forget {
    *ran = true;
    co_return;
  }(&ran);
  EXPECT_TRUE(ran);
  EXPECT_EQ(coro_seams().handed_to_releaser.load(), released + 1)
      << "outside a modref callback the pin goes to a releaser callback";
}

TEST(FireAndForget, PinFailureThrowsFromTheCallAndLeaksNothing) {
  const settles_at_end settles;
  modref::detail::g_test_seams.fail_next_pin.store(ERROR_NOT_ENOUGH_MEMORY);
  bool ran = false;
  try {
    [](bool* ran) -> modref::fire_and_forget {
      *ran = true;
      co_return;
    }(&ran);
    ADD_FAILURE() << "no exception";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), static_cast<int>(ERROR_NOT_ENOUGH_MEMORY));
    EXPECT_NE(std::string(e.what()).find("modref::fire_and_forget"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(ran) << "nothing may start when the pin fails";
}

TEST(FireAndForget, ReleaserFailureLeaksThePinRatherThanRisk) {
  const modref::activity_snapshot before = modref::activity();
  coro_seams().fail_next_releaser.store(1);
  []() -> modref::fire_and_forget { co_return; }();
  EXPECT_EQ(modref::activity().live_contexts, before.live_contexts) << "the frame is gone";
  // The pin was released from module_ref's count (release()) but never FreeLibrary'd: the module
  // (here the test EXE) keeps one more loader reference, which is the documented, safe outcome.
  EXPECT_EQ(modref::activity().live_pins, before.live_pins);
}

// A resumer that is not modref: a raw pool callback with no environment (the C++/WinRT shape).
struct foreign_resume {
  std::coroutine_handle<> frame;
  bool await_ready() const noexcept { return false; }
  void await_suspend(std::coroutine_handle<> h) {
    frame = h;
    ASSERT_TRUE(::TrySubmitThreadpoolCallback(&entry, this, nullptr));
  }
  void await_resume() const noexcept {}
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE, void* raw) noexcept {
    static_cast<foreign_resume*>(raw)->frame.resume();
  }
};

TEST(FireAndForget, FinishingUnderAForeignResumerHandsThePinToTheReleaser) {
  const settles_at_end settles;
  const long released = coro_seams().handed_to_releaser.load();
  const long handed = coro_seams().handed_to_callback.load();
  event done;
  [](const event& done) -> modref::fire_and_forget {
    co_await foreign_resume{};
    done.set();
  }(done);
  ASSERT_TRUE(done.wait());
  EXPECT_TRUE(eventually([&] { return coro_seams().handed_to_releaser.load() == released + 1; }))
      << "no modref callback to hand the pin to: the releaser takes it (design.md)";
  EXPECT_EQ(coro_seams().handed_to_callback.load(), handed);
}

// ---------------------------------------------------------------------------------------------
// task<T>

modref::task<int> add_on_pool(int a, int b) {
  co_await modref::resume_background();
  co_return a + b;
}

modref::task<void> throw_on_pool() {
  co_await modref::resume_background();
  throw std::runtime_error("from the task");
}

TEST(Task, GetReturnsTheValueAndLeavesTheTaskEmpty) {
  const settles_at_end settles;
  modref::task<int> t = add_on_pool(40, 2);
  EXPECT_TRUE(t.valid());
  EXPECT_EQ(t.get(), 42);
  EXPECT_FALSE(t.valid());
  try {
    (void)t.get();
    ADD_FAILURE() << "get() twice must throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_not_permitted);
    EXPECT_NE(std::string(e.what()).find("get() was already called"), std::string::npos);
  }
}

TEST(Task, GetRethrowsTheTasksException) {
  const settles_at_end settles;
  EXPECT_THROW(throw_on_pool().get(), std::runtime_error);
}

TEST(Task, ExceptionsPropagateThroughCoAwait) {
  const settles_at_end settles;
  auto outer = []() -> modref::task<std::string> {
    try {
      co_await throw_on_pool();
    } catch (const std::runtime_error& e) {
      co_return std::string("caught: ") + e.what();
    }
    co_return "no exception";
  };
  EXPECT_EQ(outer().get(), "caught: from the task");
}

TEST(Task, AwaitingAnEmptyTaskThrows) {
  const settles_at_end settles;
  auto outer = []() -> modref::task<bool> {
    modref::task<int> t = add_on_pool(1, 2);
    modref::task<int> moved = std::move(t);
    (void)co_await std::move(moved);
    try {
      (void)co_await std::move(t);  // moved-from
    } catch (const std::system_error& e) {
      co_return e.code() == std::errc::operation_not_permitted;
    }
    co_return false;
  };
  EXPECT_TRUE(outer().get());
}

TEST(Task, AChainOfChildrenBorrowsTheParentsPin) {
  const settles_at_end settles;
  auto child = [](int i) -> modref::task<long> { co_return i + modref::activity().live_pins; };
  auto parent = [child]() -> modref::task<long> {
    const long pins_in_parent = modref::activity().live_pins;
    long worst = 0;
    for (int i = 0; i < 1000; ++i) {
      const long seen = co_await child(i) - i;
      if (seen > worst) worst = seen;
    }
    co_return worst - pins_in_parent;
  };
  EXPECT_EQ(parent().get(), 0)
      << "a child awaited by a modref coroutine of its module takes no pin";
}

TEST(Task, UnstartedTaskIsDestroyedByItsOwnerWithoutRunning) {
  const settles_at_end settles;
  bool ran = false;
  {
    modref::task<void> t = [](bool* ran) -> modref::task<void> {
      *ran = true;
      co_return;
    }(&ran);
    EXPECT_EQ(modref::activity().live_contexts, settles.base().live_contexts + 1);
  }
  EXPECT_FALSE(ran);
}

TEST(Task, GetInsideACoroutineIsRefused) {
  const settles_at_end settles;
  event done;
  std::atomic<int> code{0};
  [](const event& done, std::atomic<int>* code) -> modref::fire_and_forget {
    co_await modref::resume_background();
    try {
      (void)add_on_pool(1, 1).get();
    } catch (const std::system_error& e) {
      *code = e.code().value();
    }
    done.set();
  }(done, &code);
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(code.load(), static_cast<int>(std::errc::resource_deadlock_would_occur));
}

TEST(Task, RunsOnACustomPool) {
  const settles_at_end settles;
  single_thread_pool pool;
  event done;
  std::atomic<DWORD> first{0}, second{0};
  hop_and_signal(done, &first, pool.options());
  ASSERT_TRUE(done.wait());
  event done2;
  hop_and_signal(done2, &second, pool.options());
  ASSERT_TRUE(done2.wait());
  EXPECT_EQ(first.load(), second.load()) << "a one-thread pool resumes both on its only thread";
}

// ---------------------------------------------------------------------------------------------
// resume_after / resume_on_signal

TEST(Awaitables, ResumeAfterCompletes) {
  const settles_at_end settles;
  auto t = []() -> modref::task<modref::wake_result> {
    co_return co_await modref::resume_after(milliseconds(20));
  };
  EXPECT_TRUE(static_cast<bool>(t().get()));
}

TEST(Awaitables, ResumeOnSignalSignalledAndTimedOut) {
  const settles_at_end settles;
  event signalled, never;
  signalled.set();
  auto t = [](HANDLE h, milliseconds timeout) -> modref::task<modref::wake_result> {
    co_return co_await modref::resume_on_signal(h, timeout);
  };
  EXPECT_EQ(t(signalled.get(), milliseconds(kBoundMs)).get().reason,
            modref::wake_reason::completed);
  EXPECT_EQ(t(never.get(), milliseconds(20)).get().reason, modref::wake_reason::timed_out);
}

TEST(Awaitables, StopRequestResumesAPendingTimerPromptly) {
  const settles_at_end settles;
  std::stop_source stop;
  event waiting, done;
  std::atomic<int> reason{-1};
  [](std::stop_token token, const event& waiting, const event& done,
     std::atomic<int>* reason) -> modref::fire_and_forget {
    waiting.set();
    // An hour: only the stop request can end this wait within the test's bound.
    modref::wake_result woke = co_await modref::resume_after(std::chrono::hours(1), token);
    *reason = static_cast<int>(woke.reason);
    done.set();
  }(stop.get_token(), waiting, done, &reason);
  ASSERT_TRUE(waiting.wait());
  EXPECT_FALSE(done.is_set());
  stop.request_stop();
  ASSERT_TRUE(done.wait()) << "cancellation must not wait out the timer";
  EXPECT_EQ(reason.load(), static_cast<int>(modref::wake_reason::cancelled));
}

// The forced interleaving behind the x86 leg's hang: the requesting thread is held inside the
// stop callback, after its last touch of the awaiter, until the cancelled coroutine has finished.
// The coroutine must be able to finish meanwhile: nothing on the pool thread may wait for the
// requester to leave the callback. (A pool thread that destroys the std::stop_callback while the
// callback runs on the requester waits for it inside ~stop_callback; libstdc++ 12 without a futex
// -- MinGW -- does that wait on a condition variable that can lose its wake-up, which hung the
// x86 leg once in seven runs.)
struct requester_hold {
  static inline HANDLE finished = nullptr;  // set by the coroutine as its last act
  static inline std::atomic<bool> saw_finish{false};
  static void hold() { saw_finish = ::WaitForSingleObject(finished, kBoundMs) == WAIT_OBJECT_0; }
};

TEST(Awaitables, StopRequestResumesWhileTheRequesterIsStillInsideTheStopCallback) {
  const settles_at_end settles;
  std::stop_source stop;
  event waiting, done;
  std::atomic<int> reason{-1};
  requester_hold::finished = done.get();
  requester_hold::saw_finish = false;
  [](std::stop_token token, const event& waiting, const event& done,
     std::atomic<int>* reason) -> modref::fire_and_forget {
    waiting.set();
    // An hour: only the stop request can end this wait within the test's bound.
    modref::wake_result woke = co_await modref::resume_after(std::chrono::hours(1), token);
    *reason = static_cast<int>(woke.reason);
    done.set();
  }(stop.get_token(), waiting, done, &reason);
  ASSERT_TRUE(waiting.wait());
  coro_seams().after_stop_callback.store(&requester_hold::hold);
  stop.request_stop();  // returns once hold() has seen the coroutine finish (or after the bound)
  coro_seams().after_stop_callback.store(nullptr);
  EXPECT_TRUE(requester_hold::saw_finish.load())
      << "the cancelled coroutine could not finish while the requester was inside the stop "
         "callback: the pool thread waited for the requester";
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(reason.load(), static_cast<int>(modref::wake_reason::cancelled));
}

TEST(Awaitables, StopRequestResumesAPendingSignalWait) {
  const settles_at_end settles;
  std::stop_source stop;
  event never;
  auto t = [](HANDLE h, std::stop_token token) -> modref::task<modref::wake_result> {
    co_return co_await modref::resume_on_signal(h, std::nullopt, token);
  };
  modref::task<modref::wake_result> waiting = t(never.get(), stop.get_token());
  std::thread stopper([&] {
    std::this_thread::sleep_for(
        milliseconds(50));  // lets get() suspend first (either order passes)
    stop.request_stop();
  });
  EXPECT_TRUE(waiting.get().cancelled());
  stopper.join();
}

TEST(Awaitables, AlreadyStoppedTokenDoesNotSuspend) {
  const settles_at_end settles;
  std::stop_source stop;
  stop.request_stop();
  auto t = [](std::stop_token token) -> modref::task<bool> {
    const DWORD before = ::GetCurrentThreadId();
    modref::wake_result woke = co_await modref::resume_after(std::chrono::hours(1), token);
    co_return woke.cancelled() && ::GetCurrentThreadId() == before;
  };
  EXPECT_TRUE(t(stop.get_token()).get());
}

TEST(Awaitables, ManyRacingStopsAndTimersAllResumeOnce) {
  const settles_at_end settles;
  for (int i = 0; i < 200; ++i) {
    std::stop_source stop;
    auto t = [](std::stop_token token) -> modref::task<modref::wake_result> {
      co_return co_await modref::resume_after(milliseconds(1), token);
    };
    modref::task<modref::wake_result> waiting = t(stop.get_token());
    std::thread stopper([&] { stop.request_stop(); });
    const modref::wake_result woke = waiting.get();
    stopper.join();
    EXPECT_TRUE(woke || woke.cancelled());
  }
}

TEST(Awaitables, BadInputIsRefusedWithAClearError) {
  const settles_at_end settles;
  auto t = []() -> modref::task<int> {
    int refused = 0;
    try {
      (void)co_await modref::resume_after(milliseconds(-1));
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::invalid_argument) ++refused;
    }
    try {
      (void)co_await modref::resume_on_signal(nullptr);
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::invalid_argument) ++refused;
    }
    try {
      (void)co_await modref::resume_on_signal(INVALID_HANDLE_VALUE);
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::invalid_argument) ++refused;
    }
    try {
      (void)co_await modref::resume_on_signal(::GetCurrentProcess(), milliseconds(-5));
    } catch (const std::system_error& e) {
      if (e.code() == std::errc::invalid_argument) ++refused;
    }
    co_return refused;
  };
  EXPECT_EQ(t().get(), 4);
}

TEST(Awaitables, DuringProcessTerminationEverythingIsRefused) {
  auto t = add_on_pool(1, 2);  // created before: its pin exists
  modref::detail::g_threadpool_test_seams.simulate_process_terminating.store(true);
  EXPECT_THROW(add_on_pool(1, 2), std::system_error) << "no new frame";
  try {
    (void)t.get();
    ADD_FAILURE() << "get() during termination";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::operation_not_permitted);
  }
  modref::detail::g_threadpool_test_seams.simulate_process_terminating.store(false);
  EXPECT_EQ(t.get(), 3) << "refused without being consumed";
}

// ---------------------------------------------------------------------------------------------
// A real DLL, unloaded while its coroutines are suspended

struct coroutine_dll {
  static constexpr const wchar_t* kName = L"coroutine_dll.dll";
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(kName).c_str());
};

TEST(CoroutineDll, SuspendedFrameKeepsTheDllLoadedAndUnloadsAfterIt) {
  coroutine_dll d;
  ASSERT_NE(d.dll, nullptr);
  auto start = get_export<DWORD (*)(HANDLE, HANDLE, volatile LONG*)>(d.dll, "coro_start_suspended");
  event go, done;
  volatile LONG out = 0;
  ASSERT_EQ(start(go.get(), done.get(), &out), 0u);
  ::FreeLibrary(d.dll);
  EXPECT_TRUE(modref_test::is_loaded(coroutine_dll::kName)) << "unloaded under a suspended frame";
  go.set();
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(out, 42);
  EXPECT_TRUE(modref_test::wait_until_unloaded(coroutine_dll::kName))
      << "the frame's pin was not given back";
}

TEST(CoroutineDll, FrameParkedByAForeignAwaitableKeepsTheDllLoaded) {
  // Nothing but the frame's own pin holds the DLL here: the awaitable is not modref, no pool
  // object names the DLL, and the host resumes the frame from its own thread (design.md,
  // "Coroutines resumed by others": the final release then goes to the releaser).
  coroutine_dll d;
  ASSERT_NE(d.dll, nullptr);
  auto start = get_export<DWORD (*)(void**, HANDLE, volatile LONG*)>(d.dll, "coro_start_parked");
  void* parked = nullptr;
  event done;
  volatile LONG out = 0;
  ASSERT_EQ(start(&parked, done.get(), &out), 0u);
  ASSERT_NE(parked, nullptr);
  ::FreeLibrary(d.dll);
  ASSERT_TRUE(modref_test::is_loaded(coroutine_dll::kName))
      << "unloaded under a suspended frame: resuming it now would run unmapped code";
  // This thread is the foreign resumer: after the frame's last destructor it still returns
  // through a few instructions of the DLL (the resume function's epilogue), and nothing tells the
  // releaser when it is out. That is the window design.md ("Coroutines resumed by others") says
  // only the resumer can close, so the resumer closes it here, as the docs tell foreign resumers
  // to: it holds a reference of its own across resume() and drops it once resume() has returned.
  // Without it this test crashed once in 16 runs on a loaded machine (page fault on execute).
  HMODULE resumer_ref = ::LoadLibraryW(modref_test::sibling(coroutine_dll::kName).c_str());
  ASSERT_NE(resumer_ref, nullptr);
  std::coroutine_handle<>::from_address(parked).resume();
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(out, 7);
  ::FreeLibrary(resumer_ref);
  EXPECT_TRUE(modref_test::wait_until_unloaded(coroutine_dll::kName))
      << "the frame's pin was not given back by the releaser";
}

TEST(CoroutineDll, PendingTimerAtUnloadWithAndWithoutCancellation) {
  for (const bool cancel : {false, true}) {
    SCOPED_TRACE(cancel ? "cancelled" : "timer elapses");
    coroutine_dll d;
    ASSERT_NE(d.dll, nullptr);
    auto start = get_export<DWORD (*)(DWORD, HANDLE, volatile LONG*)>(d.dll, "coro_start_sleeper");
    auto cancel_all = get_export<void (*)()>(d.dll, "coro_cancel_all");
    event done;
    volatile LONG out = 0;
    // Cancelled: an hour, so only cancellation can end it within the bound. Otherwise 300 ms.
    ASSERT_EQ(start(cancel ? 3'600'000 : 300, done.get(), &out), 0u);
    if (cancel) cancel_all();
    ::FreeLibrary(d.dll);
    ASSERT_TRUE(done.wait());
    EXPECT_EQ(out, cancel ? 2 : 1);
    EXPECT_TRUE(modref_test::wait_until_unloaded(coroutine_dll::kName));
  }
}

TEST(CoroutineDll, DllMainRefusesGetAndAwait) {
  coroutine_dll d;
  ASSERT_NE(d.dll, nullptr);
  auto get_refused = get_export<LONG (*)()>(d.dll, "coro_dllmain_get_refused");
  auto await_refused = get_export<LONG (*)()>(d.dll, "coro_dllmain_await_refused");
  EXPECT_EQ(get_refused(), static_cast<LONG>(std::errc::resource_deadlock_would_occur));
  EXPECT_EQ(await_refused(), static_cast<LONG>(std::errc::resource_deadlock_would_occur));
  ::FreeLibrary(d.dll);
  EXPECT_TRUE(modref_test::wait_until_unloaded(coroutine_dll::kName))
      << "the frames created in DllMain gave their pins back";
}

}  // namespace
