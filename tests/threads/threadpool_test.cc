// Tests for <modref/threadpool.h> under Wine: submit and the three pool objects, their inputs and
// failure paths (through MODREF_TEST_SEAMS), the destruction policies, the loader lock, process
// termination (simulated here, real in a child process), and real DLLs unloaded by FreeLibrary
// while their callbacks are still queued or blocked.
//
// Rendezvous use events. The few fixed waits assert that something does NOT happen (a destructor
// still waiting, a disarmed timer not firing); each is commented. Every wait is bounded.
#include <modref/threadpool.h>

#include <windows.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "pool_test_support.h"

namespace {

using modref::on_destroy;
using modref_pool_test::activity_is;
using modref_pool_test::destroy_on_helper;
using modref_pool_test::destroy_probe;
using modref_pool_test::event;
using modref_pool_test::eventually;
using modref_pool_test::get_export;
using modref_pool_test::kBoundMs;
using modref_pool_test::kQuietMs;
using modref_pool_test::seams;
using modref_pool_test::settles_at_end;
using modref_pool_test::single_thread_pool;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// modref::submit

TEST(Submit, RunsOnThePoolAndDestroysTheCallableThere) {
  const modref::activity_snapshot base = modref::activity();
  event gate, done;
  std::atomic<DWORD> ran_on{0};
  std::atomic<DWORD> destroyed_on{0};
  ASSERT_TRUE(modref::submit([&, probe = destroy_probe(&destroyed_on)] {
                gate.wait();
                ran_on = ::GetCurrentThreadId();
                done.set();
              }).ok());
  // Queued: the context and the pin are alive until the callback is over.
  EXPECT_EQ(modref::activity().live_contexts, base.live_contexts + 1);
  EXPECT_EQ(modref::activity().live_pins, base.live_pins + 1);
  gate.set();
  ASSERT_TRUE(done.wait());
  ASSERT_TRUE(eventually([&] { return activity_is(base); })) << "context or pin leaked";
  EXPECT_NE(ran_on.load(), ::GetCurrentThreadId());
  EXPECT_EQ(destroyed_on.load(), ran_on.load()) << "the callable must die on the pool thread";
}

TEST(Submit, RunsInTheGivenPool) {
  const settles_at_end settles;
  single_thread_pool pool;
  event done;
  std::atomic<DWORD> first{0}, second{0};
  ASSERT_TRUE(modref::submit(pool.options(), [&] { first = ::GetCurrentThreadId(); }).ok());
  ASSERT_TRUE(modref::submit(pool.options(), [&] {
                second = ::GetCurrentThreadId();
                done.set();
              }).ok());
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(first.load(), second.load()) << "a one-thread pool runs both on its only thread";
}

TEST(Submit, AcceptsFunctionPointersAndStdFunction) {
  const settles_at_end settles;
  static event done;  // reached from a captureless function
  ::ResetEvent(done.get());
  void (*fn)() = [] { done.set(); };
  ASSERT_TRUE(modref::submit(fn).ok());
  ASSERT_TRUE(done.wait());
  ::ResetEvent(done.get());
  ASSERT_TRUE(modref::submit(std::function<void()>([] { done.set(); })).ok());
  ASSERT_TRUE(done.wait());
}

TEST(Submit, EmptyCallableIsInvalidArgumentAndPinsNothing) {
  const modref::activity_snapshot base = modref::activity();
  void (*null_fn)() = nullptr;
  for (const absl::Status& status :
       {modref::submit(null_fn), modref::submit(std::function<void()>()),
        modref::submit(absl::AnyInvocable<void()>())}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
    EXPECT_NE(status.message().find("empty callable"), absl::string_view::npos) << status;
  }
  EXPECT_TRUE(activity_is(base));
}

TEST(Submit, PinFailureReturnsTheWin32ErrorAndGivesTheCallableBack) {
  const modref::activity_snapshot base = modref::activity();
  std::atomic<DWORD> destroyed_on{0};
  std::atomic<bool> ran{false};
  modref::detail::g_test_seams.fail_next_pin = ERROR_NOT_ENOUGH_MEMORY;
  const absl::Status status =
      modref::submit([&ran, probe = destroy_probe(&destroyed_on)] { ran = true; });
  EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_NOT_ENOUGH_MEMORY));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(modref::win32_error_code(status), std::optional<DWORD>(ERROR_NOT_ENOUGH_MEMORY));
  EXPECT_EQ(destroyed_on.load(), ::GetCurrentThreadId());
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(activity_is(base));
}

