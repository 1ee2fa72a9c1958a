// <modref/coroutine_awaitables.h> — thread-pool awaitables that keep the awaiting DLL loaded:
// modref::resume_background(), resume_after(duration), resume_on_signal(handle, timeout).
//
// Each awaitable queues its resumption in a callback environment that names the calling module
// (SetThreadpoolCallbackLibrary, as every modref pool object), so the module stays loaded while
// the resumption is pending and while it runs. The callback that resumes the coroutine opens a
// detail::coro_resume_scope: a modref frame that ends inside it gives its pin to
// FreeLibraryWhenCallbackReturns, the last act of the pool thread in the DLL. C++/WinRT's and
// WIL's resume_background submit with no environment at all (docs/comparison.md).
//
// Example:
//
//   modref::fire_and_forget poll(std::stop_token stop, HANDLE data_ready) {
//     for (;;) {
//       modref::wake_result woke =
//           co_await modref::resume_on_signal(data_ready, std::chrono::seconds(1), stop);
//       if (woke.cancelled()) co_return;      // the plugin is shutting down: leave promptly
//       if (woke) consume();                  // signalled (otherwise: timed out, poll again)
//       co_await modref::resume_after(std::chrono::milliseconds(50), stop);
//     }
//   }
//   // Plugin shutdown: stop_source.request_stop() resumes every waiting poll() at once, each
//   // finishes, and the DLL unloads after the last frame is gone.
//
// Errors (each co_await throws std::system_error, and nothing is queued or leaked):
//   - resume_after with a negative duration, resume_on_signal with a null or
//     INVALID_HANDLE_VALUE handle or a negative timeout: errc::invalid_argument, thrown by the
//     factory function itself;
//   - during process termination (the pool must not be used): errc::operation_not_permitted;
//     coroutines already suspended then are abandoned (never resumed, never destroyed);
//   - under the loader lock (inside any DllMain): errc::resource_deadlock_would_occur;
//   - the pool's own failure (CreateThreadpoolTimer, TrySubmitThreadpoolCallback, ...): the Win32
//     error in std::system_category(); the coroutine continues on the awaiting thread and sees it.
//
// Cancellation: resume_after and resume_on_signal take an optional std::stop_token. A stop
// request claims the wake-up (the timer or wait loses), disarms the pool object, waits for any of
// its callbacks that had already started, and resumes the coroutine on a modref pool callback
// with wake_result::cancelled(). A token already stopped when the co_await starts (or stopped
// while it registers) does not suspend at all. The requesting thread runs a few instructions of
// this module after it has queued the resumption: a host that requests the stop from its own
// module after it has FreeLibrary'd this one holds a reference across request_stop()
// (docs/design.md, "Stop callbacks").
//
// Lifetime: the awaitable lives in the awaiting frame; its pool object is closed before the
// coroutine continues. A custom pool given through threadpool_options must outlive the await.
//
// Thread safety / memory ordering: one atomic claim decides between the pool callback and the
// stop callback (acq_rel compare-exchange: the winner sees the awaiter as the awaiting thread
// left it); one atomic count of the resumption's parts decides who resumes (acq_rel: the last one
// to finish its part sees everything the others did); one atomic state decides who destroys the
// stop callback: the requesting thread inside its own invocation once that has started, so that
// no thread ever waits in ~stop_callback for another (docs/design.md, "Stop callbacks").
#ifndef MODREF_COROUTINE_AWAITABLES_H_
#define MODREF_COROUTINE_AWAITABLES_H_

#ifndef _WIN32
#error "<modref/coroutine_awaitables.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <chrono>
#include <coroutine>
#include <optional>
#include <stop_token>
#include <string_view>
#include <system_error>
#include <utility>

#include "modref/detail/coroutine_frame.h"

namespace modref {

// modref::wake_reason / modref::wake_result
// Why a waiting awaitable resumed. A wake_result converts to true when what was awaited happened
// (the delay elapsed, the handle was signalled), false when it timed out or was cancelled.
enum class wake_reason { completed, timed_out, cancelled };

struct wake_result {
  wake_reason reason = wake_reason::completed;
  explicit operator bool() const noexcept { return reason == wake_reason::completed; }
  bool timed_out() const noexcept { return reason == wake_reason::timed_out; }
  bool cancelled() const noexcept { return reason == wake_reason::cancelled; }
  friend bool operator==(const wake_result&, const wake_result&) = default;
};

namespace detail {

// detail::background_awaiter: what resume_background() returns.
class background_awaiter {
 public:
  explicit background_awaiter(const threadpool_options& options) noexcept : options_(options) {}

