// <modref/threadpool.h> — Windows thread-pool work that cannot outlive the code it runs.
//
// A DLL that queues a pool callback and returns invites the same crash as one that starts a
// thread: the host may FreeLibrary the DLL while the callback is still queued or running, and the
// pool then executes unmapped code. At process exit it invites a second one: by the time DLL
// globals are destroyed the pool is "electrified", and a destructor that sets, waits for or closes
// a pool object ends the process in TppRaiseInvalidParameter. This header closes both by
// construction:
//
//   - modref::submit(f) pins the calling module before it returns, moves `f` and the pin into one
//     reference-counted context and queues it with TrySubmitThreadpoolCallback. The callback runs
//     `f`, destroys the context (every destructor of the callable runs in the callback) and hands
//     the module reference to FreeLibraryWhenCallbackReturns, so the module stays mapped until the
//     callback has returned. Never ExitThread on a pool thread: the thread is on loan.
//   - modref::threadpool_work, threadpool_timer and threadpool_wait are RAII pool objects bound to
//     a callable. Each pins its module for its whole life and is created in an environment that
//     names that module with SetThreadpoolCallbackLibrary. What the destructor does with callbacks
//     still queued or running is part of the type: on_destroy::wait, ::cancel or ::dont_wait.
//   - Callbacks are noexcept: an exception escaping a callable calls std::terminate, as it does
//     from a std::thread.
//   - During process termination (modref::process_terminating()) nothing here touches the pool:
//     factories, submit() and set() return kFailedPrecondition, and destructors leak their pool
//     handles on purpose. Windows would crash on those calls, Wine would not; modref behaves the
//     same on both.
//
// The machinery these objects share with threadpool_io (<modref/threadpool_io.h>): the callback
// environment, the refusals, the closing callback, tp_object/tp_facade and the test seams, lives
// in <modref/detail/threadpool_object.h>; this header holds submit() and the three pool objects.
//
// Example:
//
//   // An asynchronous export: the host may FreeLibrary the DLL as soon as it returns.
//   extern "C" __declspec(dllexport) HRESULT StartRefresh() {
//     absl::Status queued = modref::submit([] { refresh_cache(); });
//     return queued.ok() ? S_OK : E_FAIL;
//   }
//
//   // A plugin that polls every second; destroying it stops the timer, drops a tick that is
//   // queued but not started, and waits for one that is running.
//   class plugin {
//    public:
//     absl::Status start() {
//       absl::StatusOr<modref::threadpool_timer<modref::on_destroy::cancel>> timer =
//           modref::threadpool_timer<modref::on_destroy::cancel>::create([this] { poll(); });
//       if (!timer.ok()) return timer.status();
//       timer_ = *std::move(timer);
//       return timer_.set(std::chrono::seconds(1), std::chrono::seconds(1));  // due, period
//     }
//
//    private:
//     void poll() const;
//     modref::threadpool_timer<modref::on_destroy::cancel> timer_;  // last member: dies first
//   };
//
// Destruction policies (template argument; there is no default, the choice is the caller's):
//   on_destroy::wait       stop queueing (timer, wait), let queued callbacks run, wait for them.
//   on_destroy::cancel     stop queueing, drop queued callbacks, wait for running ones.
//   on_destroy::dont_wait  stop queueing and return at once; queued and running callbacks finish
//                          on their own. The object's state (the callable, the module pin) is
//                          queued for the module's one closing callback on the process's default
//                          pool, which waits for them, closes the pool object and frees the
//                          state; the module stays pinned until then. One closer per module, not
//                          one per object, so destroying hundreds of objects with blocked
//                          callbacks does not take hundreds of pool threads; hence a callback must
//                          not wait for another dont_wait object's closing.
// A destructor never waits where waiting cannot end, and says so through OutputDebugString:
//   - in one of the object's own callbacks (it would wait for itself): wait and cancel close as
//     dont_wait does (cancel still drops queued callbacks). "Own callback" means the whole
//     callback, from modref's entry to the hand-back of the module pin: the call, a skipped
//     call, and the destruction of the callable and its context afterwards (where a capture
//     holding the last reference to the object's owner destroys it);
//   - under the loader lock (inside any DllMain): pool threads may need that lock to start or to
//     finish, so wait and cancel both drop queued callbacks and close as dont_wait does;
//   - during process termination: nothing at all (the handles and the state are leaked).
// The same situations make wait_for_callbacks() and cancel_and_wait() return kFailedPrecondition.
//
// Lifetime
//   - submit(): the context belongs to the callback; the module is released by the callback's
//     FreeLibraryWhenCallbackReturns, after every destructor has run. If queueing fails, the
//     context and the pin are destroyed before submit() returns (GetLastError() keeps the error).
//   - Pool objects: the state (callable, module pin) lives until the last callback that may touch
//     it has returned: in the destructor for wait and cancel, in the closing callback otherwise.
//     A pool object keeps its module loaded for as long as it exists. Keep pool objects in things
//     you destroy before the DLL is unloaded (a plugin instance, a shutdown export), not in DLL
//     globals: a global pool object keeps its DLL loaded until process exit (Wine already does
//     this for any pool object with a callback library). modref::activity().live_pins and
//     can_unload_now() count them.
//   - A DLL that wants fire-and-forget pool objects holds them on the heap and destroys them from
//     their own callback with on_destroy::dont_wait (see tests/threads/dlls/threadpool_dll.cc).
//   - A custom pool given through threadpool_options must outlive the objects created in it.
//
// Thread safety / memory ordering
//   - A pool object is used by one thread at a time, as std::thread; its callbacks may call
//     submit() or set() on their own object (the pool API is thread-safe). Re-arming takes the
//     object's SRW lock shared, stop()/cancel_and_wait()/destruction take it exclusive, so a stop
//     holds against callbacks that re-arm: after the owner's stop() or cancel_and_wait(), re-arms
//     from the object's own callbacks are refused until the owner arms it again, and after
//     cancel_and_wait() returns no callback starts until then.
//   - Callables may take a modref::callback_instance first, for may_run_long()
//     (CallbackMayRunLong); nothing else of PTP_CALLBACK_INSTANCE is exposed.
//   - Callbacks of one object may run concurrently (several submissions, a period shorter than a
//     callback), so pool objects store an absl::AnyInvocable whose call operator is const: a
//     `mutable` lambda does not compile; guard shared state yourself (e.g. modref::mutex;
//     not absl::Mutex on pool threads: see <modref/mutex.h>).
//   - The "drop queued callbacks" flag is a relaxed atomic: it orders nothing; the pool's own
//     wait (in the destructor or the closing callback) is the synchronisation point before the
//     state is destroyed. Reference counts follow <modref/refcount.h>.
#ifndef MODREF_THREADPOOL_H_
#define MODREF_THREADPOOL_H_