TEST(Submit, QueueFailureGivesEverythingBackAndKeepsGetLastError) {
  const modref::activity_snapshot base = modref::activity();
  std::atomic<DWORD> destroyed_on{0};
  std::atomic<bool> ran{false};
  seams().fail_next_submit = ERROR_NO_SYSTEM_RESOURCES;
  const absl::Status status =
      modref::submit([&ran, probe = destroy_probe(&destroyed_on)] { ran = true; });
  EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_NO_SYSTEM_RESOURCES));
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_EQ(modref::win32_error_code(status), std::optional<DWORD>(ERROR_NO_SYSTEM_RESOURCES));
  EXPECT_NE(status.message().find("TrySubmitThreadpoolCallback"), absl::string_view::npos);
  EXPECT_EQ(destroyed_on.load(), ::GetCurrentThreadId()) << "given back on the caller's thread";
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(activity_is(base)) << "no context, no pin left behind";
}

using SubmitDeathTest = ::testing::Test;
TEST(SubmitDeathTest, AnExceptionEscapingTheCallableTerminates) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        (void)modref::submit([] { throw 42; });
        ::Sleep(kBoundMs);  // the pool thread ends the process long before this returns
      },
      "");
}

// ---------------------------------------------------------------------------------------------
// threadpool_work

TEST(ThreadpoolWork, RunsOncePerSubmitAndWaitsForCallbacks) {
  const modref::activity_snapshot base = modref::activity();
  std::atomic<int> calls{0};
  {
    auto work = modref::threadpool_work<on_destroy::wait>::create([&calls] { ++calls; });
    ASSERT_TRUE(work.ok()) << work.status();
    EXPECT_TRUE(*work);
    EXPECT_NE(work->get(), nullptr);
    EXPECT_EQ(modref::activity().live_contexts, base.live_contexts + 1);
    EXPECT_EQ(modref::activity().live_pins, base.live_pins + 1) << "the object pins its module";
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(work->submit().ok());
    ASSERT_TRUE(work->wait_for_callbacks().ok());
    EXPECT_EQ(calls.load(), 3);
  }
  EXPECT_TRUE(activity_is(base)) << "wait policy: everything released by the destructor";
}

TEST(ThreadpoolWork, ThrowingConstructorAndMoves) {
  const settles_at_end settles;
  std::atomic<int> calls{0};
  modref::threadpool_work<on_destroy::wait> a([&calls] { ++calls; });
  ASSERT_TRUE(a);
  modref::threadpool_work<on_destroy::wait> b(std::move(a));
  EXPECT_FALSE(a);  // NOLINT: moved-from is empty
  ASSERT_TRUE(b.submit().ok());
  ASSERT_TRUE(b.wait_for_callbacks().ok());
  swap(a, b);
  EXPECT_TRUE(a);
  ::SetLastError(4242);
  a.reset();
  EXPECT_EQ(::GetLastError(), 4242u) << "ending a pool object must keep GetLastError()";
  EXPECT_FALSE(a);
  EXPECT_EQ(calls.load(), 1);

  void (*null_fn)() = nullptr;
  try {
    modref::threadpool_work<on_destroy::wait> bad(null_fn);
    ADD_FAILURE() << "no exception for an empty callable";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::make_error_code(std::errc::invalid_argument));
  }
  seams().fail_next_create = ERROR_NO_SYSTEM_RESOURCES;
  try {
    modref::threadpool_work<on_destroy::wait> bad([] {});
    ADD_FAILURE() << "no exception for an injected creation failure";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ERROR_NO_SYSTEM_RESOURCES);
    EXPECT_EQ(e.code().category(), std::system_category());
  }
}

