// <modref/detail/threadpool_object.h> — the machinery every modref pool object shares.
//
// threadpool_work, threadpool_timer, threadpool_wait (<modref/threadpool.h>) and threadpool_io
// (<modref/threadpool_io.h>) are built from the same parts, kept here so that each public header
// holds only its own objects:
//   - the public vocabulary: on_destroy, callback_instance, pending_callback, threadpool_options;
//   - the callback environment that names the calling module (tp_build_environment);
//   - the refusals: process termination (tp_process_terminating), waiting from an object's own
//     callback or under the loader lock (tp_running_scope, tp_why_not_wait, tp_can_wait_for);
//   - the module's one closing callback for objects whose destructor did not wait
//     (tp_close_node, tp_hand_to_closer, tp_closer_entry);
//   - tp_state / tp_object / tp_facade, the state, policy-driven close and factories of the
//     callable-bound objects, parameterised by a traits class per pool object kind;
//   - the test seams (MODREF_TEST_SEAMS).
// Users include the public headers; nothing here is a stable interface except the public names
// above, which the public headers re-export by including this one.
//
// Example (what a traits class supplies; see tp_work_traits in <modref/threadpool.h>):
//
//   struct my_traits {
//     using handle_type = PTP_WORK;
//     using signature = void(callback_instance) const;
//     using state_type = tp_state<signature>;
//     static constexpr const char* kCreate = "CreateThreadpoolWork";
//     static constexpr std::string_view kCreateWhat = "...::create";
//     static constexpr std::string_view kWaitWhat = "...::wait_for_callbacks";
//     static constexpr std::string_view kCancelWhat = "...::cancel_and_wait";
//     template <class F> static absl::AnyInvocable<signature> adapt(F&& f);
//     static handle_type create(void* state, PTP_CALLBACK_ENVIRON env) noexcept;
//     static void stop(handle_type) noexcept;
//     static pending_callback stop_reporting(handle_type) noexcept;
//     static void wait_callbacks(handle_type, bool cancel) noexcept;
//     static void close(handle_type) noexcept;
//   };
//   // tp_facade<threadpool_work<P>, my_traits, P> then provides create(), waits, reset(), swap().
//
// Lifetime: see <modref/threadpool.h> ("Lifetime"); the closing queue and its lock are
// constant-initialised globals of the module that compiled this header.
//
// Thread safety / memory ordering: see <modref/threadpool.h>; every atomic below states its
// ordering where it is used.
#ifndef MODREF_DETAIL_THREADPOOL_OBJECT_H_
#define MODREF_DETAIL_THREADPOOL_OBJECT_H_

#ifndef _WIN32
#error "<modref/detail/threadpool_object.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <functional>
#include <limits>
#include <new>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "modref/detail/callables.h"
#include "modref/dll_main.h"
#include "modref/module_ref.h"
#include "modref/refcount.h"
#include "modref/win32_error.h"

namespace modref {

// modref::on_destroy
// What a pool object's destructor does with callbacks that are queued or running. See the table
// in the header comment.
enum class on_destroy {
  wait,       // let queued callbacks run, wait for all of them
  cancel,     // drop queued callbacks, wait for running ones
  dont_wait,  // return at once; callbacks finish on their own, the module stays pinned
};

namespace detail {
struct callback_instance_access;
}  // namespace detail

// modref::callback_instance
// What a callback may ask the pool about itself. A callable given to submit(),
// callback_group::submit() or a pool object may take one as its first parameter
// (`[](modref::callback_instance cb) { cb.may_run_long(); ... }`); it is valid only until that
// callable returns. It offers CallbackMayRunLong and nothing else on purpose: the other
// PTP_CALLBACK_INSTANCE operations would break modref's promises. FreeLibraryWhenCallbackReturns
// is how modref hands the callback's module pin over (a second one would unload the module under
// another callback); DisassociateCurrentThreadFromCallback would let the object's waits and
// destructor return while the callable still runs, which is what frees the callable under it; and
// a callback must never end its thread (ExitThread): the thread is on loan.
class callback_instance {
 public:
  // callback_instance::may_run_long()
  // Tells the pool that this callback may block for a long time, so that it starts another
  // thread for queued work if it can (CallbackMayRunLong). True when the pool has, or will
  // create, a thread for that; false when it cannot (it is at its thread maximum). Calling it
  // again in the same callback returns the first answer.
  // Also false without a pool callback (threadpool_io's fallback that completes an operation on
  // the starting thread when no pool callback could be queued).
  bool may_run_long() const noexcept {
    return instance_ != nullptr && ::CallbackMayRunLong(instance_) != FALSE;
  }

