// <modref/detail/mutex_posix.h> — the non-Windows half of <modref/mutex.h>: std::mutex and
// std::condition_variable. Include <modref/mutex.h>, not this file.
//
// On Linux these are glibc's pthread_mutex_t and pthread_cond_t: a few words of plain memory with
// no per-thread state, and ThreadSanitizer intercepts them, so TSan builds see every
// happens-before edge the mutex creates. (On Windows the same std types may sit on winpthreads,
// which keeps a per-thread record for every waiter: that is why Windows has its own file,
// <modref/detail/mutex_win32.h>.)
//
// Lifetime: as std::mutex. Thread safety / memory ordering: unlock() releases, lock() acquires;
// condition waits release and re-acquire the mutex; wakes may be spurious.
#ifndef MODREF_DETAIL_MUTEX_POSIX_H_
#define MODREF_DETAIL_MUTEX_POSIX_H_

#ifdef _WIN32
#error "<modref/detail/mutex_posix.h> is for non-Windows builds; Windows uses mutex_win32.h"
#endif

#include <chrono>
#include <condition_variable>
#include <mutex>

namespace modref::detail {

// modref::detail::native_mutex
// std::mutex, not recursive.
class native_mutex {
 public:
  native_mutex() noexcept = default;
  native_mutex(const native_mutex&) = delete;  // a lock has one address: waiters point at it
  native_mutex& operator=(const native_mutex&) = delete;

  void lock() { mutex_.lock(); }
  bool try_lock() noexcept { return mutex_.try_lock(); }
  void unlock() noexcept { mutex_.unlock(); }

 private:
  friend class native_condition;
  std::mutex mutex_;
};

// modref::detail::native_condition
// std::condition_variable used with a native_mutex that the caller holds.
class native_condition {
 public:
  native_condition() = default;
  native_condition(const native_condition&) = delete;  // waiters point at it
  native_condition& operator=(const native_condition&) = delete;

  // native_condition::wait(mutex)
  // Releases `mutex` (held by the caller), sleeps until woken (possibly spuriously) and
  // re-acquires it. The unique_lock only lends the already-held mutex to the condition variable.
  void wait(native_mutex& mutex) {
    std::unique_lock<std::mutex> held(mutex.mutex_, std::adopt_lock);
    condition_.wait(held);
    (void)held.release();  // still held: the caller unlocks it
  }

  // native_condition::wait_for(mutex, timeout)
  // As wait(), but returns after at most about `timeout`.
  void wait_for(native_mutex& mutex, std::chrono::nanoseconds timeout) {
    std::unique_lock<std::mutex> held(mutex.mutex_, std::adopt_lock);
    (void)condition_.wait_for(held, timeout);
    (void)held.release();
  }

  void notify_one() noexcept { condition_.notify_one(); }
  void notify_all() noexcept { condition_.notify_all(); }

 private:
  std::condition_variable condition_;
};

}  // namespace modref::detail

#endif  // MODREF_DETAIL_MUTEX_POSIX_H_