#ifndef _WIN32
#error "<modref/threadpool.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <chrono>
#include <concepts>
#include <cstdint>
#include <limits>
#include <new>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "modref/detail/callables.h"
#include "modref/detail/threadpool_object.h"
#include "modref/module_ref.h"
#include "modref/refcount.h"
#include "modref/win32_error.h"

namespace modref {

namespace detail {

// ---------------------------------------------------------------------------------------------
// submit()

// detail::submit_context<Fn>
// Everything a one-shot callback owns: the module pin and the decayed callable. One allocation.
template <class Fn>
class submit_context final : public ref_counted<submit_context<Fn>> {
 public:
  template <class F>
  submit_context(module_ref pin, F&& f) : pin_(std::move(pin)), fn_(std::forward<F>(f)) {}

  // Runs the callable once, on an rvalue, as std::thread would. noexcept: an escaping exception
  // ends the process through std::terminate.
  void run(PTP_CALLBACK_INSTANCE instance) noexcept { tp_invoke(std::move(fn_), instance); }
  HMODULE release_module() noexcept { return pin_.release(); }
  // No object waits for a plain submit(): its callbacks mark no owner (see tp_running_scope).
  static constexpr bool kHasOwner = false;

 private:
  context_counter counted_;
  module_ref pin_;
  Fn fn_;
};

// detail::submit_entry<Context>
// The simple callback, for any context with run(), release_module() and kHasOwner, plus owner()
// when that is true (submit's and callback_group's). A template instantiated in the submitting
// module, so its code is covered by that module's pin. The own-callback marker covers the whole
// callback: the call, the skipped call of a cancelled context and the context's destruction, which
// destroys the callable and may destroy the object that owns the group (see tp_running_scope).
template <class Context>
void CALLBACK submit_entry(PTP_CALLBACK_INSTANCE instance, void* raw) noexcept {
  HMODULE module = nullptr;
  {
    ref_ptr<Context> context(static_cast<Context*>(raw), adopt_ref);
    // Nothing waits for a plain submit(): only an owned context (a group's) marks its owner,
    // which keeps the TLS writes off modref::submit's path.
    std::optional<tp_running_scope> running;
    if constexpr (Context::kHasOwner) running.emplace(context->owner());
    context->run(instance);
    module = context->release_module();
    context.reset();  // the callable and its captures are destroyed here, inside the marker
  }
  // The pool calls FreeLibrary after this function has returned: no instruction of this module
  // runs after the reference is gone.
  ::FreeLibraryWhenCallbackReturns(instance, module);
}

// detail::tp_queue_one_shot(context, options, what)
// Queues `context` (which carries the callback's only reference) with submit_entry in an
// environment built from `options`. On failure the context is destroyed here (its callable and
// pin given back) and the status carries the Win32 error, which GetLastError() also keeps. Once
// queued, nothing on this thread touches the context: the callable is always destroyed by the
// callback. Shared by modref::submit and callback_group::submit.
template <class Context>
absl::Status tp_queue_one_shot(Context* context, const threadpool_options& options,
                               std::string_view what) {
  TP_CALLBACK_ENVIRON env;
  tp_build_environment(env, options);
  BOOL queued = FALSE;
#if defined(MODREF_TEST_SEAMS)
  if (const DWORD injected = take_injected_failure(g_threadpool_test_seams.fail_next_submit)) {
    ::SetLastError(injected);
  } else
#endif
  {
    queued = ::TrySubmitThreadpoolCallback(&submit_entry<Context>, context, &env);
  }
  ::DestroyThreadpoolEnvironment(&env);
  if (!queued) {
    const DWORD error = ::GetLastError();
    ref_ptr<Context>(context, adopt_ref).reset();  // the callable and the pin are given back
    ::SetLastError(error);
    return win32_error_status(error, absl::StrCat(what, ": TrySubmitThreadpoolCallback"));
  }
  return absl::OkStatus();
}

// SetThreadpoolTimerEx and SetThreadpoolWaitEx exist from Windows 8 on; Wine 8 exports neither.
// Importing them would stop the DLL from loading there, so they are looked up in kernel32 on
// first use. The cache holds 0 (not looked up yet), 1 (absent) or the address; relaxed: the
// value is self-contained (kernel32 is never unloaded) and a race only looks it up twice.
inline std::atomic<std::uintptr_t> g_tp_set_timer_ex{0};
inline std::atomic<std::uintptr_t> g_tp_set_wait_ex{0};

template <class Fn>
Fn tp_kernel32_function(std::atomic<std::uintptr_t>& cache, const char* name) noexcept {
  std::uintptr_t found = cache.load(std::memory_order_relaxed);
  if (found == 0) {
    last_error_preserver keep;
    const HMODULE kernel32 = ::GetModuleHandleW(L"kernel32.dll");
    const FARPROC proc = kernel32 != nullptr ? ::GetProcAddress(kernel32, name) : nullptr;
    found = proc != nullptr ? reinterpret_cast<std::uintptr_t>(proc) : 1;
    cache.store(found, std::memory_order_relaxed);
  }
  return found == 1 ? nullptr : reinterpret_cast<Fn>(found);
}

// Sets (due non-null) or stops (null) a timer, and says what happened to a pending callback.
inline pending_callback tp_set_timer(PTP_TIMER timer, FILETIME* due, DWORD period,
                                     DWORD window) noexcept {
  using fn = BOOL(WINAPI*)(PTP_TIMER, PFILETIME, DWORD, DWORD);
  if (const fn ex = tp_kernel32_function<fn>(g_tp_set_timer_ex, "SetThreadpoolTimerEx")) {
    return ex(timer, due, period, window) ? pending_callback::cancelled : pending_callback::none;
  }
  ::SetThreadpoolTimer(timer, due, period, window);
  return pending_callback::unknown;
}

// Sets (handle non-null) or stops (null) a wait, and says what happened to a pending callback.
inline pending_callback tp_set_wait(PTP_WAIT wait, HANDLE handle, FILETIME* timeout) noexcept {
  using fn = BOOL(WINAPI*)(PTP_WAIT, HANDLE, PFILETIME, PVOID);
  if (const fn ex = tp_kernel32_function<fn>(g_tp_set_wait_ex, "SetThreadpoolWaitEx")) {
    return ex(wait, handle, timeout, nullptr) ? pending_callback::cancelled
                                              : pending_callback::none;
  }
  ::SetThreadpoolWait(wait, handle, timeout);
  return pending_callback::unknown;
}

// A work or timer callable as the state stores it: f(callback_instance), wrapping an f().
template <class Signature, class F>
absl::AnyInvocable<Signature> tp_adapt_no_result(F&& f) {
  using fn_type = std::decay_t<F>;
  if constexpr (std::is_invocable_v<const fn_type&, callback_instance>) {
    return absl::AnyInvocable<Signature>(std::forward<F>(f));
  } else {
    return absl::AnyInvocable<Signature>(
        [fn = fn_type(std::forward<F>(f))](callback_instance) { fn(); });
  }
}

struct tp_work_traits {
  using handle_type = PTP_WORK;
  using signature = void(callback_instance) const;
  using state_type = tp_state<signature>;
  static constexpr const char* kCreate = "CreateThreadpoolWork";
  static constexpr std::string_view kCreateWhat = "modref::threadpool_work::create";
  static constexpr std::string_view kWaitWhat = "modref::threadpool_work::wait_for_callbacks";
  static constexpr std::string_view kCancelWhat = "modref::threadpool_work::cancel_and_wait";

