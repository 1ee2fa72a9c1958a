// Tests for <modref/thread.h>: std::thread / std::jthread semantics, exit codes, where the context
// is destroyed, failure handling (with the MODREF_TEST_SEAMS seams), the loader-lock refusal, and
// the unload-while-running race against a real DLL that the host frees at once.
#include <modref/thread.h>

#include <windows.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include <gtest/gtest.h>

#include "../support/test_support.h"

namespace {

template <class Fn>
Fn get_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(dll, name)));
}

// Waits until modref's per-module counters in this executable are back to zero. Workers drop
// their context before FreeLibraryAndExitThread, so this is the moment the last one has finished.
bool activity_drains() {
  for (int i = 0; i < 20000; ++i) {
    if (modref::can_unload_now()) return true;
    ::Sleep(1);
  }
  return false;
}

class unique_event {
 public:
  unique_event() : h_(::CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
  ~unique_event() { ::CloseHandle(h_); }
  unique_event(const unique_event&) = delete;  // one handle, one owner
  unique_event& operator=(const unique_event&) = delete;
  HANDLE get() const { return h_; }
  void set() const { ::SetEvent(h_); }
  bool wait(DWORD ms = 30000) const { return ::WaitForSingleObject(h_, ms) == WAIT_OBJECT_0; }

 private:
  HANDLE h_;
};

TEST(Thread, RunsAndJoinsWithExitCode) {
  modref::thread t([](int a, int b) { return a * b; }, 6, 7);
  EXPECT_TRUE(t.joinable());
  EXPECT_NE(t.get_id(), modref::thread::id());
  EXPECT_NE(t.native_handle(), nullptr);
  absl::StatusOr<DWORD> code = t.try_join();
  ASSERT_TRUE(code.ok()) << code.status();
  EXPECT_EQ(*code, 42u);
  EXPECT_FALSE(t.joinable());
  EXPECT_TRUE(activity_drains());
}

enum class outcome : int { fine = 3 };

TEST(Thread, ExitCodeFromEnumAndZeroForOthers) {
  auto t1 = modref::thread::start([] { return outcome::fine; });
  ASSERT_TRUE(t1.ok());
  EXPECT_EQ(*t1->try_join(), 3u);
  auto t2 = modref::thread::start([] { return std::string("not a number"); });
  ASSERT_TRUE(t2.ok());
  EXPECT_EQ(*t2->try_join(), 0u);
  auto t3 = modref::thread::start([] {});
  ASSERT_TRUE(t3.ok());
  EXPECT_EQ(*t3->try_join(), 0u);
}

TEST(Thread, ArgumentsAreDecayCopiedAndMoveOnlyWorks) {
  std::string text = "hello";
  auto p = std::make_unique<int>(5);
  modref::thread t(
      [](std::string s, std::unique_ptr<int> q) { return static_cast<int>(s.size()) + *q; }, text,
      std::move(p));
  text = "changed after start";  // the thread has its own copy
  DWORD code = 0;
  code = *t.try_join();
  EXPECT_EQ(code, 10u);
}

// The callable and its arguments are destroyed on the worker, before it exits, as std::thread.
TEST(Thread, ContextIsDestroyedOnTheWorker) {
  struct probe {
    std::atomic<DWORD>* destroyed_on;
    bool armed = true;
    probe(std::atomic<DWORD>* d) : destroyed_on(d) {}
    probe(probe&& o) noexcept : destroyed_on(o.destroyed_on) { o.armed = false; }
    ~probe() {
      if (armed) destroyed_on->store(::GetCurrentThreadId());
    }
    void operator()() const {}
  };
  std::atomic<DWORD> destroyed_on{0};
  modref::thread t{probe(&destroyed_on)};
  const DWORD worker = t.get_id().value();
  t.join();
  EXPECT_EQ(destroyed_on.load(), worker);
}

TEST(Thread, StdThreadMisuseIsReported) {
  modref::thread t([] {});
  t.join();
  try {
    t.join();
    FAIL() << "second join must throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
  }
  EXPECT_THROW(t.detach(), std::system_error);
  EXPECT_EQ(t.try_join().status().code(), absl::StatusCode::kFailedPrecondition);

  modref::thread d([] {});
  d.detach();
  EXPECT_FALSE(d.joinable());
  EXPECT_THROW(d.join(), std::system_error);
  EXPECT_TRUE(activity_drains());
}

TEST(Thread, MoveAndSwap) {
  modref::thread a([] { return 1; });
  modref::thread b = std::move(a);
  EXPECT_FALSE(a.joinable());  // NOLINT: moved-from
  EXPECT_TRUE(b.joinable());
  modref::thread c;
  c = std::move(b);
  swap(a, c);
  EXPECT_TRUE(a.joinable());
  EXPECT_EQ(*a.try_join(), 1u);
  EXPECT_GE(modref::thread::hardware_concurrency(), 1u);
}

TEST(Thread, JoiningItselfIsRefusedNotDeadlocked) {
  unique_event assigned;
  modref::thread t;
  std::atomic<int> result{-1};
  t = modref::thread([&] {
    assigned.wait();
    try {
      t.join();
      result = 0;
    } catch (const std::system_error& e) {
      result = e.code() == std::errc::resource_deadlock_would_occur ? 1 : 2;
    }
  });
  assigned.set();
  // The worker's refused join left `t` joinable; join it from here.
  t.join();
  EXPECT_EQ(result.load(), 1);
}

TEST(Thread, NullCallablesAreRejectedAndNothingIsPinned) {
  void (*null_fn)() = nullptr;
  absl::StatusOr<modref::thread> a = modref::thread::start(null_fn);
  ASSERT_FALSE(a.ok());
  EXPECT_EQ(a.status().code(), absl::StatusCode::kInvalidArgument);
  std::function<void()> empty;
  EXPECT_EQ(modref::start_detached(empty).code(), absl::StatusCode::kInvalidArgument);
  try {
    modref::thread t(null_fn);
    FAIL() << "constructor must throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::invalid_argument);
    EXPECT_NE(std::string(e.what()).find("empty callable"), std::string::npos);
  }
  EXPECT_EQ(modref::activity().live_pins, 0);
  EXPECT_EQ(modref::activity().live_contexts, 0);
}

TEST(Thread, CreationFailureGivesEverythingBack) {
  ASSERT_TRUE(activity_drains());
  auto destroyed = std::make_shared<int>(0);
  modref::detail::g_test_seams.fail_next_thread_create.store(ERROR_NOT_ENOUGH_MEMORY);
  ::SetLastError(0);
  absl::StatusOr<modref::thread> t = modref::thread::start([keep = destroyed] {});
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kResourceExhausted) << t.status();
  EXPECT_EQ(modref::win32_error_code(t.status()), std::optional<DWORD>(ERROR_NOT_ENOUGH_MEMORY));
  EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_NOT_ENOUGH_MEMORY))
      << "GetLastError preserved";
  EXPECT_EQ(destroyed.use_count(), 1) << "the callable's copy was destroyed";
  EXPECT_EQ(modref::activity().live_pins, 0);
  EXPECT_EQ(modref::activity().live_contexts, 0);

  modref::detail::g_test_seams.fail_next_thread_create.store(ERROR_MAX_THRDS_REACHED);
  try {
    modref::thread thrown([] {});
    FAIL() << "constructor must throw";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code().value(), ERROR_MAX_THRDS_REACHED);
    EXPECT_EQ(e.code().category(), std::system_category());
  }
  EXPECT_TRUE(modref::can_unload_now());
}

