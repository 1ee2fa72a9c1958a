// Adversarial tests of the pool layer (issue 9, items 1, 2, 3 and 10), under Wine:
//   - own-callback scope: a callback_group or pool object destroyed from inside its own callback
//     (while the callable runs, while it is destroyed after the call, or when a cancelled,
//     never-run callable is destroyed) never waits for itself; a callback of one object that
//     destroys another still waits for that other one;
//   - re-arming: after cancel_and_wait() or stop() returns, a callback that re-armed its own
//     timer, wait or work during the call starts nothing until the owner arms it again; after
//     callback_group::cancel(), the group's own callbacks cannot submit;
//   - dont_wait closers: destroying hundreds of dont_wait objects whose callbacks are blocked
//     leaves the default pool able to run new work;
//   - ergonomics: callback_group's throwing constructor, callback_instance::may_run_long(),
//     set() reporting a cancelled pending callback (also through the SetThreadpoolTimerEx /
//     SetThreadpoolWaitEx branch, with a stand-in for the function Wine 8 lacks), and noexcept
//     destructors that survive a failed allocation.
//
// A scenario that would hang on broken code is bounded: the test waits for an event with
// kBoundMs and reports "hung" instead of blocking the suite (the stuck pool thread is abandoned
// to the process). Interleavings are forced with events and the MODREF_TEST_SEAMS hook that
// signals once cancel_and_wait() has stopped the object (threadpool_test_seams).
#include <modref/callback_group.h>
#include <modref/object_pool.h>
#include <modref/threadpool.h>

#include <windows.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <new>
#include <optional>
#include <system_error>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "pool_test_support.h"