  template <class F>
  static absl::AnyInvocable<signature> adapt(F&& f) {
    static_assert(std::is_invocable_v<const std::decay_t<F>&> ||
                      std::is_invocable_v<const std::decay_t<F>&, callback_instance>,
                  "modref::threadpool_work: the callable must be invocable as f() or "
                  "f(modref::callback_instance) on a const object: calls may run concurrently on "
                  "several pool threads. Drop `mutable` and guard shared state (e.g. with "
                  "modref::mutex)");
    return tp_adapt_no_result<signature>(std::forward<F>(f));
  }

  static void CALLBACK entry(PTP_CALLBACK_INSTANCE instance, void* raw, PTP_WORK) noexcept {
    tp_run(instance, static_cast<const state_type*>(raw));
  }
  static handle_type create(void* state, PTP_CALLBACK_ENVIRON env) noexcept {
    return ::CreateThreadpoolWork(&entry, state, env);
  }
  static void stop(handle_type) noexcept {}  // work is queued only by submit()
  static pending_callback stop_reporting(handle_type) noexcept { return pending_callback::none; }
  static void wait_callbacks(handle_type h, bool cancel) noexcept {
    ::WaitForThreadpoolWorkCallbacks(h, cancel ? TRUE : FALSE);
  }
  static void close(handle_type h) noexcept { ::CloseThreadpoolWork(h); }
};

struct tp_timer_traits {
  using handle_type = PTP_TIMER;
  using signature = void(callback_instance) const;
  using state_type = tp_state<signature>;
  static constexpr const char* kCreate = "CreateThreadpoolTimer";
  static constexpr std::string_view kCreateWhat = "modref::threadpool_timer::create";
  static constexpr std::string_view kWaitWhat = "modref::threadpool_timer::wait_for_callbacks";
  static constexpr std::string_view kCancelWhat = "modref::threadpool_timer::cancel_and_wait";