  bool await_ready() const noexcept { return false; }

  bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
    refusal_ = coro_may_suspend();
    if (refusal_ != coro_refusal::none) return false;
    frame_ = awaiting;
    TP_CALLBACK_ENVIRON env;
    tp_build_environment(env, options_);
    const BOOL queued = ::TrySubmitThreadpoolCallback(&entry, this, &env);
    ::DestroyThreadpoolEnvironment(&env);
    if (queued) return true;  // `this` may already be gone: touch nothing
    refusal_ = coro_refusal::win32_error;
    error_ = ::GetLastError();
    return false;
  }

  void await_resume() const {
    if (refusal_ != coro_refusal::none) {
      throw coro_refusal_error(refusal_, error_, "co_await modref::resume_background");
    }
  }

 private:
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE instance, void* raw) noexcept {
    coro_resume_scope scope(instance, current_module());  // first object: its destructor is last
    static_cast<background_awaiter*>(raw)->frame_.resume();
  }

  threadpool_options options_;
  std::coroutine_handle<> frame_;
  coro_refusal refusal_ = coro_refusal::none;
  DWORD error_ = 0;
};

// The pool objects a waiting awaiter can use: a timer (resume_after) or a wait (resume_on_signal).
struct coro_timer_traits {
  using handle_type = PTP_TIMER;
  static constexpr std::string_view kWhat = "co_await modref::resume_after";
  static constexpr const char* kCreate = "CreateThreadpoolTimer";
  static void stop(handle_type h) noexcept { ::SetThreadpoolTimer(h, nullptr, 0, 0); }
  static void wait(handle_type h) noexcept { ::WaitForThreadpoolTimerCallbacks(h, TRUE); }
  static void close(handle_type h) noexcept { ::CloseThreadpoolTimer(h); }
};
struct coro_wait_traits {
  using handle_type = PTP_WAIT;
  static constexpr std::string_view kWhat = "co_await modref::resume_on_signal";
  static constexpr const char* kCreate = "CreateThreadpoolWait";
  static void stop(handle_type h) noexcept { ::SetThreadpoolWait(h, nullptr, nullptr); }
  static void wait(handle_type h) noexcept { ::WaitForThreadpoolWaitCallbacks(h, TRUE); }
  static void close(handle_type h) noexcept { ::CloseThreadpoolWait(h); }
};

// detail::pool_wait_awaiter<Traits>
// A one-shot pool timer or wait plus an optional stop callback; whoever claims the wake-up first
// (the pool callback or the stop request) decides the result. The coroutine is resumed by
// whoever finishes the last of its parts: the awaiting thread's arming, the winner's wake-up and,
// with a stop token, the disposal of the stop callback. That is the winning pool callback (the
// usual case), a resumption callback queued by the stop request, or, when the others were faster
// than the arming, await_suspend returning false (the coroutine continues on the awaiting thread).
//
// The stop callback is never destroyed by one thread while it runs on another (docs/design.md,
// "Stop callbacks"): once its invocation has started, the requesting thread destroys it inside
// that invocation (the standard lets a stop_callback be destroyed by its own callback without
// blocking); any other thread destroys it only after claiming it before it started, with no stop
// requested. ~stop_callback on another thread would wait for the invocation to return, and
// libstdc++ 12 without a futex (MinGW) does that wait on a condition variable whose wake-up can be
// lost (notified without its mutex) or, across modules linked with -static, never sent to it.
template <class Traits>
class pool_wait_awaiter {
  using handle_type = typename Traits::handle_type;

 public:
  pool_wait_awaiter(const threadpool_options& options, std::stop_token stop) noexcept
      : options_(options), stop_(std::move(stop)) {}
  pool_wait_awaiter(const pool_wait_awaiter&) = delete;  // the pool callback knows its address
  pool_wait_awaiter& operator=(const pool_wait_awaiter&) = delete;

  bool await_ready() noexcept {
    if (stop_.stop_requested()) {
      result_.reason = wake_reason::cancelled;
      return true;
    }
    return false;
  }

  void await_resume() const {
    if (refusal_ != coro_refusal::none) throw coro_refusal_error(refusal_, error_, Traits::kWhat);
  }

