// Tests for <modref/coroutine_task.h> under Wine: fire_and_forget and task<T> (results,
// exceptions, symmetric transfer, borrowed pins, misuse, a custom pool), refusals (pin failure,
// get() inside a coroutine), and where each pin goes (FreeLibraryWhenCallbackReturns or the
// releaser).
//
// Rendezvous use events; every wait is bounded (kBoundMs: see pool_test_support.h).
#include <modref/coroutine_task.h>
#include <modref/coroutine_awaitables.h>  // the tasks hop to the pool

#include <windows.h>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <stdexcept>
#include <string>
#include <system_error>
#include <utility>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "coroutine_test_support.h"
#include "pool_test_support.h"

namespace {

using modref_coro_test::add_on_pool;
using modref_coro_test::coro_seams;
using modref_coro_test::hop_and_signal;
using modref_pool_test::event;
using modref_pool_test::eventually;
using modref_pool_test::kBoundMs;
using modref_pool_test::settles_at_end;
using modref_pool_test::single_thread_pool;

// ---------------------------------------------------------------------------------------------
// fire_and_forget

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

// Every frame of an awaited chain is alive at once (each awaits the next), so what a frame carries
// is paid per link (docs/benchmarks.md, "Coroutines"): the promise carries no padding beyond its
// members' own, and the awaiter, a member of the awaiting frame, holds only the task's frame, its
// pin and the pin error (no slot for get()'s event).
TEST(Task, PromiseAndAwaiterCarryOnlyWhatTheyUse) {
  using promise = modref::task<int>::promise_type;
  using awaiter = decltype(std::declval<modref::task<int>>().operator co_await());
  constexpr std::size_t members =
      sizeof(modref::detail::coro_promise_base) + sizeof(modref::detail::task_result<int>) +
      sizeof(std::coroutine_handle<>) + sizeof(HANDLE) + sizeof(std::atomic<int>) + sizeof(bool);
  constexpr std::size_t packed =
      (members + alignof(promise) - 1) / alignof(promise) * alignof(promise);
  EXPECT_LE(sizeof(promise), packed);
  EXPECT_LE(sizeof(awaiter),
            sizeof(std::coroutine_handle<>) + sizeof(modref::module_ref) + alignof(void*));
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

}  // namespace