 private:
  friend struct detail::callback_instance_access;
  explicit callback_instance(PTP_CALLBACK_INSTANCE instance) noexcept : instance_(instance) {}
  PTP_CALLBACK_INSTANCE instance_;
};

// modref::pending_callback
// What re-arming or stopping a timer or wait did to the callback of its previous setting, as
// reported by SetThreadpoolTimerEx / SetThreadpoolWaitEx (Windows 8 and later).
enum class pending_callback {
  none,       // nothing was cancelled: it was not armed, or its callback runs or is about to
  cancelled,  // it was armed and its callback, not yet due or queued, will not run
  unknown,    // the system has no *Ex function (Windows 7, Wine 8): armed as SetThreadpoolTimer
};

// modref::threadpool_options
// Where and how callbacks run. The callback library is always the calling module. Win32 cleanup
// groups are not offered because CloseThreadpoolCleanupGroupMembers would close modref's objects
// behind their owners' backs; <modref/callback_group.h> cancels and waits for many callbacks.
struct threadpool_options {
  // A pool from CreateThreadpool; null: the process's default pool. It must outlive every object
  // created in it.
  PTP_POOL pool = nullptr;
  TP_CALLBACK_PRIORITY priority = TP_CALLBACK_PRIORITY_NORMAL;
  // SetThreadpoolCallbackRunsLong: a hint that callbacks block for long periods.
  bool may_run_long = false;
};

namespace detail {

#if defined(MODREF_TEST_SEAMS)
// Test seams for the thread pool (compiled only when MODREF_TEST_SEAMS is defined, as in modref's
// own test binaries): injected failures, a simulated process termination, and counters that let a
// test see which path a destructor took.
struct threadpool_test_seams {
  std::atomic<DWORD> fail_next_submit{0};  // the next TrySubmitThreadpoolCallback of submit()
  std::atomic<DWORD> fail_next_create{0};  // the next CreateThreadpoolWork/Timer/Wait
  std::atomic<DWORD> fail_next_closer{0};  // the next hand-over to a closing callback
  std::atomic<bool> simulate_process_terminating{false};
  std::atomic<long> abandoned_for_termination{0};  // destructors that touched nothing
  std::atomic<long> closed_without_waiting{0};     // wait/cancel destructors that could not wait
  std::atomic<long> leaked_after_closer_failure{0};
  // When set, cancel_and_wait() signals this event once it has stopped the object and before it
  // waits, so a test can let a callback re-arm at exactly that point.
  std::atomic<HANDLE> signal_after_cancel_stop{nullptr};
};
inline constinit threadpool_test_seams g_threadpool_test_seams;
#endif

// detail::tp_process_terminating() is process_terminating(), plus the simulation seam.
inline bool tp_process_terminating() noexcept {
#if defined(MODREF_TEST_SEAMS)
  if (g_threadpool_test_seams.simulate_process_terminating.load(std::memory_order_relaxed)) {
    return true;
  }
#endif
  return process_terminating();
}

inline absl::Status tp_termination_refusal(std::string_view what) {
  return absl::FailedPreconditionError(absl::StrCat(
      what,
      ": refused during process termination: the thread pool must not be used once ExitProcess "
      "has begun (Windows ends the process in TppRaiseInvalidParameter; modref refuses on every "
      "system)"));
}

inline absl::Status tp_empty_object(std::string_view what) {
  return absl::FailedPreconditionError(
      absl::StrCat(what, ": the object is empty (default-constructed, moved-from or reset)"));
}

inline absl::Status tp_empty_callable(std::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      what,
      ": empty callable (null function pointer or empty function object); nothing was queued"));
}

// Makes the callback_instance handed to callables (only modref's callback entries may).
struct callback_instance_access {
  static callback_instance make(PTP_CALLBACK_INSTANCE instance) noexcept {
    return callback_instance(instance);
  }
};

// detail::tp_invoke(f, instance, args...)
// Calls f(callback_instance, args...) when f takes the instance first, f(args...) otherwise.
template <class F, class... Args>
void tp_invoke(F&& f, PTP_CALLBACK_INSTANCE instance, Args... args) {
  if constexpr (std::is_invocable_v<F, callback_instance, Args...>) {
    std::invoke(std::forward<F>(f), callback_instance_access::make(instance), args...);
  } else {
    std::invoke(std::forward<F>(f), args...);
  }
}

// Fills `env` for callbacks that keep the calling module loaded while they are outstanding.
inline void tp_build_environment(TP_CALLBACK_ENVIRON& env,
                                 const threadpool_options& options) noexcept {
  ::InitializeThreadpoolEnvironment(&env);
  // current_module() is resolved in the module that compiled this header: the user's DLL.
  ::SetThreadpoolCallbackLibrary(&env, current_module());
  if (options.pool != nullptr) ::SetThreadpoolCallbackPool(&env, options.pool);
  if (options.may_run_long) ::SetThreadpoolCallbackRunsLong(&env);
  ::SetThreadpoolCallbackPriority(&env, options.priority);
}