// Allocation failure on demand, for one thread only: the noexcept tests make every operator new
// on the thread under test throw std::bad_alloc while the rest of the process allocates normally.
namespace {
std::atomic<DWORD> g_fail_allocations_on{0};
void* checked_alloc(std::size_t size) {
  if (g_fail_allocations_on.load(std::memory_order_relaxed) == ::GetCurrentThreadId()) {
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
}  // namespace
void* operator new(std::size_t size) { return checked_alloc(size); }
void* operator new[](std::size_t size) { return checked_alloc(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

using modref::on_destroy;
using modref_pool_test::activity_is;
using modref_pool_test::event;
using modref_pool_test::eventually;
using modref_pool_test::kBoundMs;
using modref_pool_test::kQuietMs;
using modref_pool_test::seams;
using modref_pool_test::settles_at_end;
using modref_pool_test::single_thread_pool;
using std::chrono::milliseconds;

// ---------------------------------------------------------------------------------------------
// Item 1: own-callback scope

// An object that owns a callback_group and is kept alive by its callbacks' captures
// (shared_from_this), as a component whose host may drop it at any time. Its destructor signals
// `gone`, which outlives it.
struct group_owner : std::enable_shared_from_this<group_owner> {
  explicit group_owner(std::shared_ptr<event> g, modref::threadpool_options options = {})
      : gone(std::move(g)), group(modref::callback_group::create(options).value()) {}
  ~group_owner() {
    group = modref::callback_group();  // the group's close runs here, on whatever thread
    gone->set();
  }
  std::shared_ptr<event> gone;
  modref::callback_group group;
};

// The host drops its reference while the callable runs: the callable's destructor (after the
// call) destroys the last reference, hence the group, on the pool thread.
TEST(OwnCallbackScope, GroupDestroyedByItsCallablesDestructorDoesNotWaitForItself) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  auto gone = std::make_shared<event>();
  auto running = std::make_shared<event>();
  auto gate = std::make_shared<event>();
  auto owner = std::make_shared<group_owner>(gone);
  ASSERT_TRUE(owner->group
                  .submit([self = owner->shared_from_this(), running, gate] {
                    running->set();
                    gate->wait();
                  })
                  .ok());
  ASSERT_TRUE(running->wait());
  owner.reset();  // the host lets go; the callable now holds the last reference
  gate->set();
  EXPECT_TRUE(gone->wait()) << "hung: the group's destructor, run by its own callable's "
                               "destructor, waited for that very callback";
}

// A cancelled callback destroys its callable without calling it: that destruction is inside the
// callback too.
TEST(OwnCallbackScope, GroupDestroyedByACancelledNeverRunCallableDoesNotWaitForItself) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  single_thread_pool pool;
  auto gone = std::make_shared<event>();
  event gate, blocking;
  auto owner = std::make_shared<group_owner>(gone, pool.options());
  pool.block(gate, blocking);  // the pool's only thread is taken: the next callback stays queued
  std::atomic<bool> called{false};
  ASSERT_TRUE(
      owner->group.submit([self = owner->shared_from_this(), &called] { called = true; }).ok());
  owner->group.cancel();
  owner.reset();  // the queued, cancelled callable holds the last reference
  gate.set();
  EXPECT_TRUE(gone->wait()) << "hung: the group's destructor, run by a cancelled callable's "
                               "destructor, waited for that very callback";
  EXPECT_FALSE(called.load());
}

// Nesting: a callback of group A destroys owner B, whose group has a running callback. B's
// destructor is not in B's callback: it must still wait for it.
TEST(OwnCallbackScope, ACallbackOfOneGroupDestroyingAnotherStillWaitsForTheOther) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  auto a_gone = std::make_shared<event>();
  auto b_gone = std::make_shared<event>();
  auto a = std::make_shared<group_owner>(a_gone);
  auto b = std::make_shared<group_owner>(b_gone);
  event b_running, b_gate;
  std::atomic<bool> b_finished{false};
  ASSERT_TRUE(b->group
                  .submit([&] {
                    b_running.set();
                    b_gate.wait();
                    b_finished = true;
                  })
                  .ok());
  ASSERT_TRUE(b_running.wait());
  std::atomic<bool> b_finished_when_destroyed{false};
  event a_done;
  ASSERT_TRUE(a->group
                  .submit([&, b = std::move(b)]() mutable {
                    b_gate.set();
                    b.reset();  // waits for B's running callback
                    b_finished_when_destroyed = b_finished.load();
                    a_done.set();
                  })
                  .ok());
  ASSERT_TRUE(a_done.wait());
  EXPECT_TRUE(b_finished_when_destroyed.load())
      << "B's destructor, called from A's callback, did not wait for B's own callback";
  a.reset();
  EXPECT_TRUE(a_gone->wait());
}

// The same ownership shape for every pool object type: the owner keeps itself alive while a
// callback runs (a strong reference taken inside the callback from a weak one), the host drops
// it meanwhile, and the callback's last line destroys the owner, hence the pool object, on its
// own callback's thread. Policy wait is the one that would wait for itself.
template <class Object>
struct object_owner : std::enable_shared_from_this<object_owner<Object>> {
  explicit object_owner(std::shared_ptr<event> g) : gone(std::move(g)) {}
  ~object_owner() {
    object.reset();
    gone->set();
  }
  std::shared_ptr<event> gone;
  Object object;
};

template <class Object, class Arm>
void destroy_from_own_callback(Arm arm) {
  const modref::activity_snapshot base = modref::activity();
  auto gone = std::make_shared<event>();
  auto running = std::make_shared<event>();
  auto gate = std::make_shared<event>();
  auto owner = std::make_shared<object_owner<Object>>(gone);
  std::weak_ptr<object_owner<Object>> weak = owner;
  owner->object = Object([weak, running, gate] {
    std::shared_ptr<object_owner<Object>> self = weak.lock();
    if (!self) return;
    running->set();
    gate->wait();
  });  // `self` dies last: the owner, and the pool object with it, die in this callback
  arm(owner->object);
  ASSERT_TRUE(running->wait());
  owner.reset();
  gate->set();
  EXPECT_TRUE(gone->wait()) << "hung: the pool object's destructor waited for its own callback";
  const bool settled = eventually([&] { return activity_is(base); });
  EXPECT_TRUE(settled) << "the closing callback leaked: " << modref::activity().live_contexts
                       << " contexts, " << modref::activity().live_pins << " pins; expected "
                       << base.live_contexts << " and " << base.live_pins;
}

TEST(OwnCallbackScope, WorkDestroyedFromItsOwnCallback) {
  destroy_from_own_callback<modref::threadpool_work<on_destroy::wait>>(
      [](auto& work) { ASSERT_TRUE(work.submit().ok()); });
}
TEST(OwnCallbackScope, TimerDestroyedFromItsOwnCallback) {
  destroy_from_own_callback<modref::threadpool_timer<on_destroy::wait>>(
      [](auto& timer) { ASSERT_TRUE(timer.set(milliseconds(0)).ok()); });
}
TEST(OwnCallbackScope, WaitDestroyedFromItsOwnCallback) {
  static event signalled;
  signalled.set();
  destroy_from_own_callback<modref::threadpool_wait<on_destroy::wait>>(
      [](auto& wait) { ASSERT_TRUE(wait.set(signalled.get()).ok()); });
}

// A callback of a plain submit() whose callable holds the last reference to a group owner: the
// group's destructor runs in a callback that is not the group's, and must wait for the group's
// running callback.
TEST(OwnCallbackScope, SubmitCallableDestroyingAGroupWaitsForThatGroup) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  auto gone = std::make_shared<event>();
  auto owner = std::make_shared<group_owner>(gone);
  event running, gate;
  std::atomic<bool> finished{false};
  ASSERT_TRUE(owner->group
                  .submit([&] {
                    running.set();
                    gate.wait();
                    finished = true;
                  })
                  .ok());
  ASSERT_TRUE(running.wait());
  std::atomic<bool> finished_when_gone{false};
  event submit_done;
  ASSERT_TRUE(modref::submit([&, owner = std::move(owner)]() mutable {
                gate.set();
                owner.reset();
                finished_when_gone = finished.load();
                submit_done.set();
              }).ok());
  ASSERT_TRUE(submit_done.wait());
  EXPECT_TRUE(finished_when_gone.load());
  EXPECT_TRUE(gone->is_set());
}