TEST(ThreadpoolWork, EmptyCallableAndEmptyObject) {
  const modref::activity_snapshot base = modref::activity();
  void (*null_fn)() = nullptr;
  auto work = modref::threadpool_work<on_destroy::cancel>::create(null_fn);
  EXPECT_EQ(work.status().code(), absl::StatusCode::kInvalidArgument);
  auto from_function = modref::threadpool_work<on_destroy::cancel>::create(std::function<void()>());
  EXPECT_EQ(from_function.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(activity_is(base));

  modref::threadpool_work<on_destroy::cancel> empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.submit().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty.wait_for_callbacks().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty.cancel_and_wait().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(ThreadpoolWork, CreationFailureGivesEverythingBackAndKeepsGetLastError) {
  const modref::activity_snapshot base = modref::activity();
  std::atomic<DWORD> destroyed_on{0};
  seams().fail_next_create = ERROR_NO_SYSTEM_RESOURCES;
  auto work = modref::threadpool_work<on_destroy::wait>::create(
      [probe = std::make_shared<destroy_probe>(&destroyed_on)] {});
  EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_NO_SYSTEM_RESOURCES));
  EXPECT_EQ(modref::win32_error_code(work.status()),
            std::optional<DWORD>(ERROR_NO_SYSTEM_RESOURCES));
  EXPECT_NE(work.status().message().find("CreateThreadpoolWork"), absl::string_view::npos);
  EXPECT_EQ(destroyed_on.load(), ::GetCurrentThreadId());
  EXPECT_TRUE(activity_is(base));

  modref::detail::g_test_seams.fail_next_pin = ERROR_NOT_ENOUGH_MEMORY;
  auto unpinned = modref::threadpool_timer<on_destroy::wait>::create([] {});
  EXPECT_EQ(modref::win32_error_code(unpinned.status()),
            std::optional<DWORD>(ERROR_NOT_ENOUGH_MEMORY));
  EXPECT_TRUE(activity_is(base));
}

TEST(ThreadpoolWork, WaitForCallbacksFromItsOwnCallbackIsRefused) {
  const settles_at_end settles;
  event done;
  absl::Status seen;
  modref::threadpool_work<on_destroy::wait>* self = nullptr;
  modref::threadpool_work<on_destroy::wait> work([&] {
    seen = self->wait_for_callbacks();
    done.set();
  });
  self = &work;
  ASSERT_TRUE(work.submit().ok());
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(seen.code(), absl::StatusCode::kFailedPrecondition) << seen;
  EXPECT_NE(seen.message().find("wait for itself"), absl::string_view::npos) << seen;
}

TEST(ThreadpoolWork, CancelAndWaitDropsQueuedCalls) {
  const settles_at_end settles;
  single_thread_pool pool;
  event gate, running;
  std::atomic<int> calls{0};
  modref::threadpool_work<on_destroy::wait> work(pool.options(), [&calls] { ++calls; });
  pool.block(gate, running);
  ASSERT_TRUE(work.submit().ok());
  ASSERT_TRUE(work.submit().ok());  // both queued behind the blocker
  ASSERT_TRUE(work.cancel_and_wait().ok());
  gate.set();
  event marker;
  ASSERT_TRUE(modref::submit(pool.options(), [&marker] { marker.set(); }).ok());
  ASSERT_TRUE(marker.wait());  // the pool's only thread got past where the calls were queued
  EXPECT_EQ(calls.load(), 0);
}

// ---------------------------------------------------------------------------------------------
// Destruction policies

TEST(OnDestroyWait, WaitsForTheRunningCallback) {
  const settles_at_end settles;
  event gate, running, returned;
  std::atomic<bool> finished{false};
  auto work = std::make_unique<modref::threadpool_work<on_destroy::wait>>([&] {
    running.set();
    gate.wait();
    finished = true;
  });
  ASSERT_TRUE(work->submit().ok());
  ASSERT_TRUE(running.wait());
  std::thread helper = destroy_on_helper([&] { work.reset(); }, returned);
  EXPECT_FALSE(returned.wait(kQuietMs)) << "the destructor returned while its callback ran";
  gate.set();
  EXPECT_TRUE(returned.wait());
  EXPECT_TRUE(finished.load()) << "returned before the callback finished";
  helper.join();
}

TEST(OnDestroyWait, LetsQueuedCallbacksRunFirst) {
  const modref::activity_snapshot base = modref::activity();
  single_thread_pool pool;
  event gate, running, returned;
  std::atomic<int> calls{0};
  std::atomic<int> calls_at_return{-1};
  auto work = std::make_unique<modref::threadpool_work<on_destroy::wait>>(pool.options(),
                                                                          [&calls] { ++calls; });
  pool.block(gate, running);
  ASSERT_TRUE(work->submit().ok());
  ASSERT_TRUE(work->submit().ok());  // queued behind the blocker
  std::thread helper = destroy_on_helper(
      [&] {
        work.reset();
        calls_at_return = calls.load();
      },
      returned);
  EXPECT_FALSE(returned.wait(kQuietMs)) << "the destructor did not wait for queued calls";
  gate.set();
  ASSERT_TRUE(returned.wait());
  helper.join();
  EXPECT_EQ(calls_at_return.load(), 2);
  EXPECT_TRUE(activity_is(base));
}

