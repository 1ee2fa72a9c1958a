// Tests for <modref/callback_group.h> under Wine: every callback runs and wait() sees them done;
// cancel() makes queued callbacks skip their callables (and the same harness without cancel()
// shows they would have run); refusals (after cancel, empty callable, empty group, own callback);
// injected queue failure; the destructor waits for a running callback; and a DLL whose global
// group is destroyed in DLL_PROCESS_DETACH, on the pool thread that unloads it.
//
// Rendezvous use events and a private one-thread pool (pool_test_support.h).
#include <modref/callback_group.h>

#include <windows.h>

#include <atomic>
#include <new>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "pool_test_support.h"

namespace {

using modref_pool_test::destroy_probe;
using modref_pool_test::event;
using modref_pool_test::get_export;
using modref_pool_test::kQuietMs;
using modref_pool_test::seams;
using modref_pool_test::settles_at_end;
using modref_pool_test::single_thread_pool;

modref::callback_group make_group(const modref::threadpool_options& options = {}) {
  absl::StatusOr<modref::callback_group> group = modref::callback_group::create(options);
  EXPECT_TRUE(group.ok()) << group.status();
  return *std::move(group);
}

TEST(CallbackGroup, RunsEveryCallbackAndWaitSeesThemDone) {
  const settles_at_end settles;
  modref::callback_group group = make_group();
  std::atomic<int> calls{0};
  for (int i = 0; i < 16; ++i) {
    ASSERT_TRUE(group.submit([&calls] { ++calls; }).ok());
  }
  ASSERT_TRUE(group.wait().ok());
  EXPECT_EQ(calls.load(), 16);
  EXPECT_EQ(group.outstanding(), 0);
}

// The queued callbacks of a cancelled group are destroyed unrun; `cancel` false is the control:
// the same interleaving without cancel() runs them, so the harness can see the difference.
void run_queued_behind_a_blocked_callback(bool cancel, int* ran, int* destroyed) {
  const settles_at_end settles;
  single_thread_pool pool;
  modref::callback_group group = make_group(pool.options());
  event gate, running;
  std::atomic<int> runs{0};
  std::atomic<DWORD> destroyed_on[2] = {0, 0};
  ASSERT_TRUE(group
                  .submit([&] {
                    running.set();
                    gate.wait();
                  })
                  .ok());
  ASSERT_TRUE(running.wait());  // the pool's only thread is taken: the next two stay queued
  for (int i = 0; i < 2; ++i) {
    ASSERT_TRUE(group.submit([&runs, p = destroy_probe(&destroyed_on[i])] { ++runs; }).ok());
  }
  EXPECT_EQ(group.outstanding(), 3);
  if (cancel) group.cancel();
  gate.set();
  ASSERT_TRUE(group.wait().ok());
  *ran = runs.load();
  *destroyed = (destroyed_on[0].load() != 0) + (destroyed_on[1].load() != 0);
}

TEST(CallbackGroup, CancelSkipsQueuedCallbacksAndDestroysTheirCallables) {
  int ran = -1, destroyed = -1;
  run_queued_behind_a_blocked_callback(/*cancel=*/true, &ran, &destroyed);
  EXPECT_EQ(ran, 0) << "a queued callback ran after cancel()";
  EXPECT_EQ(destroyed, 2) << "wait() returned before the skipped callables were destroyed";
}

TEST(CallbackGroup, WithoutCancelTheSameQueuedCallbacksRun) {
  int ran = -1, destroyed = -1;
  run_queued_behind_a_blocked_callback(/*cancel=*/false, &ran, &destroyed);
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(destroyed, 2);
}

TEST(CallbackGroup, SubmitAfterCancelIsRefusedAndPinsNothing) {
  const settles_at_end settles;
  modref::callback_group group = make_group();
  group.cancel();
  std::atomic<DWORD> destroyed_on{0};
  const absl::Status refused = group.submit([p = destroy_probe(&destroyed_on)] {});
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition) << refused;
  EXPECT_NE(destroyed_on.load(), 0u) << "the refused callable was kept";
  EXPECT_EQ(group.outstanding(), 0);
  EXPECT_TRUE(modref_pool_test::activity_is(settles.base()));
}

TEST(CallbackGroup, EmptyCallableAndEmptyGroup) {
  const settles_at_end settles;
  modref::callback_group group = make_group();
  void (*null_function)() = nullptr;
  EXPECT_EQ(group.submit(null_function).code(), absl::StatusCode::kInvalidArgument);
  modref::callback_group empty;
  EXPECT_FALSE(empty);
  EXPECT_EQ(empty.submit([] {}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(empty.wait().ok());
  EXPECT_EQ(empty.outstanding(), 0);
  modref::callback_group moved = std::move(group);
  EXPECT_TRUE(moved);
  EXPECT_FALSE(group);  // NOLINT(bugprone-use-after-move): moved-from is empty by contract
}

TEST(CallbackGroup, WaitFromItsOwnCallbackIsRefused) {
  const settles_at_end settles;
  modref::callback_group group = make_group();
  absl::Status from_callback;
  event done;
  ASSERT_TRUE(group
                  .submit([&] {
                    from_callback = group.wait();
                    done.set();
                  })
                  .ok());
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(from_callback.code(), absl::StatusCode::kFailedPrecondition) << from_callback;
  ASSERT_TRUE(group.wait().ok());
}

TEST(CallbackGroup, QueueFailureGivesEverythingBackAndKeepsGetLastError) {
  const settles_at_end settles;
  modref::callback_group group = make_group();
  std::atomic<DWORD> destroyed_on{0};
  seams().fail_next_submit.store(ERROR_NOT_ENOUGH_MEMORY);
  const absl::Status failed = group.submit([p = destroy_probe(&destroyed_on)] {});
  EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_NOT_ENOUGH_MEMORY));
  EXPECT_EQ(modref::win32_error_code(failed), std::optional<DWORD>(ERROR_NOT_ENOUGH_MEMORY))
      << failed;
  EXPECT_EQ(destroyed_on.load(), ::GetCurrentThreadId()) << "the callable was not given back here";
  EXPECT_EQ(group.outstanding(), 0);
  EXPECT_TRUE(modref_pool_test::activity_is(settles.base()));
  ASSERT_TRUE(group.submit([] {}).ok()) << "a failed submit must leave the group usable";
}