TEST(Thread, PinFailureStartsNothing) {
  modref::detail::g_test_seams.fail_next_pin.store(ERROR_ACCESS_DENIED);
  std::atomic<bool> ran{false};
  absl::Status s = modref::start_detached([&] { ran = true; });
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied) << s;
  EXPECT_FALSE(ran.load());
  EXPECT_TRUE(modref::can_unload_now());
}

TEST(Thread, NameIsVisibleWhereTheSystemSupportsIt) {
  using get_description_fn = HRESULT(WINAPI*)(HANDLE, PWSTR*);
  auto get_description = reinterpret_cast<get_description_fn>(reinterpret_cast<void*>(
      ::GetProcAddress(::GetModuleHandleW(L"kernelbase.dll"), "GetThreadDescription")));
  unique_event named;
  unique_event release;
  modref::thread t(modref::thread_options{.name = L"modref-named", .stack_size = 256 * 1024}, [&] {
    named.set();
    release.wait();
  });
  ASSERT_TRUE(named.wait());
  if (get_description == nullptr) {
    release.set();
    t.join();
    GTEST_SKIP() << "GetThreadDescription is not available on this system";
  }
  PWSTR text = nullptr;
  ASSERT_TRUE(SUCCEEDED(get_description(t.native_handle(), &text)));
  EXPECT_EQ(std::wstring(text), L"modref-named");
  ::LocalFree(text);
  release.set();
  t.join();
}

TEST(JThread, PassesStopTokenAndStopsOnDestruction) {
  std::atomic<bool> saw_stop{false};
  {
    modref::jthread j([&](std::stop_token stop) {
      while (!stop.stop_requested()) ::Sleep(1);
      saw_stop = true;
    });
    EXPECT_TRUE(j.joinable());
    EXPECT_TRUE(j.get_stop_token().stop_possible());
  }
  EXPECT_TRUE(saw_stop.load());
}

TEST(JThread, CallableWithoutStopTokenAndExplicitStop) {
  modref::jthread j([](int v) { return v; }, 9);
  EXPECT_EQ(*j.try_join(), 9u);
  modref::jthread k(
      [](std::stop_token stop, int v) {
        while (!stop.stop_requested()) ::Sleep(1);
        return v;
      },
      4);
  std::stop_source source = k.get_stop_source();
  EXPECT_TRUE(k.request_stop());
  EXPECT_FALSE(source.request_stop()) << "already requested";
  EXPECT_EQ(*k.try_join(), 4u);
  modref::jthread empty;
  EXPECT_FALSE(empty.joinable());
  EXPECT_FALSE(empty.get_stop_token().stop_possible());
}