TEST(OnDestroyCancel, DropsQueuedCallbacks) {
  const settles_at_end settles;
  single_thread_pool pool;
  event gate, running;
  std::atomic<int> calls{0};
  {
    modref::threadpool_work<on_destroy::cancel> work(pool.options(), [&calls] { ++calls; });
    pool.block(gate, running);
    ASSERT_TRUE(work.submit().ok());
    ASSERT_TRUE(work.submit().ok());
  }  // nothing of this object runs: the destructor drops both calls and returns at once
  gate.set();
  event marker;
  ASSERT_TRUE(modref::submit(pool.options(), [&marker] { marker.set(); }).ok());
  ASSERT_TRUE(marker.wait());
  EXPECT_EQ(calls.load(), 0);
}

TEST(OnDestroyCancel, WaitsForTheRunningCallback) {
  event gate, running, returned;
  std::atomic<bool> finished{false};
  auto timer = std::make_unique<modref::threadpool_timer<on_destroy::cancel>>([&] {
    running.set();
    gate.wait();
    finished = true;
  });
  ASSERT_TRUE(timer->set(milliseconds(0)).ok());
  ASSERT_TRUE(running.wait());
  std::thread helper = destroy_on_helper([&] { timer.reset(); }, returned);
  EXPECT_FALSE(returned.wait(kQuietMs)) << "the destructor returned while its callback ran";
  gate.set();
  EXPECT_TRUE(returned.wait());
  EXPECT_TRUE(finished.load());
  helper.join();
}

TEST(OnDestroyDontWait, ReturnsWhileACallbackIsBlockedAndQueuedOnesStillRun) {
  const modref::activity_snapshot base = modref::activity();
  single_thread_pool pool;
  event gate, running, returned, all_done;
  std::atomic<int> calls{0};
  auto work = std::make_unique<modref::threadpool_work<on_destroy::dont_wait>>(pool.options(), [&] {
    if (++calls == 1) {
      running.set();
      gate.wait();
    }
    if (calls.load() == 3) all_done.set();
  });
  ASSERT_TRUE(work->submit().ok());
  ASSERT_TRUE(running.wait());
  ASSERT_TRUE(work->submit().ok());
  ASSERT_TRUE(work->submit().ok());
  std::thread helper = destroy_on_helper([&] { work.reset(); }, returned);
  EXPECT_TRUE(returned.wait()) << "dont_wait must not wait for the blocked callback";
  helper.join();
  EXPECT_FALSE(all_done.is_set());
  EXPECT_EQ(modref::activity().live_contexts, base.live_contexts + 1) << "the state is still alive";
  gate.set();
  ASSERT_TRUE(all_done.wait()) << "queued calls still run after a dont_wait destructor";
  ASSERT_TRUE(eventually([&] { return activity_is(base); })) << "the closing callback leaked";
}

TEST(OnDestroyWait, FromItsOwnCallbackClosesWithoutDeadlock) {
  const modref::activity_snapshot base = modref::activity();
  const long degraded = seams().closed_without_waiting.load();
  event done;
  std::atomic<DWORD> destroyed_on{0};
  std::atomic<DWORD> ran_on{0};
  auto* holder = new std::optional<modref::threadpool_work<on_destroy::wait>>();
  holder->emplace([&, holder, probe = std::make_shared<destroy_probe>(&destroyed_on)] {
    ran_on = ::GetCurrentThreadId();
    delete holder;  // would wait for this very callback: must close without waiting instead
    done.set();
  });
  ASSERT_TRUE((*holder)->submit().ok());
  ASSERT_TRUE(done.wait()) << "the destructor deadlocked in its own callback";
  ASSERT_TRUE(eventually([&] { return activity_is(base); })) << "the closing callback leaked";
  EXPECT_EQ(seams().closed_without_waiting.load(), degraded + 1);
  EXPECT_NE(destroyed_on.load(), 0u);
}

// The destructor runs inside another DLL's DllMain(DLL_PROCESS_DETACH), that is under the loader
// lock, while one callback runs and two are queued. wait degrades: queued calls are dropped, the
// running one is not waited for, and a closing callback frees the state afterwards.
struct loader_lock_victim {
  std::optional<modref::threadpool_work<on_destroy::wait>> work;
  bool loader_lock_seen = false;
};
void destroy_victim(void* raw) {
  auto* victim = static_cast<loader_lock_victim*>(raw);
  victim->loader_lock_seen = modref::loader_lock_held_by_this_thread();
  victim->work.reset();
}