// ---------------------------------------------------------------------------------------------
// Pool objects

// detail::tp_arm_lock
// An SRWLOCK with Abseil's thread-safety annotations. It orders "may this object be armed?"
// against stop, cancel_and_wait and close (see tp_object): re-arming takes it shared, stopping
// exclusive. SRW locks keep no per-thread state, so pool threads may take it in an unloadable DLL.
class ABSL_LOCKABLE tp_arm_lock {
 public:
  tp_arm_lock() noexcept = default;
  tp_arm_lock(const tp_arm_lock&) = delete;  // a lock is not copied with its owner
  tp_arm_lock& operator=(const tp_arm_lock&) = delete;
  void lock() noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION() { ::AcquireSRWLockExclusive(&lock_); }
  void unlock() noexcept ABSL_UNLOCK_FUNCTION() { ::ReleaseSRWLockExclusive(&lock_); }
  void lock_shared() noexcept ABSL_SHARED_LOCK_FUNCTION() { ::AcquireSRWLockShared(&lock_); }
  void unlock_shared() noexcept ABSL_UNLOCK_FUNCTION() { ::ReleaseSRWLockShared(&lock_); }

 private:
  SRWLOCK lock_ = SRWLOCK_INIT;
};

class ABSL_SCOPED_LOCKABLE tp_exclusive_guard {
 public:
  explicit tp_exclusive_guard(tp_arm_lock& l) noexcept ABSL_EXCLUSIVE_LOCK_FUNCTION(l) : l_(l) {
    l_.lock();
  }
  ~tp_exclusive_guard() ABSL_UNLOCK_FUNCTION() { l_.unlock(); }
  tp_exclusive_guard(const tp_exclusive_guard&) = delete;  // one acquisition, one release
  tp_exclusive_guard& operator=(const tp_exclusive_guard&) = delete;

 private:
  tp_arm_lock& l_;
};

class ABSL_SCOPED_LOCKABLE tp_shared_guard {
 public:
  explicit tp_shared_guard(tp_arm_lock& l) noexcept ABSL_SHARED_LOCK_FUNCTION(l) : l_(l) {
    l_.lock_shared();
  }
  ~tp_shared_guard() ABSL_UNLOCK_FUNCTION() { l_.unlock_shared(); }
  tp_shared_guard(const tp_shared_guard&) = delete;  // one acquisition, one release
  tp_shared_guard& operator=(const tp_shared_guard&) = delete;

 private:
  tp_arm_lock& l_;
};

// detail::tp_close_node
// A pool object's place in its module's queue of objects to close (see tp_closer_entry): a link,
// and the typed function that waits for the object's callbacks, closes it and destroys its state.
struct tp_close_node {
  tp_close_node* next = nullptr;
  module_ref (*finish)(tp_close_node* node) noexcept = nullptr;
  // Closes the object without waiting and leaks its state (when no closing callback can run).
  void (*abandon)(tp_close_node* node) noexcept = nullptr;
  void* state = nullptr;
};

// The state a pool object shares with its callbacks. Owned by the object, or by the closing
// callback after a destructor that did not wait; callbacks only borrow it.
template <class Signature>
struct tp_state final : ref_counted<tp_state<Signature>> {
  tp_state(module_ref p, absl::AnyInvocable<Signature> f) : pin(std::move(p)), fn(std::move(f)) {}

  context_counter counted;
  module_ref pin;
  absl::AnyInvocable<Signature> fn;
  void* handle = nullptr;  // the PTP_WORK, PTP_TIMER or PTP_WAIT
  // Set when queued callbacks must be dropped without waiting (see the header comment).
  std::atomic<bool> drop_queued{false};
  // Re-arming (submit, set) holds `arm_lock` shared while it checks these flags and calls the
  // pool; stop, cancel_and_wait and close set them and disarm under it held exclusive. So a
  // re-arm either completed before the disarm (which supersedes it) or sees the flag: one stop
  // and one wait then suffice, whatever the callbacks do. The atomics are relaxed: the lock
  // orders them (they are atomic only because re-arms read them concurrently under the shared
  // lock, and the owner's re-arm clears `stopped` there).
  mutable tp_arm_lock arm_lock;
  // The object is being destroyed: every re-arm is refused.
  std::atomic<bool> closing{false};
  // The owner stopped the object (stop(), cancel_and_wait()): re-arms from the object's own
  // callbacks are refused until the owner arms it again.
  std::atomic<bool> stopped{false};
  tp_close_node close_node;  // used once, by a destructor that hands the state to the closer
};