// ---------------------------------------------------------------------------------------------
// Item 2: re-arming from a callback during an explicit stop or wait

// Runs `cancel` on a helper thread while the object's first callback is blocked, lets that
// callback re-arm its own object only after cancel_and_wait() has stopped it (the seam signals
// that moment), and checks that once cancel_and_wait() has returned no callback starts, until the
// owner arms the object again.
template <class Object>
void rearm_during_cancel(Object& object, std::atomic<int>& starts, const event& first_running,
                         const event& release_first, const std::function<void()>& owner_arm,
                         const std::function<absl::Status()>& cancel) {
  owner_arm();
  ASSERT_TRUE(first_running.wait());
  event stopped;
  seams().signal_after_cancel_stop.store(stopped.get());
  absl::Status cancelled;
  event returned;
  std::thread helper([&] {
    cancelled = cancel();
    returned.set();
  });
  ASSERT_TRUE(stopped.wait()) << "cancel_and_wait() never stopped the object";
  release_first.set();  // the first callback now re-arms, after the stop
  ASSERT_TRUE(returned.wait());
  helper.join();
  seams().signal_after_cancel_stop.store(nullptr);
  ASSERT_TRUE(cancelled.ok()) << cancelled;
  const int at_return = starts.load();
  // A re-armed timer (1 ms), a signalled wait or a resubmitted work would start within a
  // millisecond or two; watch for kQuietMs.
  ::Sleep(kQuietMs);
  EXPECT_EQ(starts.load(), at_return)
      << "a callback started after cancel_and_wait() returned: the object re-armed itself";
  // The owner can arm it again.
  const int before_rearm = starts.load();
  owner_arm();
  EXPECT_TRUE(eventually([&] { return starts.load() > before_rearm; }))
      << "the owner could not arm the object again after cancel_and_wait()";
  (void)object;
}