TEST(OnDestroyUnderLoaderLock, DoesNotWaitAndDropsQueuedCallbacks) {
  const modref::activity_snapshot base = modref::activity();
  const long degraded = seams().closed_without_waiting.load();
  single_thread_pool pool;
  event gate, running, freed;
  std::atomic<int> calls{0};
  loader_lock_victim victim;
  victim.work.emplace(pool.options(), [&] {
    if (++calls == 1) running.set();
    gate.wait();
  });
  ASSERT_TRUE(victim.work->submit().ok());
  ASSERT_TRUE(running.wait());
  ASSERT_TRUE(victim.work->submit().ok());
  ASSERT_TRUE(victim.work->submit().ok());

  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"threadpool_loader_lock_dll.dll").c_str());
  ASSERT_NE(dll, nullptr);
  auto set_victim = reinterpret_cast<void (*)(void (*)(void*), void*)>(
      reinterpret_cast<void*>(::GetProcAddress(dll, "set_victim")));
  ASSERT_NE(set_victim, nullptr);
  set_victim(&destroy_victim, &victim);
  // FreeLibrary on a helper, so that a deadlock fails the test instead of hanging it.
  std::thread helper = destroy_on_helper([dll] { ::FreeLibrary(dll); }, freed);
  const bool returned = freed.wait();
  gate.set();
  if (!returned) {
    helper.detach();
    FAIL() << "the destructor waited under the loader lock";
  }
  helper.join();
  EXPECT_TRUE(victim.loader_lock_seen) << "the destructor did not run under the loader lock";
  EXPECT_FALSE(victim.work.has_value());
  EXPECT_EQ(seams().closed_without_waiting.load(), degraded + 1);
  ASSERT_TRUE(eventually([&] { return activity_is(base); })) << "the closing callback leaked";
  EXPECT_EQ(calls.load(), 1) << "queued calls must be dropped under the loader lock";
}

// ---------------------------------------------------------------------------------------------
// threadpool_timer

TEST(ThreadpoolTimer, OneShotFiresOnce) {
  const settles_at_end settles;
  event fired;
  std::atomic<int> calls{0};
  modref::threadpool_timer<on_destroy::wait> timer([&] {
    ++calls;
    fired.set();
  });
  EXPECT_FALSE(timer.is_set());
  ASSERT_TRUE(timer.set(milliseconds(1)).ok());
  ASSERT_TRUE(fired.wait());
  ASSERT_TRUE(timer.wait_for_callbacks().ok());
  ::Sleep(kQuietMs);  // a one-shot timer that fired again would show up in this window
  EXPECT_EQ(calls.load(), 1);
}

TEST(ThreadpoolTimer, PeriodicFiresUntilDestroyed) {
  const modref::activity_snapshot base = modref::activity();
  event three;
  std::atomic<int> calls{0};
  {
    modref::threadpool_timer<on_destroy::cancel> timer([&] {
      if (++calls == 3) three.set();
    });
    ASSERT_TRUE(timer.set(milliseconds(0), milliseconds(1)).ok());
    EXPECT_TRUE(timer.is_set());
    ASSERT_TRUE(three.wait());
  }
  EXPECT_TRUE(activity_is(base));
  const int at_destruction = calls.load();
  // A 1 ms timer still alive would fire many times while we watch.
  ::Sleep(kQuietMs);
  EXPECT_EQ(calls.load(), at_destruction);
}

// A one-shot timer that re-arms itself from its own callback, destroyed while it does so: the
// close must not leave it armed (Windows documents that callbacks may run after
// CloseThreadpoolTimer unless the timer was disarmed and waited for, and such a firing would run a
// destroyed callable), and set() from a callback that starts during the close is refused.
// Honest limit: under Wine 8 this test also passes with the protection removed (Wine's
// CloseThreadpoolTimer drops a pending expiry), so here it guards against regressions that crash
// or hang, not against the Windows-only window.
TEST(ThreadpoolTimer, SelfReArmingTimerIsQuiescedByTheDestructor) {
  std::atomic<int> calls{0};
  std::atomic<int> refused{0};
  event running;
  {
    // A raw pointer that stays valid while the destructor runs (unique_ptr::reset would null it
    // before destroying, and the callback must reach the object being destroyed).
    std::atomic<modref::threadpool_timer<on_destroy::wait>*> self{nullptr};
    auto* timer = new modref::threadpool_timer<on_destroy::wait>([&] {
      ++calls;
      running.set();
      if (!self.load()->set(milliseconds(1)).ok()) ++refused;
    });
    self = timer;
    ASSERT_TRUE(timer->set(milliseconds(0)).ok());
    ASSERT_TRUE(running.wait());
    delete timer;  // while the timer keeps re-arming itself every millisecond
  }
  const int at_destruction = calls.load();
  // A timer left armed would fire within a millisecond or two of the close; watch a while.
  ::Sleep(kQuietMs);
  EXPECT_EQ(calls.load(), at_destruction);
}