// The state whose callback is running on this thread, so that a destructor called from its own
// callback does not wait for itself. Kept in the module's Win32 TLS slot
// (detail::g_running_callback_slot, <modref/detail/module_lifecycle.h>), not in a C++ thread_local:
// with MinGW a thread_local goes through emutls and winpthreads, which give every pool thread that
// touches it per-thread bookkeeping (with a kernel handle) that is released only by this module's
// DLL_THREAD_DETACH. Pool threads outlive the module, so each one leaked a handle per unload (the
// race lab's stress loop measured about 1.5 per pool object). The slot is constant-initialised and
// allocated on first use: pool work started from a global constructor that runs before this
// header's translation unit is initialised must not find index 0 there (someone else's slot).
inline const void* tp_running_state() noexcept { return g_running_callback_slot.get(); }

// detail::tp_running_scope
// Marks this thread as running a callback of `owner` (a pool object's or a callback_group's
// state; null for a plain submit()) from the first instruction of modref's callback entry to the
// last one before the module pin is handed back: the call, the skipped call of a cancelled or
// dropped callback, and the destruction of the callable and its context, which may destroy the
// object that owns the group or pool object. A wait or destructor of `owner` on this thread would
// wait for this very callback, so it is refused or degraded (tp_wait_refusal). Only the innermost
// callback is recorded because a pool thread runs one callback at a time; everything it calls
// (another object's destructor that legitimately waits for that other object's callbacks) is
// compared against this one owner. The previous value is restored on exit, so the slot is clear
// when the pool reuses the thread.
class tp_running_scope {
 public:
  explicit tp_running_scope(const void* state) noexcept : saved_(tp_running_state()) { set(state); }
  ~tp_running_scope() { set(saved_); }
  tp_running_scope(const tp_running_scope&) = delete;  // one marker, one restore
  tp_running_scope& operator=(const tp_running_scope&) = delete;

 private:
  static void set(const void* state) noexcept {
    // Without a slot (none left, or retired at unload) the marker is simply not kept.
    (void)g_running_callback_slot.set(const_cast<void*>(state));
  }
  const void* saved_;
};

// Why this thread may not wait for the callbacks that share a state, if it may not.
enum class tp_wait_refusal { none, own_callback, loader_lock };

// detail::tp_why_not_wait(state)
// none when this thread may wait for the callbacks that share `state` (a pool object's or a
// callback_group's); own_callback inside one of those callbacks (the wait would include itself);
// loader_lock under the loader lock (pool threads may need that lock to start or to finish).
// noexcept and allocation-free, for destructors.
inline tp_wait_refusal tp_why_not_wait(const void* state) noexcept {
  if (tp_running_state() == state) return tp_wait_refusal::own_callback;
  if (loader_lock_held_by_this_thread()) return tp_wait_refusal::loader_lock;
  return tp_wait_refusal::none;
}

// detail::tp_can_wait_for(state, what)
// tp_why_not_wait() as a status: OK, or kFailedPrecondition saying why.
inline absl::Status tp_can_wait_for(const void* state, std::string_view what) {
  switch (tp_why_not_wait(state)) {
    case tp_wait_refusal::own_callback:
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": called from one of its own callbacks; it would wait for itself"));
    case tp_wait_refusal::loader_lock:
      return absl::FailedPreconditionError(absl::StrCat(
          what,
          ": refused under the loader lock (inside DllMain): pool threads may need that lock to "
          "start or finish, so the wait could never end"));
    case tp_wait_refusal::none:
      break;
  }
  return absl::OkStatus();
}

// The body of every pool object callback: the own-callback marker first (see
// tp_running_scope), then the call unless queued callbacks are being dropped.
template <class State, class... Args>
void tp_run(PTP_CALLBACK_INSTANCE instance, const State* state, Args... args) noexcept {
  const tp_running_scope running(state);
  // Relaxed: see the header comment. A callback that missed the flag runs as if it had started
  // before the destructor.
  if (state->drop_queued.load(std::memory_order_relaxed)) return;
  state->fn(callback_instance_access::make(instance), args...);
}

// detail::tp_halt<Traits>(state, handle, flag)
// Sets `flag` (closing or stopped) and disarms the object, both under the state's arm lock held
// exclusive: a re-arm (which holds it shared) either finished before, and the disarm supersedes
// it, or sees the flag and is refused. After this no callback of the object can arm it again,
// so one wait for its callbacks is final.
template <class Traits>
void tp_halt(typename Traits::state_type& state, typename Traits::handle_type handle,
             std::atomic<bool>& flag) noexcept {
  const tp_exclusive_guard guard(state.arm_lock);
  flag.store(true, std::memory_order_relaxed);  // ordered by the lock
  Traits::stop(handle);
}