  template <class F>
  static absl::AnyInvocable<signature> adapt(F&& f) {
    static_assert(std::is_invocable_v<const std::decay_t<F>&> ||
                      std::is_invocable_v<const std::decay_t<F>&, callback_instance>,
                  "modref::threadpool_timer: the callable must be invocable as f() or "
                  "f(modref::callback_instance) on a const object: calls may overlap when a "
                  "period is shorter than a call. Drop `mutable` and guard shared state (e.g. "
                  "with modref::mutex)");
    return tp_adapt_no_result<signature>(std::forward<F>(f));
  }

  static void CALLBACK entry(PTP_CALLBACK_INSTANCE instance, void* raw, PTP_TIMER) noexcept {
    tp_run(instance, static_cast<const state_type*>(raw));
  }
  static handle_type create(void* state, PTP_CALLBACK_ENVIRON env) noexcept {
    return ::CreateThreadpoolTimer(&entry, state, env);
  }
  static void stop(handle_type h) noexcept { ::SetThreadpoolTimer(h, nullptr, 0, 0); }
  static pending_callback stop_reporting(handle_type h) noexcept {
    return tp_set_timer(h, nullptr, 0, 0);
  }
  static void wait_callbacks(handle_type h, bool cancel) noexcept {
    ::WaitForThreadpoolTimerCallbacks(h, cancel ? TRUE : FALSE);
  }
  static void close(handle_type h) noexcept { ::CloseThreadpoolTimer(h); }
};

struct tp_wait_traits {
  using handle_type = PTP_WAIT;
  using signature = void(callback_instance, TP_WAIT_RESULT) const;
  using state_type = tp_state<signature>;
  static constexpr const char* kCreate = "CreateThreadpoolWait";
  static constexpr std::string_view kCreateWhat = "modref::threadpool_wait::create";
  static constexpr std::string_view kWaitWhat = "modref::threadpool_wait::wait_for_callbacks";
  static constexpr std::string_view kCancelWhat = "modref::threadpool_wait::cancel_and_wait";

