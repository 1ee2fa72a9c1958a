// <modref/mutex.h> — a mutex and a condition variable that are safe in the callbacks and workers of
// a DLL that can be unloaded.
//
// Pool threads outlive the DLLs whose callbacks they run, and a modref worker keeps running for a
// moment after it has handed its module reference to FreeLibraryAndExitThread. Any per-thread
// state such a thread picks up while it runs the DLL's code must therefore not need the DLL's code
// to be cleaned up. absl::Mutex breaks that rule under contention: the blocked thread gets an
// Abseil thread identity whose destructor is code in the DLL (with MinGW, registered with
// winpthreads), called when the pool thread exits, long after the DLL is gone. With MinGW,
// std::mutex and std::condition_variable sit on winpthreads, which keeps per-thread data of its
// own (docs/patterns.md, pattern 17). modref::mutex and modref::condition_variable have no
// per-thread state at all: on Windows an SRWLOCK and a CONDITION_VARIABLE
// (<modref/detail/mutex_win32.h>), elsewhere std::mutex and std::condition_variable, which are
// glibc's pthread primitives and what ThreadSanitizer understands (<modref/detail/mutex_posix.h>).
// They carry Abseil's thread-safety annotations, so ABSL_GUARDED_BY works with them as with
// absl::Mutex.
//
// Example: a cache refreshed from pool callbacks, with a reader that waits for the first refresh.
//
//   class cache {
//    public:
//     absl::Status refresh_later() {
//       return group_.submit([this] {
//         std::string value = load();                  // slow, outside the lock
//         modref::mutex_lock lock(mu_);
//         value_ = std::move(value);
//         ready_ = true;                               // unlocking re-evaluates awaiters
//       });
//     }
//     // Waits up to a second for the first refresh.
//     absl::StatusOr<std::string> get() const {
//       modref::mutex_lock lock(mu_);
//       if (!mu_.await_for(this, &cache::ready, absl::Seconds(1))) {
//         return absl::DeadlineExceededError("cache: not loaded yet");
//       }
//       return value_;
//     }
//
//    private:
//     bool ready() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ready_; }
//     static std::string load();
//     mutable modref::mutex mu_;
//     std::string value_ ABSL_GUARDED_BY(mu_);
//     bool ready_ ABSL_GUARDED_BY(mu_) = false;
//     // Last member: its destructor waits for the callbacks that use the members above.
//     modref::callback_group group_ = modref::callback_group::create().value();
//   };
//
// modref::mutex::await() is the absl::Mutex::Await model: the condition is re-evaluated every time
// the mutex is unlocked, so no notify is forgotten and a waiter that times out cannot swallow a
// wake-up meant for another. modref::condition_variable is the std model (notify explicitly) for
// code that prefers it.
//
// Lifetime
//   - Neither type needs a cleanup call; on Windows both are trivially destructible words that
//     need no initialisation call either. Destroying a mutex that is held or awaited, or a
//     condition_variable that a thread waits on, is undefined, as for every mutex.
//   - Neither is copyable or movable: waiters hold their address.
//
// Thread safety / memory ordering
//   - unlock() is a release and lock() an acquire: everything written under the mutex
//     happens-before the next owner's reads. Waits release and re-acquire the mutex with the same
//     guarantees.
//   - Not recursive (locking twice on one thread deadlocks), not fair (a waiter may be overtaken),
//     exclusive only.
//   - Clang's -Wthread-safety checks a lambda's body without knowing the caller holds the mutex;
//     pass a const member function (await(this, &T::ready)) as absl::Condition does, or mark the
//     lambda ABSL_NO_THREAD_SAFETY_ANALYSIS.
#ifndef MODREF_MUTEX_H_
#define MODREF_MUTEX_H_

#include <chrono>
#include <concepts>
#include <cstddef>
#include <functional>
#include <type_traits>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"

#if defined(_WIN32)
#include "modref/detail/mutex_win32.h"
#else
#include "modref/detail/mutex_posix.h"
#endif

namespace modref {

namespace detail {

// detail::wait_deadline
// A steady-clock deadline `timeout` from now. Timeouts beyond a century are a century: adding
// absl's "nearly infinite" durations to now() would overflow.
inline std::chrono::steady_clock::time_point wait_deadline(absl::Duration timeout) {
  constexpr absl::Duration kLongest = absl::Hours(24 * 365 * 100);
  const absl::Duration bounded = timeout < kLongest ? timeout : kLongest;
  return std::chrono::steady_clock::now() + absl::ToChronoNanoseconds(bounded);
}

}  // namespace detail

class condition_variable;

// modref::mutex
// An exclusive, non-recursive mutex with absl::Mutex-style await(): see the header comment.
class ABSL_LOCKABLE mutex {
 public:
  mutex() = default;
  mutex(const mutex&) = delete;  // waiters hold its address
  mutex& operator=(const mutex&) = delete;

  // mutex::lock()
  // Blocks until this thread owns the mutex.
  void lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { native_.lock(); }

  // mutex::try_lock()
  // Takes the mutex if it is free and returns true; returns false at once otherwise.
  [[nodiscard]] bool try_lock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) { return native_.try_lock(); }