TEST(ReArming, TimerReArmedByItsCallbackDuringCancelAndWait) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  std::atomic<int> starts{0};
  std::atomic<int> refused{0};
  event first_running, release_first;
  std::atomic<modref::threadpool_timer<on_destroy::wait>*> self{nullptr};
  modref::threadpool_timer<on_destroy::wait> timer([&] {
    if (++starts == 1) {
      first_running.set();
      release_first.wait();
    }
    if (!self.load()->set(milliseconds(1)).ok()) ++refused;
  });
  self = &timer;
  rearm_during_cancel(
      timer, starts, first_running, release_first,
      [&] { ASSERT_TRUE(timer.set(milliseconds(0)).ok()); },
      [&] { return timer.cancel_and_wait(); });
  ASSERT_TRUE(timer.cancel_and_wait().ok());
  EXPECT_GE(refused.load(), 1) << "the re-arm during cancel_and_wait() was not refused";
}

TEST(ReArming, WaitReArmedByItsCallbackDuringCancelAndWait) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  std::atomic<int> starts{0};
  std::atomic<int> refused{0};
  event first_running, release_first, signalled;
  signalled.set();  // manual reset: every set() fires at once
  std::atomic<modref::threadpool_wait<on_destroy::wait>*> self{nullptr};
  modref::threadpool_wait<on_destroy::wait> wait([&] {
    if (++starts == 1) {
      first_running.set();
      release_first.wait();
    }
    if (!self.load()->set(signalled.get()).ok()) ++refused;
  });
  self = &wait;
  rearm_during_cancel(
      wait, starts, first_running, release_first,
      [&] { ASSERT_TRUE(wait.set(signalled.get()).ok()); }, [&] { return wait.cancel_and_wait(); });
  ASSERT_TRUE(wait.cancel_and_wait().ok());
  EXPECT_GE(refused.load(), 1);
}

TEST(ReArming, WorkResubmittedByItsCallbackDuringCancelAndWait) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  std::atomic<int> starts{0};
  std::atomic<int> refused{0};
  event first_running, release_first;
  std::atomic<modref::threadpool_work<on_destroy::wait>*> self{nullptr};
  modref::threadpool_work<on_destroy::wait> work([&] {
    if (++starts == 1) {
      first_running.set();
      release_first.wait();
    }
    if (starts.load() < 100'000 && !self.load()->submit().ok()) ++refused;
  });
  self = &work;
  rearm_during_cancel(
      work, starts, first_running, release_first, [&] { ASSERT_TRUE(work.submit().ok()); },
      [&] { return work.cancel_and_wait(); });
  ASSERT_TRUE(work.cancel_and_wait().ok());
  EXPECT_GE(refused.load(), 1);
}

// stop() from the owner: a callback running across it cannot re-arm behind it.
TEST(ReArming, TimerStopHoldsAgainstARunningCallbackThatReArms) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  std::atomic<int> starts{0};
  event first_running, release_first, first_done;
  absl::Status rearm;
  std::atomic<modref::threadpool_timer<on_destroy::wait>*> self{nullptr};
  modref::threadpool_timer<on_destroy::wait> timer([&] {
    if (++starts == 1) {
      first_running.set();
      release_first.wait();
      rearm = self.load()->set(milliseconds(1));
      first_done.set();
    }
  });
  self = &timer;
  ASSERT_TRUE(timer.set(milliseconds(0)).ok());
  ASSERT_TRUE(first_running.wait());
  ASSERT_TRUE(timer.stop().ok());
  release_first.set();
  ASSERT_TRUE(first_done.wait());
  EXPECT_EQ(rearm.code(), absl::StatusCode::kFailedPrecondition) << rearm;
  EXPECT_FALSE(timer.is_set()) << "the callback re-armed the timer behind stop()";
  ASSERT_TRUE(timer.cancel_and_wait().ok());
}