TEST(ThreadpoolTimer, StopDisarms) {
  const settles_at_end settles;
  std::atomic<int> calls{0};
  modref::threadpool_timer<on_destroy::wait> timer([&calls] { ++calls; });
  ASSERT_TRUE(timer.set(std::chrono::hours(1)).ok());
  EXPECT_TRUE(timer.is_set());
  ASSERT_TRUE(timer.stop().ok());
  EXPECT_FALSE(timer.is_set());
  ASSERT_TRUE(timer.set(std::chrono::hours(1), milliseconds(10)).ok());
  ASSERT_TRUE(timer.cancel_and_wait().ok());
  EXPECT_FALSE(timer.is_set()) << "cancel_and_wait disarms";
  EXPECT_EQ(calls.load(), 0);
}

TEST(ThreadpoolTimer, RejectsNegativeAndOversizedTimes) {
  const settles_at_end settles;
  modref::threadpool_timer<on_destroy::cancel> timer([] {});
  EXPECT_EQ(timer.set(std::chrono::nanoseconds(-1)).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(timer.set(milliseconds(0), milliseconds(-1)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(timer.set(milliseconds(0), milliseconds(0), milliseconds(-5)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(timer.set(milliseconds(0), milliseconds(std::int64_t{1} << 33)).code(),
            absl::StatusCode::kInvalidArgument);
  const absl::Status negative_period = timer.set(milliseconds(0), milliseconds(-1));
  EXPECT_NE(negative_period.message().find("negative period"), absl::string_view::npos);
  EXPECT_FALSE(timer.is_set()) << "a refused set() arms nothing";

  modref::threadpool_timer<on_destroy::cancel> empty;
  EXPECT_EQ(empty.set(milliseconds(1)).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty.stop().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_FALSE(empty.is_set());
}

// ---------------------------------------------------------------------------------------------
// threadpool_wait

TEST(ThreadpoolWait, CallsWhenSignalledAndOnTimeout) {
  const settles_at_end settles;
  event signal, called;
  std::atomic<TP_WAIT_RESULT> result{0xFFFFFFFFu};
  modref::threadpool_wait<on_destroy::wait> wait([&](TP_WAIT_RESULT r) {
    result = r;
    called.set();
  });
  ASSERT_TRUE(wait.set(signal.get()).ok());
  EXPECT_FALSE(called.is_set());
  signal.set();
  ASSERT_TRUE(called.wait());
  EXPECT_EQ(result.load(), static_cast<TP_WAIT_RESULT>(WAIT_OBJECT_0));
  ASSERT_TRUE(wait.wait_for_callbacks().ok());

  event never;
  ::ResetEvent(called.get());
  ASSERT_TRUE(wait.set(never.get(), milliseconds(1)).ok());
  ASSERT_TRUE(called.wait());
  EXPECT_EQ(result.load(), static_cast<TP_WAIT_RESULT>(WAIT_TIMEOUT));
}

TEST(ThreadpoolWait, AcceptsACallableWithoutTheResult) {
  const settles_at_end settles;
  event signal, called;
  auto wait = modref::threadpool_wait<on_destroy::cancel>::create([&called] { called.set(); });
  ASSERT_TRUE(wait.ok()) << wait.status();
  signal.set();
  ASSERT_TRUE(wait->set(signal.get()).ok());
  EXPECT_TRUE(called.wait());
}

TEST(ThreadpoolWait, RejectsBadInput) {
  const settles_at_end settles;
  modref::threadpool_wait<on_destroy::cancel> wait([] {});
  EXPECT_EQ(wait.set(nullptr).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(wait.set(INVALID_HANDLE_VALUE).code(), absl::StatusCode::kInvalidArgument);
  event e;
  EXPECT_EQ(wait.set(e.get(), milliseconds(-1)).code(), absl::StatusCode::kInvalidArgument);
  void (*null_fn)() = nullptr;
  EXPECT_EQ(modref::threadpool_wait<on_destroy::cancel>::create(null_fn).status().code(),
            absl::StatusCode::kInvalidArgument);
  modref::threadpool_wait<on_destroy::cancel> empty;
  EXPECT_EQ(empty.set(e.get()).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty.stop().code(), absl::StatusCode::kFailedPrecondition);
}

// ---------------------------------------------------------------------------------------------
// Process termination, simulated in this process (the real thing runs in a child below)

class SimulatedTermination : public ::testing::Test {
 protected:
  void TearDown() override { seams().simulate_process_terminating = false; }
};

TEST_F(SimulatedTermination, EveryEntryPointRefusesWithoutTouchingThePool) {
  const modref::activity_snapshot base = modref::activity();
  std::atomic<int> calls{0};
  modref::threadpool_work<on_destroy::wait> work([&calls] { ++calls; });
  modref::threadpool_timer<on_destroy::wait> timer([&calls] { ++calls; });
  modref::threadpool_wait<on_destroy::wait> wait([&calls] { ++calls; });
  event e;

  seams().simulate_process_terminating = true;
  const absl::Status submitted = modref::submit([&calls] { ++calls; });
  EXPECT_EQ(submitted.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(submitted.message().find("process termination"), absl::string_view::npos) << submitted;
  EXPECT_NE(submitted.message().find("thread pool must not be used"), absl::string_view::npos);
  for (const absl::Status& status :
       {work.submit(), work.wait_for_callbacks(), work.cancel_and_wait(),
        timer.set(milliseconds(0)), timer.stop(), timer.wait_for_callbacks(), wait.set(e.get()),
        wait.stop(), modref::threadpool_work<on_destroy::wait>::create([] {}).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  }
  EXPECT_FALSE(timer.is_set());
  EXPECT_EQ(modref::activity().live_contexts, base.live_contexts + 3) << "only the three objects";
  seams().simulate_process_terminating = false;

  ASSERT_TRUE(work.submit().ok());
  ASSERT_TRUE(work.wait_for_callbacks().ok());
  EXPECT_EQ(calls.load(), 1) << "only the call made after the simulated termination ran";
}

// Destructors during (simulated) termination leak their objects; the test accepts that one leak.
TEST_F(SimulatedTermination, DestructorTouchesNothing) {
  const long abandoned = seams().abandoned_for_termination.load();
  static event gate, running;  // the leaked callback may still touch them after the test
  auto work = std::make_unique<modref::threadpool_work<on_destroy::wait>>([&] {
    running.set();
    gate.wait();
  });
  ASSERT_TRUE(work->submit().ok());
  ASSERT_TRUE(running.wait());
  seams().simulate_process_terminating = true;
  work.reset();  // would wait for the blocked callback, were the process not terminating
  seams().simulate_process_terminating = false;
  EXPECT_EQ(seams().abandoned_for_termination.load(), abandoned + 1);
  gate.set();
}

// ---------------------------------------------------------------------------------------------
// Real DLLs: asynchronous entry points unloaded under their own callbacks

// Loads threadpool_dll.dll, calls `entry(gate, done)`, FreeLibrary's at once, then opens the gate:
// the DLL must still be loaded until its callback has returned, then unload.
void run_unload_race(const char* entry) {
  const wchar_t* name = L"threadpool_dll.dll";
  ASSERT_FALSE(modref_test::is_loaded(name)) << "left loaded by an earlier test";
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(name).c_str());
  ASSERT_NE(dll, nullptr);
  auto start = get_export<DWORD (*)(HANDLE, HANDLE)>(dll, entry);
  auto activity = get_export<void (*)(long*, long*)>(dll, "tp_activity");
  ASSERT_NE(start, nullptr);
  event gate, done;
  ASSERT_EQ(start(gate.get(), done.get()), 0u);
  long contexts = 0, pins = 0;
  activity(&contexts, &pins);
  EXPECT_EQ(contexts, 1) << entry;
  EXPECT_EQ(pins, 1) << entry;
  ::FreeLibrary(dll);
  EXPECT_TRUE(modref_test::is_loaded(name)) << entry << ": unloaded under a queued callback";
  gate.set();
  ASSERT_TRUE(done.wait()) << entry;
  EXPECT_TRUE(modref_test::wait_until_unloaded(name)) << entry << ": still loaded";
}

TEST(UnloadRace, Submit) { run_unload_race("tp_submit"); }
TEST(UnloadRace, WorkObjectClosedByItsOwnCallback) { run_unload_race("tp_work"); }
TEST(UnloadRace, OneShotTimerClosedByItsOwnCallback) { run_unload_race("tp_timer"); }
TEST(UnloadRace, WaitObjectSignalledAfterFreeLibrary) { run_unload_race("tp_wait"); }

TEST(UnloadRace, FailuresInsideTheDllGiveEverythingBackAndItStillUnloads) {
  const wchar_t* name = L"threadpool_dll.dll";
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(name).c_str());
  ASSERT_NE(dll, nullptr);
  auto inject = get_export<DWORD (*)(int, DWORD, DWORD*, BOOL*)>(dll, "tp_inject_failure");
  auto activity = get_export<void (*)(long*, long*)>(dll, "tp_activity");
  ASSERT_NE(inject, nullptr);
  const DWORD injected[] = {ERROR_NOT_ENOUGH_MEMORY, ERROR_NO_SYSTEM_RESOURCES, ERROR_OUTOFMEMORY,
                            ERROR_TOO_MANY_TCBS, ERROR_MAX_THRDS_REACHED};
  for (int which = 0; which < 5; ++which) {
    DWORD last_error = 0;
    BOOL destroyed_unrun = FALSE;
    EXPECT_EQ(inject(which, injected[which], &last_error, &destroyed_unrun), injected[which])
        << "case " << which;
    EXPECT_EQ(last_error, injected[which]) << "GetLastError() must keep the error, case " << which;
    EXPECT_TRUE(destroyed_unrun) << "the callable must be given back, case " << which;
    long contexts = -1, pins = -1;
    activity(&contexts, &pins);
    EXPECT_EQ(contexts, 0) << "case " << which;
    EXPECT_EQ(pins, 0) << "case " << which;
  }
  ::FreeLibrary(dll);
  EXPECT_TRUE(modref_test::wait_until_unloaded(name)) << "a failure left a pin behind";
}

// When even the closing callback cannot be queued, the state and its pin are leaked rather than
// freed under callbacks: the DLL (a second copy, so other tests are unaffected) stays loaded. The
// leak is permanent, so the test compares with what earlier repetitions left behind.
TEST(UnloadRace, CloserFailureKeepsTheDllLoadedForEver) {
  const wchar_t* name = L"threadpool_leak_dll.dll";
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(name).c_str());
  ASSERT_NE(dll, nullptr);
  auto start = get_export<DWORD (*)(HANDLE, HANDLE)>(dll, "tp_work_closer_fails");
  auto leaked = get_export<long (*)()>(dll, "tp_leaked_after_closer_failure");
  auto activity = get_export<void (*)(long*, long*)>(dll, "tp_activity");
  const long leaked_before = leaked();
  long contexts_before = 0, pins_before = 0;
  activity(&contexts_before, &pins_before);
  event gate, done;
  ASSERT_EQ(start(gate.get(), done.get()), 0u);
  ::FreeLibrary(dll);
  gate.set();
  ASSERT_TRUE(done.wait());
  // The callback leaked the pin before it signalled `done`: the DLL cannot unload any more, so
  // calling into it is safe.
  EXPECT_EQ(leaked(), leaked_before + 1);
  long contexts = 0, pins = 0;
  activity(&contexts, &pins);
  EXPECT_EQ(contexts, contexts_before + 1);
  EXPECT_EQ(pins, pins_before + 1);
  EXPECT_FALSE(modref_test::wait_until_unloaded(name, milliseconds(kQuietMs)));
}

// ---------------------------------------------------------------------------------------------
// Real process termination, in a child process (as Wine's own loader tests do)

TEST(ProcessTermination, PoolUseAtExitIsRefusedAndDestructorsDoNotWait) {
  const auto log = modref_test::temp_file(L"modref-threadpool-termination");
  std::filesystem::remove(log);
  const std::wstring cmd =
      modref_test::quoted(modref_test::sibling(L"threadpool_termination_host.exe")) + L" " +
      modref_test::quoted(modref_test::sibling(L"threadpool_termination_dll.dll")) + L" " +
      modref_test::quoted(log);
  // A destructor that waited for the callback blocked for ever would hang the child: the bound
  // turns that into a failure (exit code WAIT_TIMEOUT).
  const DWORD code = modref_test::run_child(cmd, std::chrono::seconds(30));
  const std::string text = modref_test::read_file(log);
  std::filesystem::remove(log);
  EXPECT_EQ(code, 0u) << text;
  EXPECT_NE(text.find("armed"), std::string::npos) << text;
  EXPECT_NE(text.find("detach reserved=1"), std::string::npos) << text;
  EXPECT_NE(text.find("atexit terminating=1 submit=FAILED_PRECONDITION(named)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("global terminating=1 submit=FAILED_PRECONDITION(named)"), std::string::npos)
      << text;
  EXPECT_NE(text.find("global work.submit=FAILED_PRECONDITION(named) "
                      "timer.set=FAILED_PRECONDITION(named) timer.stop=FAILED_PRECONDITION(named) "
                      "wait.set=FAILED_PRECONDITION(named) create=FAILED_PRECONDITION(named)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("global destroyed abandoned=3"), std::string::npos) << text;
}

}  // namespace