// The module's queue of pool objects whose destructor did not wait (on_destroy::dont_wait, or
// wait/cancel where waiting cannot end). One closing callback at a time drains it on the default
// pool: it waits for each object's callbacks in turn, closes the object and destroys its state.
// One thread, not one per object, so that destroying hundreds of objects whose callbacks are
// blocked does not take hundreds of pool threads (the default pool has about 500; every blocked
// closer is one fewer for other work). Waiting in turn costs nothing in total: an object waited
// for later has been running meanwhile. The price: an object's state (and module pin) is freed
// only after those queued before it, so a callback must not wait for the closing of another
// dont_wait object of its module. Constant-initialised (SRWLOCK_INIT, null pointers), so a global
// destructor in any translation unit may use it; guarded by g_tp_close_lock.
inline SRWLOCK g_tp_close_lock = SRWLOCK_INIT;
inline tp_close_node* g_tp_close_head = nullptr;  // oldest first
inline tp_close_node* g_tp_close_tail = nullptr;
inline bool g_tp_closer_queued = false;  // a closing callback is queued or draining

// Takes the oldest node, or clears g_tp_closer_queued and returns null when there is none.
inline tp_close_node* tp_take_close_node() noexcept {
  ::AcquireSRWLockExclusive(&g_tp_close_lock);
  tp_close_node* node = g_tp_close_head;
  if (node != nullptr) {
    g_tp_close_head = node->next;
    if (g_tp_close_head == nullptr) g_tp_close_tail = nullptr;
  } else {
    g_tp_closer_queued = false;
  }
  ::ReleaseSRWLockExclusive(&g_tp_close_lock);
  return node;
}

// detail::tp_finish_close<Traits>(node)
// Waits for the callbacks of a closing object (its destructor already set `closing` and disarmed
// it, so none can re-arm it), closes it and destroys its state. Returns the state's module pin.
template <class Traits>
module_ref tp_finish_close(tp_close_node* node) noexcept {
  using state_type = typename Traits::state_type;
  ref_ptr<state_type> state(static_cast<state_type*>(node->state), adopt_ref);
  const auto handle = static_cast<typename Traits::handle_type>(state->handle);
  Traits::wait_callbacks(handle, false);
  Traits::close(handle);
  module_ref pin = std::move(state->pin);
  state.reset();  // the callable dies here, after the last callback that could use it
  return pin;
}

// detail::tp_abandon_close<Traits>(node)
// Closes the object without waiting for its callbacks and leaks its state and module pin, so that
// callbacks still queued or running stay safe (see tp_hand_to_closer).
template <class Traits>
void tp_abandon_close(tp_close_node* node) noexcept {
  using state_type = typename Traits::state_type;
  Traits::close(
      static_cast<typename Traits::handle_type>(static_cast<state_type*>(node->state)->handle));
}

// detail::tp_closer_entry
// The closing callback: drains the queue above. It tells the pool it may block for long
// (CallbackMayRunLong), so the pool starts another thread for queued work if it can. It holds
// the pin of the last state it destroyed (giving the previous one back: the new one keeps the
// same module mapped) and hands that one to FreeLibraryWhenCallbackReturns.
inline void CALLBACK tp_closer_entry(PTP_CALLBACK_INSTANCE instance, void*) noexcept {
  (void)::CallbackMayRunLong(instance);
  module_ref held;
  while (tp_close_node* node = tp_take_close_node()) {
    module_ref pin = node->finish(node);
    held = std::move(pin);
  }
  // A closer always finds at least the node whose hand-over queued it; the check only keeps a
  // null module away from the pool should that ever change.
  if (HMODULE module = held.release()) ::FreeLibraryWhenCallbackReturns(instance, module);
}