// callback_group::cancel(): the group's own callbacks cannot submit afterwards, and a chain of
// self-resubmitting callbacks stops at once (at most the callback already past its check runs).
TEST(ReArming, GroupCancelRefusesSubmitsFromItsOwnCallbacks) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  modref::callback_group group = modref::callback_group::create().value();
  event running, gate;
  absl::Status from_callback;
  event done;
  ASSERT_TRUE(group
                  .submit([&] {
                    running.set();
                    gate.wait();
                    from_callback = group.submit([] {});
                    done.set();
                  })
                  .ok());
  ASSERT_TRUE(running.wait());
  group.cancel();
  gate.set();
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(from_callback.code(), absl::StatusCode::kFailedPrecondition) << from_callback;
  ASSERT_TRUE(group.wait().ok());
}

TEST(ReArming, GroupCancelStopsASelfResubmittingChain) {
  const settles_at_end settles;  // first: its check runs after every other destructor
  modref::callback_group group = modref::callback_group::create().value();
  std::atomic<int> starts{0};
  std::atomic<int> refused{0};
  event started;
  std::function<void()> step = [&] {
    if (++starts == 50) started.set();
    if (!group.submit([&] { step(); }).ok()) ++refused;
  };
  ASSERT_TRUE(group.submit([&] { step(); }).ok());
  ASSERT_TRUE(group.submit([&] { step(); }).ok());  // two chains race with cancel()
  ASSERT_TRUE(started.wait());
  group.cancel();
  const int at_cancel = starts.load();
  ASSERT_TRUE(group.wait().ok());
  // Callbacks that passed their cancelled check before cancel() may still call step(): one per
  // chain.
  EXPECT_LE(starts.load() - at_cancel, 2);
  ::Sleep(kQuietMs);  // nothing may start after wait(): the group is cancelled
  EXPECT_EQ(group.outstanding(), 0);
}

// ---------------------------------------------------------------------------------------------
// Item 3: dont_wait closers do not stall the default pool

TEST(DontWaitClosers, HundredsOfThemDoNotStallTheDefaultPool) {
  constexpr int kObjects = 300;
  const modref::activity_snapshot base = modref::activity();
  event gate;
  std::atomic<int> started{0};
  event all_started;
  std::vector<modref::threadpool_work<on_destroy::dont_wait>> works;
  works.reserve(kObjects);
  for (int i = 0; i < kObjects; ++i) {
    works.emplace_back([&] {
      if (++started == kObjects) all_started.set();
      gate.wait(INFINITE);
    });
  }
  for (auto& w : works) ASSERT_TRUE(w.submit().ok());
  // Each blocked callback holds a pool thread; Wine creates them one by one through wineserver.
  ASSERT_TRUE(all_started.wait(4 * kBoundMs));
  works.clear();  // 300 dont_wait destructors: their closers wait for the blocked callbacks
  event fresh;
  ASSERT_TRUE(modref::submit([&] { fresh.set(); }).ok());
  const bool ran = fresh.wait();
  gate.set();
  EXPECT_TRUE(ran) << "a fresh submit did not run while the closers waited: they stalled the "
                      "default pool";
  EXPECT_TRUE(eventually([&] { return activity_is(base); }, milliseconds(4 * kBoundMs)))
      << "the closers leaked";
}

// ---------------------------------------------------------------------------------------------
// Item 10: ergonomics

TEST(Ergonomics, CallbackGroupHasAThrowingConstructor) {
  modref::callback_group group{modref::threadpool_options{}};
  EXPECT_TRUE(group);
  std::atomic<int> calls{0};
  ASSERT_TRUE(group.submit([&] { ++calls; }).ok());
  ASSERT_TRUE(group.wait().ok());
  EXPECT_EQ(calls.load(), 1);
}