 protected:
  // Creates the pool object through `create`, registers the stop callback, then arms the object
  // through `arm` (after the registration, so that only a stop request can race it). Returns
  // what await_suspend returns.
  template <class Create, class Arm>
  bool suspend(std::coroutine_handle<> awaiting, Create create, Arm arm) noexcept {
    refusal_ = coro_may_suspend();
    if (refusal_ != coro_refusal::none) return false;
    frame_ = awaiting;
    TP_CALLBACK_ENVIRON env;
    tp_build_environment(env, options_);
    object_ = create(this, &env);
    ::DestroyThreadpoolEnvironment(&env);
    if (object_ == nullptr) {
      refusal_ = coro_refusal::win32_error;
      error_ = ::GetLastError();
      return false;
    }
    if (stop_.stop_possible()) {
      // Relaxed: nothing else sees the awaiter yet; the registration (the stop state's lock)
      // publishes these to the requesting thread.
      shares_.store(3, std::memory_order_relaxed);
      registering_thread_ = ::GetCurrentThreadId();
      cb_state_.store(kRegistering, std::memory_order_relaxed);
      // Runs on_stop() right here, on this thread, if a stop is already requested.
      on_stop_.emplace(stop_, stop_request{this});
      int expected = kRegistering;
      // acq_rel: the release publishes the finished stop_callback (and the optional holding it)
      // to a requester waiting for it in on_stop(); the acquire sees what an inline on_stop() did.
      if (!cb_state_.compare_exchange_strong(expected, kArmed, std::memory_order_acq_rel)) {
        // on_stop() ran inline (kInlineRan): the callback was never registered and ran on this
        // thread, so destroying it cannot wait; the pool object was never armed.
        on_stop_.reset();
        Traits::close(object_);
        return false;  // continue here, cancelled
      }
    } else {
      shares_.store(2, std::memory_order_relaxed);  // published by arming the pool object
    }
    arm(object_);
    if (!arrive(1)) return true;
    // The others finished before the arming did: continue here, on the awaiting thread.
    finish_on_this_thread(false);
    return false;
  }

  // The pool object's callback. `reason` is what its firing means.
  void fired(wake_reason reason) noexcept {
    int expected = kPending;
    // acq_rel (both): see the header comment. The loser touches nothing more; whoever resumes
    // waits for this callback to return (Traits::wait).
    if (!claim_.compare_exchange_strong(expected, kFired, std::memory_order_acq_rel)) return;
    result_.reason = reason;
    const int parts = dispose_unstarted_stop_callback() ? 2 : 1;
    if (!arrive(parts)) return;
    finish_on_this_thread(true);
    frame_.resume();
  }

 private:
  enum : int { kPending = 0, kFired = 1, kCancelled = 2 };  // claim_
  // cb_state_: who may destroy the stop callback.
  enum : int {
    kNoCallback = 0,  // no stop token, or not yet registered
    kRegistering,     // the awaiting thread is inside the stop_callback constructor
    kArmed,           // registered; its invocation has not started; nobody is destroying it
    kInBody,          // its invocation started on the requesting thread, which destroys it
    kDisposing,       // claimed before its invocation by a thread that destroys it
    kInlineRan,       // it ran inside its constructor (stop already requested)
  };

  struct stop_request {
    pool_wait_awaiter* self;
    void operator()() const noexcept { self->on_stop(); }
  };

  // pool_wait_awaiter::arrive(parts)
  // Counts `parts` of the resumption as done; true for the caller that finished the last one,
  // which resumes. acq_rel: the last one sees everything the others wrote.
  bool arrive(int parts) noexcept {
    return shares_.fetch_sub(parts, std::memory_order_acq_rel) == parts;
  }