// detail::tp_hand_to_closer(node)
// Queues a closing object's node (its finish and abandon functions and its state filled in) for
// the module's closing callback (tp_closer_entry), and queues that callback if none is queued.
// The state's reference belongs to the queue from now on. Shared by tp_object and threadpool_io.
inline void tp_hand_to_closer(tp_close_node* node) noexcept {
  node->next = nullptr;
  ::AcquireSRWLockExclusive(&g_tp_close_lock);
  if (g_tp_close_tail != nullptr) {
    g_tp_close_tail->next = node;
  } else {
    g_tp_close_head = node;
  }
  g_tp_close_tail = node;
  const bool start_closer = !g_tp_closer_queued;
  g_tp_closer_queued = true;
  ::ReleaseSRWLockExclusive(&g_tp_close_lock);
  if (!start_closer) return;  // the closing callback already queued will reach this node

  TP_CALLBACK_ENVIRON env;
  tp_build_environment(env, threadpool_options{});  // the default pool: see tp_closer_entry
  BOOL queued = FALSE;
#if defined(MODREF_TEST_SEAMS)
  if (const DWORD injected = take_injected_failure(g_threadpool_test_seams.fail_next_closer)) {
    ::SetLastError(injected);
  } else
#endif
  {
    queued = ::TrySubmitThreadpoolCallback(&tp_closer_entry, nullptr, &env);
  }
  ::DestroyThreadpoolEnvironment(&env);
  if (queued) return;
  // Nobody can wait for the callbacks of the queued objects now, so nothing they might touch
  // may be freed: take them all back, close them without waiting and leak their states
  // together with their module pins. The module stays loaded for the rest of the process,
  // which is safe; unmapping it under a callback would not be.
  ::AcquireSRWLockExclusive(&g_tp_close_lock);
  tp_close_node* queued_node = g_tp_close_head;
  g_tp_close_head = g_tp_close_tail = nullptr;
  g_tp_closer_queued = false;
  ::ReleaseSRWLockExclusive(&g_tp_close_lock);
  while (queued_node != nullptr) {
    tp_close_node* next = queued_node->next;
    queued_node->abandon(queued_node);
    queued_node = next;
  }
  ::OutputDebugStringA(
      "modref: could not queue the closing callback of a pool object; its state and module "
      "pin are leaked so that its callbacks stay safe\n");
#if defined(MODREF_TEST_SEAMS)
  g_threadpool_test_seams.leaked_after_closer_failure.fetch_add(1, std::memory_order_relaxed);
#endif
}

// detail::tp_object<Traits, Policy>
// The machinery shared by threadpool_work, threadpool_timer and threadpool_wait (threadpool_io
// has its own, for its list of operations, and shares the pieces above): one owned state,
// creation, arming and stopping under the arm lock, the explicit waits and the policy-driven
// close.
template <class Traits, on_destroy Policy>
class tp_object {
 public:
  using handle_type = typename Traits::handle_type;
  using state_type = typename Traits::state_type;
  using callable_type = absl::AnyInvocable<typename Traits::signature>;