TEST(Ergonomics, CallablesCanAskToRunLong) {
  event done;
  std::atomic<int> asked{0};
  ASSERT_TRUE(modref::submit([&](modref::callback_instance instance) {
                (void)instance.may_run_long();
                ++asked;
                done.set();
              }).ok());
  ASSERT_TRUE(done.wait());
  modref::callback_group group{modref::threadpool_options{}};
  ASSERT_TRUE(group
                  .submit([&](modref::callback_instance instance) {
                    (void)instance.may_run_long();
                    ++asked;
                  })
                  .ok());
  ASSERT_TRUE(group.wait().ok());
  modref::threadpool_work<on_destroy::wait> work([&](modref::callback_instance instance) {
    (void)instance.may_run_long();
    ++asked;
  });
  ASSERT_TRUE(work.submit().ok());
  ASSERT_TRUE(work.wait_for_callbacks().ok());
  modref::threadpool_timer<on_destroy::wait> timer([&](modref::callback_instance instance) {
    (void)instance.may_run_long();
    ++asked;
  });
  ASSERT_TRUE(timer.set(milliseconds(0)).ok());
  ASSERT_TRUE(eventually([&] { return asked.load() == 4; }));
  event signalled;
  signalled.set();
  std::atomic<TP_WAIT_RESULT> seen{WAIT_FAILED};
  modref::threadpool_wait<on_destroy::wait> wait(
      [&](modref::callback_instance instance, TP_WAIT_RESULT result) {
        (void)instance.may_run_long();
        seen = result;
        ++asked;
      });
  ASSERT_TRUE(wait.set(signalled.get()).ok());
  ASSERT_TRUE(eventually([&] { return asked.load() == 5; }));
  EXPECT_EQ(seen.load(), static_cast<TP_WAIT_RESULT>(WAIT_OBJECT_0));
}

// SetThreadpoolTimerEx / SetThreadpoolWaitEx exist from Windows 8; Wine 8 exports neither, so
// there the answer is `unknown`. Either way the object is armed as set() would arm it.
TEST(Ergonomics, SetReportsWhetherAPendingCallbackWasCancelled) {
  const bool have_ex =
      ::GetProcAddress(::GetModuleHandleW(L"kernel32.dll"), "SetThreadpoolTimerEx") != nullptr;
  std::atomic<int> calls{0};
  modref::threadpool_timer<on_destroy::wait> timer([&] { ++calls; });
  modref::pending_callback previous = modref::pending_callback::unknown;
  ASSERT_TRUE(timer.set(std::chrono::hours(1), milliseconds(0), milliseconds(0), &previous).ok());
  EXPECT_EQ(previous, have_ex ? modref::pending_callback::none : modref::pending_callback::unknown);
  ASSERT_TRUE(timer.set(std::chrono::hours(1), milliseconds(0), milliseconds(0), &previous).ok());
  EXPECT_EQ(previous,
            have_ex ? modref::pending_callback::cancelled : modref::pending_callback::unknown);
  EXPECT_TRUE(timer.is_set());
  ASSERT_TRUE(timer.stop(&previous).ok());
  EXPECT_EQ(previous,
            have_ex ? modref::pending_callback::cancelled : modref::pending_callback::unknown);
  EXPECT_FALSE(timer.is_set());

  event never;
  modref::threadpool_wait<on_destroy::wait> wait([&] { ++calls; });
  ASSERT_TRUE(wait.set(never.get(), std::nullopt, &previous).ok());
  ASSERT_TRUE(wait.stop(&previous).ok());
  EXPECT_EQ(previous,
            have_ex ? modref::pending_callback::cancelled : modref::pending_callback::unknown);
  EXPECT_EQ(calls.load(), 0);
  if (!have_ex) GTEST_LOG_(INFO) << "SetThreadpoolTimerEx is absent (Wine 8): answer is unknown";
}

