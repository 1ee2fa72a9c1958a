// Tests for <modref/coroutine_awaitables.h> under Wine: resume_after / resume_on_signal
// (completion, timeouts, cancellation and its forced interleavings, bad input) and the refusals
// during process termination.
//
// Rendezvous use events; every wait is bounded (kBoundMs: see pool_test_support.h).
#include <modref/coroutine_awaitables.h>
#include <modref/coroutine_task.h>  // the awaits run inside tasks

#include <windows.h>

#include <atomic>
#include <chrono>
#include <stop_token>
#include <system_error>
#include <thread>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "coroutine_test_support.h"
#include "pool_test_support.h"

namespace {

using modref_coro_test::add_on_pool;
using modref_coro_test::coro_seams;
using modref_pool_test::event;
using modref_pool_test::kBoundMs;
using modref_pool_test::settles_at_end;
using std::chrono::milliseconds;

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

// Sets `waiting`, then waits an hour on a timer (only the stop request can end that wait within
// the test's bound), records why it woke in `*reason` and sets `done`.
modref::fire_and_forget wait_an_hour(std::stop_token token, const event& waiting, const event& done,
                                     std::atomic<int>* reason) {
  waiting.set();
  modref::wake_result woke = co_await modref::resume_after(std::chrono::hours(1), token);
  *reason = static_cast<int>(woke.reason);
  done.set();
}

TEST(Awaitables, StopRequestResumesAPendingTimerPromptly) {
  const settles_at_end settles;
  std::stop_source stop;
  event waiting, done;
  std::atomic<int> reason{-1};
  wait_an_hour(stop.get_token(), waiting, done, &reason);
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
  wait_an_hour(stop.get_token(), waiting, done, &reason);
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

}  // namespace