TEST(JThread, MoveAssignmentStopsAndJoinsTheOldThread) {
  std::atomic<bool> first_stopped{false};
  modref::jthread a([&](std::stop_token stop) {
    while (!stop.stop_requested()) ::Sleep(1);
    first_stopped = true;
  });
  a = modref::jthread([] {});
  EXPECT_TRUE(first_stopped.load());
  a.join();
}

TEST(StartDetached, RunsAndReleasesEverything) {
  unique_event done;
  ASSERT_TRUE(modref::start_detached(
                  [&done](int n) {
                    if (n == 3) done.set();
                  },
                  3)
                  .ok());
  EXPECT_TRUE(done.wait());
  EXPECT_TRUE(activity_drains());
}

using ThreadDeathTest = ::testing::Test;

TEST(ThreadDeathTest, ExceptionEscapingTheCallableTerminates) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        modref::thread t([] { throw std::runtime_error("boom"); });
        t.join();
      },
      "");
}

TEST(ThreadDeathTest, DestroyingAJoinableThreadTerminates) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH({ modref::thread t([] { ::Sleep(100); }); }, "");
}

TEST(ThreadDeathTest, MoveAssigningOntoAJoinableThreadTerminates) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        modref::thread t([] { ::Sleep(100); });
        t = modref::thread([] {});
      },
      "");
}

// --- Against a real DLL that the host unloads at once -------------------------------------------

class AsyncApiDll : public ::testing::TestWithParam<const char*> {};

TEST_P(AsyncApiDll, WorkerOutlivesTheHostsFreeLibraryThenTheModuleUnloads) {
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"async_api_dll.dll").c_str());
  ASSERT_NE(dll, nullptr);
  auto start = get_export<DWORD (*)(HANDLE, HANDLE)>(dll, GetParam());
  ASSERT_NE(start, nullptr);
  unique_event go;
  unique_event done;
  ASSERT_EQ(start(go.get(), done.get()), 0u);
  ::FreeLibrary(dll);  // the host lets go at once, as seed 002's MainHR does
  EXPECT_TRUE(modref_test::is_loaded(L"async_api_dll.dll")) << "the worker's pin keeps it mapped";
  go.set();  // only now does the worker continue: without the pin it would run unmapped code
  EXPECT_TRUE(done.wait()) << "the worker finished its work";
  EXPECT_TRUE(modref_test::wait_until_unloaded(L"async_api_dll.dll"))
      << "the last worker's exit unloads it";
}

INSTANTIATE_TEST_SUITE_P(EachEntryPoint, AsyncApiDll,
                         ::testing::Values("start_with_detached", "start_with_thread",
                                           "start_with_jthread"));

TEST(AsyncApiDllFailures, InjectedFailuresLeakNothingAndTheDllStillUnloads) {
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"async_api_dll.dll").c_str());
  ASSERT_NE(dll, nullptr);
  auto start = get_export<DWORD (*)(HANDLE, HANDLE)>(dll, "start_with_detached");
  auto start_thread = get_export<DWORD (*)(HANDLE, HANDLE)>(dll, "start_with_thread");
  auto inject_pin = get_export<void (*)(DWORD)>(dll, "inject_pin_failure");
  auto inject_create = get_export<void (*)(DWORD)>(dll, "inject_thread_create_failure");
  auto live_contexts = get_export<long (*)()>(dll, "live_contexts");
  auto live_pins = get_export<long (*)()>(dll, "live_pins");
  unique_event go;
  unique_event done;
  inject_create(ERROR_NOT_ENOUGH_MEMORY);
  EXPECT_EQ(start(go.get(), done.get()), static_cast<DWORD>(ERROR_NOT_ENOUGH_MEMORY));
  inject_pin(ERROR_ACCESS_DENIED);
  EXPECT_EQ(start_thread(go.get(), done.get()), static_cast<DWORD>(ERROR_ACCESS_DENIED));
  EXPECT_EQ(live_contexts(), 0);
  EXPECT_EQ(live_pins(), 0);
  ::FreeLibrary(dll);
  EXPECT_FALSE(modref_test::is_loaded(L"async_api_dll.dll")) << "no pin leaked: unloads at once";
}

TEST(LoaderLock, JoinInsideDllMainIsRefusedInsteadOfDeadlocking) {
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"join_in_dllmain_dll.dll").c_str());
  ASSERT_NE(dll, nullptr) << "DllMain returned FALSE or hung";
  EXPECT_EQ(get_export<int (*)()>(dll, "join_status_code")(),
            static_cast<int>(absl::StatusCode::kFailedPrecondition));
  EXPECT_TRUE(get_export<BOOL (*)()>(dll, "join_threw_resource_deadlock")());
  ::FreeLibrary(dll);
  EXPECT_TRUE(modref_test::wait_until_unloaded(L"join_in_dllmain_dll.dll"))
      << "the detached worker ran once the loader lock was free, then released the DLL";
}

}  // namespace