  // Accepts f(callback_instance, TP_WAIT_RESULT), f(TP_WAIT_RESULT), f(callback_instance) and
  // f(); the others are wrapped to the first.
  template <class F>
  static absl::AnyInvocable<signature> adapt(F&& f) {
    using fn_type = std::decay_t<F>;
    constexpr bool full = std::is_invocable_v<const fn_type&, callback_instance, TP_WAIT_RESULT>;
    constexpr bool result_only = std::is_invocable_v<const fn_type&, TP_WAIT_RESULT>;
    constexpr bool instance_only = std::is_invocable_v<const fn_type&, callback_instance>;
    static_assert(full || result_only || instance_only || std::is_invocable_v<const fn_type&>,
                  "modref::threadpool_wait: the callable must be invocable on a const object as "
                  "f(TP_WAIT_RESULT) or f(), optionally with a modref::callback_instance first. "
                  "Drop `mutable` and guard shared state (e.g. with modref::mutex)");
    if constexpr (full) {
      return absl::AnyInvocable<signature>(std::forward<F>(f));
    } else if constexpr (result_only) {
      return absl::AnyInvocable<signature>(
          [fn = fn_type(std::forward<F>(f))](callback_instance, TP_WAIT_RESULT r) { fn(r); });
    } else if constexpr (instance_only) {
      return absl::AnyInvocable<signature>(
          [fn = fn_type(std::forward<F>(f))](callback_instance i, TP_WAIT_RESULT) { fn(i); });
    } else {
      return absl::AnyInvocable<signature>(
          [fn = fn_type(std::forward<F>(f))](callback_instance, TP_WAIT_RESULT) { fn(); });
    }
  }

