// Tests for <modref/coroutine.h> (the umbrella) under Wine, with a real DLL whose asynchronous
// exports are coroutines: FreeLibrary while they are suspended (on a modref awaitable, on a foreign
// one, on a pending timer with and without cancellation), and refusals inside DllMain.
// (<modref/coroutine_task.h> and <modref/coroutine_awaitables.h> have their own test files.)
//
// Rendezvous use events; every wait is bounded (kBoundMs: see pool_test_support.h).
#include <modref/coroutine.h>

#include <windows.h>

#include <coroutine>
#include <system_error>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "pool_test_support.h"

namespace {

using modref_pool_test::event;
using modref_pool_test::get_export;

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