// The SetThreadpoolTimerEx / SetThreadpoolWaitEx branch, which Wine 8 never takes (it exports
// neither function): a stand-in stored in the looked-up pointer's cache plays the Ex function. It
// records what modref passed, arms the object with the plain function (so the object really is
// set or stopped) and returns the answer the test chose; modref must map TRUE to `cancelled` and
// FALSE to `none`, for set() and stop() alike, and pass stop's null due time / null handle.
struct ex_stand_in {
  std::atomic<int> calls{0};
  std::atomic<BOOL> answer{FALSE};
  std::atomic<bool> got_null{false};  // the last call's due time (timer) or handle (wait)
  std::atomic<DWORD> period{0};
  std::atomic<bool> reserved_was_null{false};
};
ex_stand_in g_ex_stand_in;

BOOL WINAPI stand_in_set_timer_ex(PTP_TIMER timer, PFILETIME due, DWORD period, DWORD window) {
  ++g_ex_stand_in.calls;
  g_ex_stand_in.got_null = due == nullptr;
  g_ex_stand_in.period = period;
  ::SetThreadpoolTimer(timer, due, period, window);
  return g_ex_stand_in.answer.load();
}

BOOL WINAPI stand_in_set_wait_ex(PTP_WAIT wait, HANDLE handle, PFILETIME timeout, PVOID reserved) {
  ++g_ex_stand_in.calls;
  g_ex_stand_in.got_null = handle == nullptr;
  g_ex_stand_in.reserved_was_null = reserved == nullptr;
  ::SetThreadpoolWait(wait, handle, timeout);
  return g_ex_stand_in.answer.load();
}

// Installs a stand-in in one of threadpool.h's *Ex caches for its scope; afterwards the cache is
// cleared, so the next use looks the real function up again.
class ex_function_scope {
 public:
  template <class Fn>
  ex_function_scope(std::atomic<std::uintptr_t>& cache, Fn stand_in) : cache_(cache) {
    cache_.store(reinterpret_cast<std::uintptr_t>(stand_in));
  }
  ex_function_scope(const ex_function_scope&) = delete;  // one cache, one restorer
  ex_function_scope& operator=(const ex_function_scope&) = delete;
  ~ex_function_scope() { cache_.store(0); }

 private:
  std::atomic<std::uintptr_t>& cache_;
};

TEST(Ergonomics, TimerExBranchMapsTheCancelledResult) {
  const ex_function_scope scope(modref::detail::g_tp_set_timer_ex, &stand_in_set_timer_ex);
  g_ex_stand_in.calls = 0;
  event ran;
  modref::threadpool_timer<on_destroy::wait> timer([&] { ran.set(); });
  modref::pending_callback previous = modref::pending_callback::unknown;

  g_ex_stand_in.answer = FALSE;
  ASSERT_TRUE(timer.set(std::chrono::hours(1), milliseconds(250), milliseconds(0), &previous).ok());
  EXPECT_EQ(previous, modref::pending_callback::none);
  EXPECT_FALSE(g_ex_stand_in.got_null.load()) << "set() passes its due time";
  EXPECT_EQ(g_ex_stand_in.period.load(), 250u);
  EXPECT_TRUE(timer.is_set()) << "the stand-in armed it through modref's arguments";

  g_ex_stand_in.answer = TRUE;
  ASSERT_TRUE(timer.set(std::chrono::hours(1), milliseconds(0), milliseconds(0), &previous).ok());
  EXPECT_EQ(previous, modref::pending_callback::cancelled);

  ASSERT_TRUE(timer.stop(&previous).ok());
  EXPECT_EQ(previous, modref::pending_callback::cancelled);
  EXPECT_TRUE(g_ex_stand_in.got_null.load()) << "stop() disarms with a null due time";
  EXPECT_FALSE(timer.is_set());

  g_ex_stand_in.answer = FALSE;
  ASSERT_TRUE(timer.stop(&previous).ok());
  EXPECT_EQ(previous, modref::pending_callback::none);

  // The branch still arms for real: due at once, the callback runs.
  ASSERT_TRUE(timer.set(milliseconds(0), milliseconds(0), milliseconds(0), &previous).ok());
  EXPECT_EQ(previous, modref::pending_callback::none);
  EXPECT_TRUE(ran.wait()) << "hung: the timer armed through the Ex branch never fired";
  EXPECT_EQ(g_ex_stand_in.calls.load(), 5);
}