  // The stop callback's invocation, on the thread that requested the stop (or inside
  // on_stop_.emplace above, when it was already requested).
  void on_stop() noexcept {
    int state = cb_state_.load(std::memory_order_acquire);
    for (;;) {
      if (state == kRegistering) {
        if (registering_thread_ == ::GetCurrentThreadId()) {
          // Inline, inside the constructor: nothing is armed yet, so the cancellation wins; the
          // awaiting thread sees kInlineRan when the constructor returns and continues at once.
          // Relaxed: read by this same thread.
          claim_.store(kCancelled, std::memory_order_relaxed);
          result_.reason = wake_reason::cancelled;
          cb_state_.store(kInlineRan, std::memory_order_relaxed);
          return;
        }
        // Registered and invoked while the awaiting thread is still returning from the
        // constructor (a few instructions that never block): the object must be complete before
        // this thread destroys it.
        ::SwitchToThread();
        state = cb_state_.load(std::memory_order_acquire);
        continue;
      }
      // kDisposing: another thread claimed the callback before this invocation started and is
      // destroying it (its destructor waits for this invocation to return): touch nothing more.
      if (state != kArmed) return;
      // acq_rel: against fired()'s claim of the callback.
      if (cb_state_.compare_exchange_weak(state, kInBody, std::memory_order_acq_rel)) break;
    }
    int expected = kPending;
    // acq_rel: see the header comment. Losing means the pool callback claimed the wake-up.
    const bool won =
        claim_.compare_exchange_strong(expected, kCancelled, std::memory_order_acq_rel);
    if (won) result_.reason = wake_reason::cancelled;
    on_stop_.reset();  // inside its own invocation, on this thread: does not wait
    if (arrive(won ? 2 : 1)) {
      // Last part: resume on a modref pool callback, not on the thread that requested the stop.
      TP_CALLBACK_ENVIRON env;
      tp_build_environment(env, options_);
      const BOOL queued = ::TrySubmitThreadpoolCallback(&resume_entry, this, &env);
      ::DestroyThreadpoolEnvironment(&env);
      if (!queued) {
        // No pool callback could be queued: resume on this thread rather than never.
        coro_resume_scope scope(nullptr, current_module());
        finish_on_this_thread(false);
        frame_.resume();
        return;
      }
    }
#if defined(MODREF_TEST_SEAMS)
    // The awaiter may be gone by now: the hook is global.
    if (auto hook = g_coro_test_seams.after_stop_callback.load(std::memory_order_acquire)) hook();
#endif
  }

  // Called by the winning pool callback: destroys the stop callback when its invocation has not
  // started and no stop is requested, and returns true (that part is done). Otherwise the
  // invocation, started or certain to come (a registered callback runs on every stop request),
  // destroys it on the requesting thread, and this returns false.
  bool dispose_unstarted_stop_callback() noexcept {
    // Acquire: pairs with the awaiting thread's release of kArmed.
    int state = cb_state_.load(std::memory_order_acquire);
    if (state != kArmed || stop_.stop_requested()) return false;
    // acq_rel: against on_stop()'s claim of the callback.
    if (!cb_state_.compare_exchange_strong(state, kDisposing, std::memory_order_acq_rel)) {
      return false;  // its invocation has just started (kInBody)
    }
    // Unregisters it without waiting -- unless a stop request took the stop state's lock between
    // the check above and the destructor's own, the one window left (docs/design.md).
    on_stop_.reset();
    return true;
  }

  static void CALLBACK resume_entry(PTP_CALLBACK_INSTANCE instance, void* raw) noexcept {
    coro_resume_scope scope(instance, current_module());  // first object: its destructor is last
    auto* self = static_cast<pool_wait_awaiter*>(raw);
    self->finish_on_this_thread(false);
    self->frame_.resume();
  }

  // Before the coroutine continues (the stop callback is gone by now: its disposal was a part):
  // no pool callback may touch this awaiter any more, and the pool object is closed.
  // `in_own_callback`: we are the pool object's winning callback, which must not wait for
  // itself; it was one-shot and cannot fire again.
  void finish_on_this_thread(bool in_own_callback) noexcept {
    if (in_own_callback) {
      Traits::close(object_);  // released once this callback returns
      return;
    }
    Traits::stop(object_);
    Traits::wait(object_);  // a callback that lost the claim may still be returning
    Traits::close(object_);
  }

  threadpool_options options_;
  std::stop_token stop_;
  std::optional<std::stop_callback<stop_request>> on_stop_;
  std::coroutine_handle<> frame_;
  handle_type object_ = nullptr;
  DWORD registering_thread_ = 0;  // written before the registration publishes it
  std::atomic<int> claim_{kPending};
  std::atomic<int> cb_state_{kNoCallback};
  std::atomic<int> shares_{2};  // set by suspend(): the parts still to finish

 protected:
  wake_result result_;
  coro_refusal refusal_ = coro_refusal::none;
  DWORD error_ = 0;
};

class timer_awaiter : public pool_wait_awaiter<coro_timer_traits> {
 public:
  timer_awaiter(std::chrono::nanoseconds delay, const threadpool_options& options,
                std::stop_token stop) noexcept
      : pool_wait_awaiter(options, std::move(stop)), delay_(delay) {}

  bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
    return suspend(
        awaiting,
        [](void* self, PTP_CALLBACK_ENVIRON env) {
          return ::CreateThreadpoolTimer(&entry, self, env);
        },
        [this](PTP_TIMER timer) {
          FILETIME due = tp_relative_filetime(delay_);
          ::SetThreadpoolTimer(timer, &due, 0, 0);
        });
  }
  wake_result await_resume() const {
    pool_wait_awaiter::await_resume();
    return result_;
  }

 private:
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE instance, void* raw, PTP_TIMER) noexcept {
    coro_resume_scope scope(instance, current_module());  // first object: its destructor is last
    static_cast<timer_awaiter*>(raw)->fired(wake_reason::completed);
  }
  std::chrono::nanoseconds delay_;
};

class signal_awaiter : public pool_wait_awaiter<coro_wait_traits> {
 public:
  signal_awaiter(HANDLE handle, std::optional<std::chrono::nanoseconds> timeout,
                 const threadpool_options& options, std::stop_token stop) noexcept
      : pool_wait_awaiter(options, std::move(stop)), handle_(handle), timeout_(timeout) {}

  bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
    return suspend(
        awaiting,
        [](void* self, PTP_CALLBACK_ENVIRON env) {
          return ::CreateThreadpoolWait(&entry, self, env);
        },
        [this](PTP_WAIT wait) {
          if (timeout_.has_value()) {
            FILETIME expiry = tp_relative_filetime(*timeout_);
            ::SetThreadpoolWait(wait, handle_, &expiry);
          } else {
            ::SetThreadpoolWait(wait, handle_, nullptr);
          }
        });
  }
  wake_result await_resume() const {
    pool_wait_awaiter::await_resume();
    return result_;
  }

 private:
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE instance, void* raw, PTP_WAIT,
                             TP_WAIT_RESULT result) noexcept {
    coro_resume_scope scope(instance, current_module());  // first object: its destructor is last
    static_cast<signal_awaiter*>(raw)->fired(result == WAIT_OBJECT_0 ? wake_reason::completed
                                                                     : wake_reason::timed_out);
  }
  HANDLE handle_;
  std::optional<std::chrono::nanoseconds> timeout_;
};

inline std::system_error coro_bad_argument(std::string_view what, std::string_view why) {
  return std::system_error(std::make_error_code(std::errc::invalid_argument),
                           absl::StrCat(what, ": ", why));
}

}  // namespace detail

// modref::resume_background(options)
// `co_await modref::resume_background()` continues the coroutine on a pool thread (the default
// pool, or options.pool), in an environment that keeps the calling module loaded.
[[nodiscard]] inline detail::background_awaiter resume_background(
    const threadpool_options& options = {}) noexcept {
  return detail::background_awaiter(options);
}

// modref::resume_after(delay, stop, options)
// `co_await modref::resume_after(d)` continues the coroutine on a pool thread once `d` has
// elapsed; the wake_result is true then, cancelled() when `stop` was requested first. Throws
// std::system_error(invalid_argument) for a negative delay.
[[nodiscard]] inline detail::timer_awaiter resume_after(std::chrono::nanoseconds delay,
                                                        std::stop_token stop = {},
                                                        const threadpool_options& options = {}) {
  if (delay.count() < 0) {
    throw detail::coro_bad_argument("modref::resume_after", "negative delay");
  }
  return detail::timer_awaiter(delay, options, std::move(stop));
}

// modref::resume_on_signal(handle, timeout, stop, options)
// `co_await modref::resume_on_signal(h, t)` continues the coroutine on a pool thread when `h` is
// signalled (the wake_result is true), when `t` has elapsed (timed_out(); nullopt: no timeout), or
// when `stop` is requested (cancelled()). `h` must stay open until the coroutine continues.
// Throws std::system_error(invalid_argument) for a null or INVALID_HANDLE_VALUE handle or a
// negative timeout.
[[nodiscard]] inline detail::signal_awaiter resume_on_signal(
    HANDLE handle, std::optional<std::chrono::nanoseconds> timeout = std::nullopt,
    std::stop_token stop = {}, const threadpool_options& options = {}) {
  constexpr std::string_view what = "modref::resume_on_signal";
  if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
    throw detail::coro_bad_argument(what, "null or invalid handle");
  }
  if (timeout.has_value() && timeout->count() < 0) {
    throw detail::coro_bad_argument(what, "negative timeout");
  }
  return detail::signal_awaiter(handle, timeout, options, std::move(stop));
}

}  // namespace modref

#endif  // MODREF_COROUTINE_AWAITABLES_H_
