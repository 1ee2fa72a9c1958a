// <modref/detail/mutex_win32.h> — the Windows half of <modref/mutex.h>: an exclusive SRWLOCK and
// a CONDITION_VARIABLE. Include <modref/mutex.h>, not this file.
//
// Why these two: they are a pointer-sized word each, need no initialisation call and no cleanup,
// and keep nothing per thread. A thread that blocked on them can outlive the DLL that owned them
// and exit normally: no destructor of the DLL's is registered anywhere on its behalf. absl::Mutex
// (a per-thread identity, reclaimed by a destructor in the DLL) does not have that property, nor
// does a winpthreads-backed std::mutex / std::condition_variable when winpthreads is linked into
// the DLL (winpthreads' per-thread data); see docs/patterns.md, pattern 17.
//
// Lifetime: trivially destructible; destroying a native_mutex that is held, or a native_condition
// that a thread waits on, is undefined (as for every mutex).
//
// Thread safety / memory ordering: AcquireSRWLockExclusive / ReleaseSRWLockExclusive are a full
// acquire / release pair: what a thread wrote before unlock() happens-before what the next owner
// reads after lock(). SleepConditionVariableSRW releases and re-acquires the lock with the same
// guarantees. Wakes may be spurious: callers re-check their condition in a loop.
#ifndef MODREF_DETAIL_MUTEX_WIN32_H_
#define MODREF_DETAIL_MUTEX_WIN32_H_

#ifndef _WIN32
#error "<modref/detail/mutex_win32.h> is the Windows implementation of <modref/mutex.h>"
#endif

#include <windows.h>

#include <chrono>

namespace modref::detail {

// modref::detail::native_mutex
// An exclusive-only SRWLOCK. Not recursive: locking it twice on one thread deadlocks.
class native_mutex {
 public:
  native_mutex() noexcept = default;
  native_mutex(const native_mutex&) = delete;  // a lock has one address: waiters point at it
  native_mutex& operator=(const native_mutex&) = delete;

  void lock() noexcept { ::AcquireSRWLockExclusive(&lock_); }
  bool try_lock() noexcept { return ::TryAcquireSRWLockExclusive(&lock_) != 0; }
  void unlock() noexcept { ::ReleaseSRWLockExclusive(&lock_); }

 private:
  friend class native_condition;
  SRWLOCK lock_ = SRWLOCK_INIT;
};

// modref::detail::native_condition
// A CONDITION_VARIABLE used with a native_mutex held exclusively.
class native_condition {
 public:
  native_condition() noexcept = default;
  native_condition(const native_condition&) = delete;  // waiters point at it
  native_condition& operator=(const native_condition&) = delete;

  // native_condition::wait(mutex)
  // Releases `mutex` (held by the caller), sleeps until woken (possibly spuriously) and
  // re-acquires it.
  void wait(native_mutex& mutex) noexcept {
    ::SleepConditionVariableSRW(&condition_, &mutex.lock_, INFINITE, 0);
  }

  // native_condition::wait_for(mutex, timeout)
  // As wait(), but returns after at most `timeout` (rounded up to whole milliseconds, at most
  // INFINITE - 1 of them; the caller loops on its own deadline).
  void wait_for(native_mutex& mutex, std::chrono::nanoseconds timeout) noexcept {
    using std::chrono::milliseconds;
    const long long ms = std::chrono::ceil<milliseconds>(timeout).count();
    const DWORD bounded = ms <= 0 ? 0 : ms >= INFINITE ? INFINITE - 1 : static_cast<DWORD>(ms);
    ::SleepConditionVariableSRW(&condition_, &mutex.lock_, bounded, 0);
  }

  void notify_one() noexcept { ::WakeConditionVariable(&condition_); }
  void notify_all() noexcept { ::WakeAllConditionVariable(&condition_); }

 private:
  CONDITION_VARIABLE condition_ = CONDITION_VARIABLE_INIT;
};

}  // namespace modref::detail

#endif  // MODREF_DETAIL_MUTEX_WIN32_H_