  tp_object() noexcept = default;
  tp_object(const tp_object&) = delete;  // one pool object, one owner
  tp_object& operator=(const tp_object&) = delete;
  tp_object(tp_object&& other) noexcept = default;
  tp_object& operator=(tp_object&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~tp_object() { close(); }

  // Pins the calling module, builds the state and creates the pool object. `fn` is not empty.
  static absl::StatusOr<tp_object> create(const threadpool_options& options, callable_type fn,
                                          std::string_view what) {
    if (tp_process_terminating()) return tp_termination_refusal(what);
    absl::StatusOr<module_ref> pin = module_ref::pin_current();
    if (!pin.ok()) return pin.status();
    ref_ptr<state_type> state;
    try {
      state = make_ref<state_type>(*std::move(pin), std::move(fn));
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory for the state"));
    }
    TP_CALLBACK_ENVIRON env;
    tp_build_environment(env, options);
    handle_type handle = nullptr;
#if defined(MODREF_TEST_SEAMS)
    if (const DWORD injected = take_injected_failure(g_threadpool_test_seams.fail_next_create)) {
      ::SetLastError(injected);
    } else
#endif
    {
      handle = Traits::create(state.get(), &env);
    }
    ::DestroyThreadpoolEnvironment(&env);
    if (handle == nullptr) {
      const DWORD error = ::GetLastError();
      state.reset();  // the callable and the pin are given back
      ::SetLastError(error);
      return win32_error_status(error, absl::StrCat(what, ": ", Traits::kCreate));
    }
    state->handle = handle;
    tp_object object;
    object.state_ = std::move(state);
    return object;
  }

  handle_type get() const noexcept {
    return state_ ? static_cast<handle_type>(state_->handle) : nullptr;
  }
  explicit operator bool() const noexcept { return static_cast<bool>(state_); }

  // OK when the pool may be called for this object now.
  absl::Status usable(std::string_view what) const {
    if (!state_) return tp_empty_object(what);
    if (tp_process_terminating()) return tp_termination_refusal(what);
    if (state_->closing.load(std::memory_order_relaxed)) return being_destroyed_(what);
    return absl::OkStatus();
  }

  // Calls `arm(handle)` (a pool call that queues or schedules callbacks) unless the object
  // refuses to be armed now: while it is destroyed, and, from one of its own callbacks, after the
  // owner stopped it (until the owner arms it again, which this call does when made elsewhere).
  template <class Arm>
  absl::Status arm(std::string_view what, Arm&& arm) {
    if (!state_) return tp_empty_object(what);
    if (tp_process_terminating()) return tp_termination_refusal(what);
    const tp_shared_guard guard(state_->arm_lock);
    if (state_->closing.load(std::memory_order_relaxed)) return being_destroyed_(what);
    if (state_->stopped.load(std::memory_order_relaxed)) {
      // Only a stopped object asks who is calling (a TLS read kept off the common path).
      if (running_here()) {
        return absl::FailedPreconditionError(absl::StrCat(
            what,
            ": refused from the object's own callback: its owner stopped it (stop() or "
            "cancel_and_wait()) and only the owner arms it again"));
      }
      state_->stopped.store(false, std::memory_order_relaxed);  // the owner arms it again
    }
    std::forward<Arm>(arm)(get());
    return absl::OkStatus();
  }

  // Disarms the object. From its owner (not from its own callback), also refuses re-arms from
  // its callbacks until the owner arms it again. Reports a cancelled pending callback.
  absl::Status stop(std::string_view what, pending_callback* previous) {
    // The null check is spelled out (usable() repeats it) so that the compiler sees the state
    // is not null below; GCC 12 otherwise warns about a store through null (stringop-overflow).
    if (!state_) return tp_empty_object(what);
    if (absl::Status ok = usable(what); !ok.ok()) return ok;
    const bool own_callback = running_here();
    const tp_exclusive_guard guard(state_->arm_lock);
    if (!own_callback) state_->stopped.store(true, std::memory_order_relaxed);
    const pending_callback result = Traits::stop_reporting(get());
    if (previous != nullptr) *previous = result;
    return absl::OkStatus();
  }

  // Waits for the object's callbacks; with `cancel`, first stops queueing, refuses re-arms from
  // its callbacks (as stop() does) and drops queued ones.
  absl::Status wait_callbacks(bool cancel, std::string_view what) {
    if (!state_) return tp_empty_object(what);  // spelled out: see stop()
    if (absl::Status ok = usable(what); !ok.ok()) return ok;
    if (absl::Status ok = tp_can_wait_for(state_.get(), what); !ok.ok()) return ok;
    last_error_preserver keep;
    if (cancel) tp_halt<Traits>(*state_, get(), state_->stopped);
#if defined(MODREF_TEST_SEAMS)
    if (HANDLE hook = g_threadpool_test_seams.signal_after_cancel_stop.load(); hook && cancel) {
      ::SetEvent(hook);
    }
#endif
    Traits::wait_callbacks(get(), cancel);
    return absl::OkStatus();
  }

  void swap(tp_object& other) noexcept { state_.swap(other.state_); }

  // Ends the object according to Policy; see the header comment. GetLastError() is kept.
  // Allocation-free: no status or message is built here.
  void close() noexcept {
    if (!state_) return;
    last_error_preserver keep;
    if (tp_process_terminating()) {
      // The pool is electrified and its threads are gone: touch nothing, leak the handle and the
      // state (the process is about to release everything at once).
      (void)state_.detach();
#if defined(MODREF_TEST_SEAMS)
      g_threadpool_test_seams.abandoned_for_termination.fetch_add(1, std::memory_order_relaxed);
#endif
      return;
    }
    const handle_type handle = get();
    tp_halt<Traits>(*state_, handle, state_->closing);  // no re-arming from now on
    if constexpr (Policy != on_destroy::dont_wait) {
      const tp_wait_refusal refusal = tp_why_not_wait(state_.get());
      if (refusal == tp_wait_refusal::none) {
        Traits::wait_callbacks(handle, Policy == on_destroy::cancel);
        Traits::close(handle);
        state_.reset();  // every callback is over: destroy the callable here, release the pin
        return;
      }
      const bool loader_lock = refusal == tp_wait_refusal::loader_lock;
      if (Policy == on_destroy::cancel || loader_lock) {
        state_->drop_queued.store(true, std::memory_order_relaxed);
      }
      ::OutputDebugStringA(
          loader_lock
              ? "modref: pool object destroyed under the loader lock: queued callbacks dropped, "
                "closing without waiting (the closing callback waits instead)\n"
              : "modref: pool object destroyed from its own callback: closing without waiting "
                "(the closing callback waits instead)\n");
#if defined(MODREF_TEST_SEAMS)
      g_threadpool_test_seams.closed_without_waiting.fetch_add(1, std::memory_order_relaxed);
#endif
    }
    hand_to_closer_();
  }

 private:
  bool running_here() const noexcept { return tp_running_state() == state_.get(); }

  static absl::Status being_destroyed_(std::string_view what) {
    return absl::FailedPreconditionError(
        absl::StrCat(what, ": the object is being destroyed; it cannot be armed again"));
  }

  // Queues the state for the module's closing callback (tp_closer_entry), which waits for its
  // callbacks, closes the object and frees the state (see tp_hand_to_closer).
  void hand_to_closer_() noexcept {
    state_type* state = state_.detach();
    state->close_node.state = state;
    state->close_node.finish = &tp_finish_close<Traits>;
    state->close_node.abandon = &tp_abandon_close<Traits>;
    tp_hand_to_closer(&state->close_node);
  }

  ref_ptr<state_type> state_;
};

template <class T>
T tp_value_or_throw(absl::StatusOr<T> result) {
  if (!result.ok()) throw to_system_error(result.status());
  return *std::move(result);
}

// Durations as the pool wants them: FILETIME holding a negative (relative) count of 100 ns.
inline FILETIME tp_relative_filetime(std::chrono::nanoseconds delay) noexcept {
  using ticks = std::chrono::duration<std::int64_t, std::ratio<1, 10'000'000>>;
  const std::int64_t relative = -std::chrono::ceil<ticks>(delay).count();
  const auto bits = static_cast<std::uint64_t>(relative);
  return FILETIME{static_cast<DWORD>(bits & 0xFFFFFFFFu), static_cast<DWORD>(bits >> 32)};
}

template <class F, class Self>
concept tp_not_self = !std::same_as<std::remove_cvref_t<F>, Self> &&
                      !std::same_as<std::remove_cvref_t<F>, threadpool_options>;

// detail::tp_facade<Derived, Traits, Policy>
// What threadpool_work, threadpool_timer and threadpool_wait share: the factories, the explicit
// waits, reset/get/swap, and the one owned tp_object. Each public class adds its own way of
// queueing calls (submit, set, stop).
template <class Derived, class Traits, on_destroy Policy>
class tp_facade {
 protected:
  using impl = tp_object<Traits, Policy>;