TEST(CallbackGroup, PinFailureGivesTheShareAndTheCallableBack) {
  const settles_at_end settles;
  modref::callback_group group = make_group();
  std::atomic<DWORD> destroyed_on{0};
  modref::detail::g_test_seams.fail_next_pin.store(ERROR_MOD_NOT_FOUND);
  const absl::Status failed = group.submit([p = destroy_probe(&destroyed_on)] {});
  EXPECT_EQ(modref::win32_error_code(failed), std::optional<DWORD>(ERROR_MOD_NOT_FOUND)) << failed;
  EXPECT_NE(destroyed_on.load(), 0u) << "the callable was kept";
  EXPECT_EQ(group.outstanding(), 0) << "the group's count kept the failed submission";
  ASSERT_TRUE(group.wait().ok());  // returns at once: nothing is outstanding
}

// A callable whose move throws std::bad_alloc while the context is being built: the share taken
// for it must be given back exactly once.
struct throws_when_moved {
  throws_when_moved() = default;
  throws_when_moved(throws_when_moved&&) { throw std::bad_alloc(); }
  void operator()() const {}
};

TEST(CallbackGroup, CallableThatThrowsWhileMovedGivesTheShareBackOnce) {
  const settles_at_end settles;
  modref::callback_group group = make_group();
  const absl::Status failed = group.submit(throws_when_moved{});
  EXPECT_EQ(failed.code(), absl::StatusCode::kResourceExhausted) << failed;
  EXPECT_EQ(group.outstanding(), 0);
  ASSERT_TRUE(group.submit([] {}).ok());
  ASSERT_TRUE(group.wait().ok());
  EXPECT_EQ(group.outstanding(), 0);
}

// The destructor must wait for a running callback. The callback holds the pool thread for
// kQuietMs after it starts; a destructor that returned early would see it unfinished.
TEST(CallbackGroup, DestructorWaitsForTheRunningCallback) {
  const settles_at_end settles;
  event running, never;
  std::atomic<bool> finished{false};
  {
    modref::callback_group group = make_group();
    ASSERT_TRUE(group
                    .submit([&] {
                      running.set();
                      never.wait(kQuietMs);  // the callback's duration, not a rendezvous
                      finished = true;
                    })
                    .ok());
    ASSERT_TRUE(running.wait());
  }
  EXPECT_TRUE(finished.load()) << "the destructor returned while a callback was running";
}

TEST(CallbackGroup, ConcurrentSubmittersAndCancel) {
  const settles_at_end settles;
  modref::callback_group group = make_group();
  std::atomic<int> accepted{0}, ran{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        if (group.submit([&ran] { ++ran; }).ok()) ++accepted;
      }
    });
  }
  group.cancel();
  for (auto& t : submitters) t.join();
  ASSERT_TRUE(group.wait().ok());
  EXPECT_LE(ran.load(), accepted.load());
  EXPECT_EQ(group.outstanding(), 0);
}

// A DLL global group, destroyed by DLL_PROCESS_DETACH on the pool thread whose
// FreeLibraryWhenCallbackReturns unloads the DLL: no deadlock, no crash, the DLL unloads.
TEST(CallbackGroup, DllGlobalGroupSurvivesUnloadFromItsOwnCallback) {
  const wchar_t* name = L"callback_group_dll.dll";
  ASSERT_FALSE(modref_test::is_loaded(name));
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(name).c_str());
  ASSERT_NE(dll, nullptr);
  auto submit = get_export<DWORD (*)(HANDLE, HANDLE)>(dll, "group_submit");
  auto outstanding = get_export<long (*)()>(dll, "group_outstanding");
  ASSERT_NE(submit, nullptr);
  ASSERT_NE(outstanding, nullptr);
  event gate, done;
  ASSERT_EQ(submit(gate.get(), done.get()), 0u);
  EXPECT_EQ(outstanding(), 1);
  ::FreeLibrary(dll);
  EXPECT_TRUE(modref_test::is_loaded(name)) << "unloaded under a queued group callback";
  gate.set();
  ASSERT_TRUE(done.wait());
  EXPECT_TRUE(modref_test::wait_until_unloaded(name)) << "the group's callback kept a pin";
}

}  // namespace