TEST(Ergonomics, WaitExBranchMapsTheCancelledResult) {
  const ex_function_scope scope(modref::detail::g_tp_set_wait_ex, &stand_in_set_wait_ex);
  g_ex_stand_in.calls = 0;
  event signalled;
  event ran;
  modref::threadpool_wait<on_destroy::wait> wait([&] { ran.set(); });
  modref::pending_callback previous = modref::pending_callback::unknown;

  event never;
  g_ex_stand_in.answer = FALSE;
  ASSERT_TRUE(wait.set(never.get(), std::nullopt, &previous).ok());
  EXPECT_EQ(previous, modref::pending_callback::none);
  EXPECT_FALSE(g_ex_stand_in.got_null.load()) << "set() passes its handle";
  EXPECT_TRUE(g_ex_stand_in.reserved_was_null.load());

  g_ex_stand_in.answer = TRUE;
  ASSERT_TRUE(wait.stop(&previous).ok());
  EXPECT_EQ(previous, modref::pending_callback::cancelled);
  EXPECT_TRUE(g_ex_stand_in.got_null.load()) << "stop() passes a null handle";

  g_ex_stand_in.answer = FALSE;
  ASSERT_TRUE(wait.set(signalled.get(), std::nullopt, &previous).ok());
  EXPECT_EQ(previous, modref::pending_callback::none);
  signalled.set();
  EXPECT_TRUE(ran.wait()) << "hung: the wait armed through the Ex branch never fired";
  EXPECT_EQ(g_ex_stand_in.calls.load(), 3);
}

// A noexcept destructor that cannot wait builds no message: with every allocation failing on
// the destroying thread, destroying a group from its own callback must not call std::terminate.
TEST(ErgonomicsDeathTest, GroupDestructorSurvivesAllocationFailure) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto holder = std::make_unique<std::optional<modref::callback_group>>(
            modref::callback_group::create().value());
        event done;
        (void)(*holder)->submit([&] {
          g_fail_allocations_on.store(::GetCurrentThreadId());
          holder->reset();  // its own callback: closes without waiting, builds no status
          g_fail_allocations_on.store(0);
          done.set();
        });
        std::_Exit(done.wait() ? 0 : 7);
      },
      ::testing::ExitedWithCode(0), "");
}

// object_pool's destructor reports a misuse (a lease outlives its pool) and ends the process. The
// report is built with allocations; when they fail, the report must still come out, not a
// std::terminate for the bad_alloc escaping the noexcept destructor.
TEST(ErgonomicsDeathTest, ObjectPoolDestructorReportsMisuseWithoutMemory) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto* pool = new modref::object_pool<int>(1);
        absl::StatusOr<modref::object_pool<int>::lease> kept = pool->acquire();  // the misuse
        if (!kept.ok()) std::_Exit(7);
        g_fail_allocations_on.store(::GetCurrentThreadId());
        delete pool;
      },
      "destroyed with objects still leased");
}

// The same for a pool object destroyed from its own callback (the dont_wait hand-over path).
TEST(ErgonomicsDeathTest, PoolObjectDestructorSurvivesAllocationFailure) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_EXIT(
      {
        auto* holder = new std::optional<modref::threadpool_work<on_destroy::wait>>();
        event done;
        holder->emplace([&, holder] {
          g_fail_allocations_on.store(::GetCurrentThreadId());
          delete holder;
          g_fail_allocations_on.store(0);
          done.set();
        });
        (void)(*holder)->submit();
        std::_Exit(done.wait() ? 0 : 7);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