 public:
  using native_handle_type = typename Traits::handle_type;
  static constexpr on_destroy destroy_policy = Policy;

  // create(f) / create(options, f)
  // Pins the calling module and creates the pool object for `f` (see the public class for the
  // call signature). kInvalidArgument for an empty callable, kFailedPrecondition during process
  // termination or while the module unloads, kResourceExhausted without memory, the Win32 error
  // otherwise.
  template <class F>
  requires tp_not_self<F, Derived>
  [[nodiscard]] static absl::StatusOr<Derived> create(F&& f) {
    return create(threadpool_options{}, std::forward<F>(f));
  }
  template <class F>
  [[nodiscard]] static absl::StatusOr<Derived> create(const threadpool_options& options, F&& f) {
    absl::StatusOr<impl> made = make_(options, std::forward<F>(f));
    if (!made.ok()) return made.status();
    Derived object;
    object.impl_ = *std::move(made);
    return object;
  }

  // wait_for_callbacks()
  // Waits until every queued and running call has returned (a timer or wait stays armed).
  // kFailedPrecondition on an empty object, during process termination, from one of the object's
  // own callbacks or under the loader lock.
  [[nodiscard]] absl::Status wait_for_callbacks() {
    return impl_.wait_callbacks(false, Traits::kWaitWhat);
  }

  // cancel_and_wait()
  // Stops queueing (disarms a timer or wait), drops queued calls and waits for running ones.
  // Refused as wait_for_callbacks() is.
  [[nodiscard]] absl::Status cancel_and_wait() {
    return impl_.wait_callbacks(true, Traits::kCancelWhat);
  }

  // reset()
  // Ends the object now, according to Policy, and leaves it empty.
  void reset() noexcept { impl_ = impl(); }

  native_handle_type get() const noexcept { return impl_.get(); }
  explicit operator bool() const noexcept { return static_cast<bool>(impl_); }
  void swap(Derived& other) noexcept { impl_.swap(other.impl_); }
  friend void swap(Derived& a, Derived& b) noexcept { a.swap(b); }

 protected:
  tp_facade() noexcept = default;
  // The throwing constructors' work: std::system_error on failure (see create()).
  template <class F>
  tp_facade(const threadpool_options& options, F&& f)
      : impl_(tp_value_or_throw(make_(options, std::forward<F>(f)))) {}
  tp_facade(tp_facade&&) noexcept = default;
  // Move assignment first ends the current object according to Policy.
  tp_facade& operator=(tp_facade&&) noexcept = default;
  // Ends the object according to Policy (see the header comment).
  ~tp_facade() = default;

  template <class F>
  static absl::StatusOr<impl> make_(const threadpool_options& options, F&& f) {
    constexpr std::string_view what = Traits::kCreateWhat;
    if (callable_is_empty(f)) return tp_empty_callable(what);
    try {
      return impl::create(options, Traits::adapt(std::forward<F>(f)), what);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory for the callable"));
    }
  }

  impl impl_;
};

}  // namespace detail
}  // namespace modref

#endif  // MODREF_DETAIL_THREADPOOL_OBJECT_H_