  static void CALLBACK entry(PTP_CALLBACK_INSTANCE instance, void* raw, PTP_WAIT,
                             TP_WAIT_RESULT result) noexcept {
    tp_run(instance, static_cast<const state_type*>(raw), result);
  }
  static handle_type create(void* state, PTP_CALLBACK_ENVIRON env) noexcept {
    return ::CreateThreadpoolWait(&entry, state, env);
  }
  static void stop(handle_type h) noexcept { ::SetThreadpoolWait(h, nullptr, nullptr); }
  static pending_callback stop_reporting(handle_type h) noexcept {
    return tp_set_wait(h, nullptr, nullptr);
  }
  static void wait_callbacks(handle_type h, bool cancel) noexcept {
    ::WaitForThreadpoolWaitCallbacks(h, cancel ? TRUE : FALSE);
  }
  static void close(handle_type h) noexcept { ::CloseThreadpoolWait(h); }
};

}  // namespace detail

// modref::submit(f) / modref::submit(options, f)
// Runs `f()` (or `f(callback_instance)`) once on the thread pool. Before returning, the calling
// module is pinned; the pin and the decay-copied callable live in one context that the callback
// owns and destroys after `f` returns; the module is released by FreeLibraryWhenCallbackReturns.
// Returns:
//   - OK once queued;
//   - kInvalidArgument for an empty callable (null function pointer, empty std::function),
//     with nothing pinned;
//   - kFailedPrecondition during process termination (the pool must not be used then);
//   - the pin's or TrySubmitThreadpoolCallback's Win32 error, with everything given back and
//     GetLastError() holding that error.
// An exception escaping `f` calls std::terminate.
template <class F>
requires(!std::same_as<std::remove_cvref_t<F>, threadpool_options>) [[nodiscard]] absl::Status
    submit(F&& f) {
  return submit(threadpool_options{}, std::forward<F>(f));
}
template <class F>
[[nodiscard]] absl::Status submit(const threadpool_options& options, F&& f) {
  using fn_type = std::decay_t<F>;
  using context_type = detail::submit_context<fn_type>;
  static_assert(std::is_invocable_v<fn_type> || std::is_invocable_v<fn_type, callback_instance>,
                "modref::submit: the callable must be invocable as f() or "
                "f(modref::callback_instance) (as an rvalue); capture what it needs");
  if (detail::tp_process_terminating()) return detail::tp_termination_refusal("modref::submit");
  if (detail::callable_is_empty(f)) return detail::tp_empty_callable("modref::submit");
  absl::StatusOr<module_ref> pin = module_ref::pin_current();
  if (!pin.ok()) return pin.status();

  context_type* context = nullptr;
  try {
    context = make_ref<context_type>(*std::move(pin), std::forward<F>(f)).detach();
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("modref::submit: out of memory for the callback context");
  }
  return detail::tp_queue_one_shot(context, options, "modref::submit");
}

// modref::threadpool_work<Policy>
// A pool work object bound to a callable, called as `f()` on a const object: each submit() queues
// one call of it. Also: create(), wait_for_callbacks(), cancel_and_wait(), reset(), get(), swap()
// (detail::tp_facade).
template <on_destroy Policy>
class threadpool_work
    : public detail::tp_facade<threadpool_work<Policy>, detail::tp_work_traits, Policy> {
  using base = detail::tp_facade<threadpool_work<Policy>, detail::tp_work_traits, Policy>;

 public:
  // An empty object: owns nothing; submit() returns kFailedPrecondition.
  threadpool_work() noexcept = default;
  // Creates the work object; throws std::system_error on failure (see create()).
  template <class F>
  requires detail::tp_not_self<F, threadpool_work>
  explicit threadpool_work(F&& f) : threadpool_work(threadpool_options{}, std::forward<F>(f)) {}
  template <class F>
  threadpool_work(const threadpool_options& options, F&& f) : base(options, std::forward<F>(f)) {}

  // threadpool_work::submit()
  // Queues one call of the callable (SubmitThreadpoolWork). kFailedPrecondition on an empty
  // object, during process termination, while it is destroyed, and from the object's own
  // callback after its owner's cancel_and_wait() (until the owner submits again).
  [[nodiscard]] absl::Status submit() {
    return this->impl_.arm("modref::threadpool_work::submit",
                           [](PTP_WORK work) { ::SubmitThreadpoolWork(work); });
  }
};

// modref::threadpool_timer<Policy>
// A pool timer bound to a callable, called as `f()` on a const object: one-shot (period 0) or
// periodic. Created unarmed; set() arms it, stop() disarms it. Destruction stops the timer first.
template <on_destroy Policy>
class threadpool_timer
    : public detail::tp_facade<threadpool_timer<Policy>, detail::tp_timer_traits, Policy> {
  using base = detail::tp_facade<threadpool_timer<Policy>, detail::tp_timer_traits, Policy>;

 public:
  // An empty object: owns nothing; set() returns kFailedPrecondition.
  threadpool_timer() noexcept = default;
  // Creates the timer object (unarmed); throws std::system_error on failure (see create()).
  template <class F>
  requires detail::tp_not_self<F, threadpool_timer>
  explicit threadpool_timer(F&& f) : threadpool_timer(threadpool_options{}, std::forward<F>(f)) {}
  template <class F>
  threadpool_timer(const threadpool_options& options, F&& f) : base(options, std::forward<F>(f)) {}

  // threadpool_timer::set(due, period, window)
  // Arms the timer: the first call `due` from now (0: at once), then every `period` (0: once).
  // `window` lets the system delay a call by up to that much to batch wake-ups. Replaces any
  // previous setting. kInvalidArgument for a negative due time, period or window, or a period or
  // window that does not fit in 32 bits of milliseconds; kFailedPrecondition on an empty object,
  // during process termination, while it is destroyed, and from the timer's own callback after
  // its owner stopped it (stop(), cancel_and_wait()) until the owner sets it again.
  [[nodiscard]] absl::Status set(std::chrono::nanoseconds due,
                                 std::chrono::milliseconds period = std::chrono::milliseconds(0),
                                 std::chrono::milliseconds window = std::chrono::milliseconds(0)) {
    return set(due, period, window, nullptr);
  }
  // threadpool_timer::set(due, period, window, previous)
  // As set(), and stores in `*previous` (when not null) whether a callback due under the
  // previous setting was cancelled by this one (SetThreadpoolTimerEx); unknown where the system
  // lacks that function (before Windows 8; Wine 8). Left unchanged when set() fails.
  [[nodiscard]] absl::Status set(std::chrono::nanoseconds due, std::chrono::milliseconds period,
                                 std::chrono::milliseconds window, pending_callback* previous) {
    constexpr std::string_view what = "modref::threadpool_timer::set";
    if (due.count() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": negative due time"));
    }
    if (period.count() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": negative period"));
    }
    if (window.count() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": negative window"));
    }
    constexpr auto kMaxMs = static_cast<std::int64_t>((std::numeric_limits<DWORD>::max)());
    if (period.count() > kMaxMs || window.count() > kMaxMs) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": period and window must fit in 32 bits of milliseconds"));
    }
    FILETIME due_time = detail::tp_relative_filetime(due);
    return this->impl_.arm(what, [&](PTP_TIMER timer) {
      const pending_callback result = detail::tp_set_timer(
          timer, &due_time, static_cast<DWORD>(period.count()), static_cast<DWORD>(window.count()));
      if (previous != nullptr) *previous = result;
    });
  }

  // threadpool_timer::stop(previous)
  // Disarms the timer: no new calls are queued; queued and running ones are not affected (use
  // cancel_and_wait() for those), except that a running one can no longer re-arm the timer
  // (set() from its callback is refused until the owner sets it again; a callback that stops its
  // own timer only disarms it). `*previous` (when not null) says whether a due callback was
  // cancelled, as for set(). kFailedPrecondition on an empty object, while it is destroyed, or
  // during process termination, where even disarming would crash on Windows.
  [[nodiscard]] absl::Status stop(pending_callback* previous = nullptr) {
    return this->impl_.stop("modref::threadpool_timer::stop", previous);
  }

  // threadpool_timer::is_set()
  // True while the timer is armed (IsThreadpoolTimerSet). False on an empty object and during
  // process termination.
  bool is_set() const noexcept {
    if (!this->impl_ || detail::tp_process_terminating()) return false;
    return ::IsThreadpoolTimerSet(this->impl_.get()) != FALSE;
  }
};