  // mutex::unlock()
  // Releases the mutex; if threads are inside await(), wakes them to re-evaluate their conditions.
  void unlock() ABSL_UNLOCK_FUNCTION() {
    const bool wake = awaiting_ != 0;  // read while still owning the mutex
    native_.unlock();
    if (wake) released_.notify_all();
  }

  // mutex::await(condition)
  // With the mutex held, blocks until `condition()` is true; returns with the mutex held. The
  // condition is evaluated with the mutex held, first at once and then each time another thread
  // unlocks the mutex. It must not lock the mutex or have side effects.
  template <class Condition>
  requires std::predicate<Condition&>
  void await(Condition&& condition) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    if (condition()) return;
    ++awaiting_;
    do {
      released_.wait(native_);
    } while (!condition());
    --awaiting_;
  }

  // mutex::await(object, predicate)
  // await() on `(object->*predicate)()`, the form absl::Condition(object, &T::method) has.
  template <class T>
  void await(const T* object, bool (T::*predicate)() const) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    await([object, predicate] { return (object->*predicate)(); });
  }

  // mutex::await_for(condition, timeout)
  // As await(), but gives up after `timeout` and returns the condition's value at that point
  // (true: it holds; false: it timed out). Returns with the mutex held either way. A zero or
  // negative timeout only evaluates the condition; absl::InfiniteDuration() waits like await().
  template <class Condition>
  requires std::predicate<Condition&>
  [[nodiscard]] bool await_for(Condition&& condition, absl::Duration timeout)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    if (timeout == absl::InfiniteDuration()) {
      await(condition);
      return true;
    }
    if (condition()) return true;
    if (timeout <= absl::ZeroDuration()) return false;
    const auto deadline = detail::wait_deadline(timeout);
    ++awaiting_;
    bool holds = false;
    for (;;) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) break;
      released_.wait_for(native_, deadline - now);
      if ((holds = condition())) break;
    }
    --awaiting_;
    return holds || condition();
  }

  // mutex::await_for(object, predicate, timeout)
  // await_for() on `(object->*predicate)()`.
  template <class T>
  [[nodiscard]] bool await_for(const T* object, bool (T::*predicate)() const,
                               absl::Duration timeout) ABSL_EXCLUSIVE_LOCKS_REQUIRED(this) {
    return await_for([object, predicate] { return (object->*predicate)(); }, timeout);
  }

 private:
  friend class condition_variable;
  detail::native_mutex native_;
  detail::native_condition released_;  // awaiters sleep here; unlock() wakes them
  std::size_t awaiting_ = 0;           // threads inside await*(); guarded by native_
};

// modref::mutex_lock
// Holds a modref::mutex for its scope (the absl::MutexLock of modref::mutex).
class ABSL_SCOPED_LOCKABLE mutex_lock {
 public:
  explicit mutex_lock(mutex& mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) { mu_.lock(); }
  mutex_lock(const mutex_lock&) = delete;  // one owner of the held mutex
  mutex_lock& operator=(const mutex_lock&) = delete;
  ~mutex_lock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  mutex& mu_;
};

// modref::condition_variable
// A condition variable for modref::mutex, in the std model: waiters re-check their condition,
// whoever changes it calls notify_one() or notify_all(). Prefer mutex::await() when the waiters'
// conditions are about state the mutex guards: it cannot miss a notify.
class condition_variable {
 public:
  condition_variable() = default;
  condition_variable(const condition_variable&) = delete;  // waiters hold its address
  condition_variable& operator=(const condition_variable&) = delete;

  // condition_variable::wait(mu)
  // Releases `mu` (which the caller holds), sleeps until notified or woken spuriously, and
  // re-acquires `mu`.
  void wait(mutex& mu) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { condition_.wait(mu.native_); }

  // condition_variable::wait(mu, condition)
  // Waits until `condition()` is true; returns with `mu` held.
  template <class Condition>
  requires std::predicate<Condition&>
  void wait(mutex& mu, Condition&& condition) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    while (!condition()) condition_.wait(mu.native_);
  }

  // condition_variable::wait_for(mu, timeout, condition)
  // As wait(mu, condition), but gives up after `timeout`; returns the condition's final value.
  template <class Condition>
  requires std::predicate<Condition&>
  [[nodiscard]] bool wait_for(mutex& mu, absl::Duration timeout, Condition&& condition)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (timeout == absl::InfiniteDuration()) {
      wait(mu, condition);
      return true;
    }
    const auto deadline = detail::wait_deadline(timeout);
    while (!condition()) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      condition_.wait_for(mu.native_, deadline - now);
    }
    return true;
  }

  // condition_variable::notify_one() / notify_all()
  // Wakes one / every thread waiting on this condition variable. May be called with or without
  // the mutex held.
  void notify_one() noexcept { condition_.notify_one(); }
  void notify_all() noexcept { condition_.notify_all(); }

 private:
  detail::native_condition condition_;
};

}  // namespace modref

#endif  // MODREF_MUTEX_H_
