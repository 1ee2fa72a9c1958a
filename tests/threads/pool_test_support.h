// Helpers shared by the thread-pool tests (threadpool_test.cc, callback_group_test.cc): events
// for rendezvous, bounded polls, a check that every context and pin was released, a private pool
// with one thread (so that "queued" and "running" are observable), a probe that records where a
// callable was destroyed, and typed GetProcAddress.
#ifndef MODREF_TESTS_THREADS_POOL_TEST_SUPPORT_H_
#define MODREF_TESTS_THREADS_POOL_TEST_SUPPORT_H_

#include <modref/threadpool.h>

#include <windows.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

namespace modref_pool_test {

using std::chrono::milliseconds;

// Bound for every rendezvous that should succeed: far beyond any scheduling delay, because Wine
// creates pool threads through wineserver, which is slow on a loaded 2-core machine.
constexpr DWORD kBoundMs = 20'000;
// How long a test watches for something that must NOT happen (a destructor returning early, a
// stopped timer firing). It cannot make a correct test fail; it only limits how long a broken one
// gets to show itself.
constexpr DWORD kQuietMs = 200;

inline auto& seams() { return modref::detail::g_threadpool_test_seams; }

// A manual-reset event.
class event {
 public:
  event() : handle_(::CreateEventW(nullptr, TRUE, FALSE, nullptr)) {}
  ~event() { ::CloseHandle(handle_); }
  event(const event&) = delete;
  event& operator=(const event&) = delete;
  HANDLE get() const { return handle_; }
  void set() const { ::SetEvent(handle_); }
  bool wait(DWORD bound_ms = kBoundMs) const {
    return ::WaitForSingleObject(handle_, bound_ms) == WAIT_OBJECT_0;
  }
  bool is_set() const { return ::WaitForSingleObject(handle_, 0) == WAIT_OBJECT_0; }

 private:
  HANDLE handle_;
};

// Polls `done` until it holds or `bound` passes. Used only where the library releases something
// asynchronously with no event to wait for (a closing callback's last FreeLibrary).
inline bool eventually(const std::function<bool()>& done,
                       milliseconds bound = milliseconds(kBoundMs)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

inline bool activity_is(const modref::activity_snapshot& expected) {
  const modref::activity_snapshot now = modref::activity();
  return now.live_contexts == expected.live_contexts && now.live_pins == expected.live_pins;
}

// Checks, when it goes out of scope, that everything the test queued has been released: callbacks
// release their contexts and pins after they signal the test, so the check polls.
class settles_at_end {
 public:
  settles_at_end() : base_(modref::activity()) {}
  ~settles_at_end() {
    EXPECT_TRUE(eventually([this] { return activity_is(base_); }))
        << "contexts or pins leaked: " << modref::activity().live_contexts << " contexts, "
        << modref::activity().live_pins << " pins; expected " << base_.live_contexts << " and "
        << base_.live_pins;
  }
  settles_at_end(const settles_at_end&) = delete;
  settles_at_end& operator=(const settles_at_end&) = delete;
  const modref::activity_snapshot& base() const { return base_; }

 private:
  modref::activity_snapshot base_;
};

// A private pool with exactly one thread: callbacks queued behind a blocked one stay queued,
// which makes "queued" and "running" observable.
class single_thread_pool {
 public:
  single_thread_pool() : pool_(::CreateThreadpool(nullptr)) {
    ::SetThreadpoolThreadMaximum(pool_, 1);
    ::SetThreadpoolThreadMinimum(pool_, 1);
  }
  ~single_thread_pool() { ::CloseThreadpool(pool_); }
  single_thread_pool(const single_thread_pool&) = delete;
  single_thread_pool& operator=(const single_thread_pool&) = delete;
  modref::threadpool_options options() const { return {.pool = pool_}; }

  // Occupies the pool's only thread until `gate` opens; `running` is set once it holds it.
  void block(const event& gate, const event& running) const {
    ASSERT_TRUE(modref::submit(options(), [&gate, &running] {
                  running.set();
                  gate.wait();
                }).ok());
    ASSERT_TRUE(running.wait());
  }

 private:
  PTP_POOL pool_;
};

// Records where and whether it was destroyed; moves hand the duty to the new object.
struct destroy_probe {
  explicit destroy_probe(std::atomic<DWORD>* thread) : thread_(thread) {}
  destroy_probe(destroy_probe&& other) noexcept : thread_(std::exchange(other.thread_, nullptr)) {}
  ~destroy_probe() {
    if (thread_ != nullptr) thread_->store(::GetCurrentThreadId());
  }
  std::atomic<DWORD>* thread_;
};

// Runs `destroy` on a helper thread and sets the returned event when it returns, so a test can
// watch a destructor that may block.
inline std::thread destroy_on_helper(std::function<void()> destroy, const event& returned) {
  return std::thread([destroy = std::move(destroy), &returned] {
    destroy();
    returned.set();
  });
}

template <class Fn>
Fn get_export(HMODULE dll, const char* name) {
  return reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(dll, name)));
}

}  // namespace modref_pool_test

#endif  // MODREF_TESTS_THREADS_POOL_TEST_SUPPORT_H_