// modref::threadpool_wait<Policy>
// A pool wait bound to a callable: after set(handle), one call when `handle` is signalled or the
// timeout expires. The callable takes the TP_WAIT_RESULT (WAIT_OBJECT_0 or WAIT_TIMEOUT), or
// nothing, on a const object. A wait is one-shot: call set() again (from the callback if you like)
// to wait again. Destruction stops waiting first.
template <on_destroy Policy>
class threadpool_wait
    : public detail::tp_facade<threadpool_wait<Policy>, detail::tp_wait_traits, Policy> {
  using base = detail::tp_facade<threadpool_wait<Policy>, detail::tp_wait_traits, Policy>;

 public:
  // An empty object: owns nothing; set() returns kFailedPrecondition.
  threadpool_wait() noexcept = default;
  // Creates the wait object (not waiting yet); throws std::system_error on failure.
  template <class F>
  requires detail::tp_not_self<F, threadpool_wait>
  explicit threadpool_wait(F&& f) : threadpool_wait(threadpool_options{}, std::forward<F>(f)) {}
  template <class F>
  threadpool_wait(const threadpool_options& options, F&& f) : base(options, std::forward<F>(f)) {}

  // threadpool_wait::set(handle, timeout, previous)
  // Waits for `handle` (which must stay open until the call, stop() or destruction) for at most
  // `timeout` (nullopt: for ever). Replaces any previous setting; `*previous` (when not null)
  // says whether that setting's callback was cancelled (SetThreadpoolWaitEx; unknown where the
  // system lacks it, as on Wine 8). kInvalidArgument for a null or INVALID_HANDLE_VALUE handle or
  // a negative timeout; kFailedPrecondition on an empty object, during process termination,
  // while it is destroyed, and from its own callback after its owner stopped it (stop(),
  // cancel_and_wait()) until the owner sets it again.
  [[nodiscard]] absl::Status set(HANDLE handle,
                                 std::optional<std::chrono::nanoseconds> timeout = std::nullopt,
                                 pending_callback* previous = nullptr) {
    constexpr std::string_view what = "modref::threadpool_wait::set";
    if (handle == nullptr || handle == INVALID_HANDLE_VALUE) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": null or invalid handle"));
    }
    if (timeout.has_value() && timeout->count() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": negative timeout"));
    }
    FILETIME expiry{};
    if (timeout.has_value()) expiry = detail::tp_relative_filetime(*timeout);
    return this->impl_.arm(what, [&](PTP_WAIT wait) {
      const pending_callback result =
          detail::tp_set_wait(wait, handle, timeout.has_value() ? &expiry : nullptr);
      if (previous != nullptr) *previous = result;
    });
  }

  // threadpool_wait::stop(previous)
  // Stops waiting: no new call is queued; a queued or running one is not affected, except that
  // a running one can no longer set the wait again (refused until the owner sets it).
  // `*previous` as for set(). kFailedPrecondition on an empty object, while it is destroyed, or
  // during process termination.
  [[nodiscard]] absl::Status stop(pending_callback* previous = nullptr) {
    return this->impl_.stop("modref::threadpool_wait::stop", previous);
  }
};

}  // namespace modref

#endif  // MODREF_THREADPOOL_H_