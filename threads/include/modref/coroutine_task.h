// <modref/coroutine_task.h> — coroutine return types whose frames keep their DLL loaded:
// modref::fire_and_forget (eager, the coroutine form of start_detached) and modref::task<T>
// (lazy, awaited with symmetric transfer, or waited for with get()).
//
// Every suspension of a coroutine in a DLL is the unload race again: the host may FreeLibrary the
// DLL while the frame is suspended, and whatever resumes it then runs unmapped code. The frame's
// last moments are a second race: it is destroyed on some pool thread, and any instruction of the
// DLL after the module reference is gone crashes. Here the frame owns a pin:
//   - taken by the promise type's operator new, on the calling thread, before anything of the
//     frame exists (so before the coroutine first suspends, before the async API returns);
//   - given back by its operator delete, after every destructor of the frame (locals, promise,
//     parameter copies) has run, as the thread's last act in the DLL: handed to
//     FreeLibraryWhenCallbackReturns when the frame ends inside a modref callback (every modref
//     awaitable resumes through one), otherwise to a one-shot releaser callback.
//   - A task created while a modref coroutine of the same module is running on the thread (the
//     child in `co_await child()`) borrows that coroutine's pin instead of taking its own; it is
//     run only by a modref coroutine of the same module awaiting it, or by get() / an awaiter that
//     is not modref, which pin the frame's module for the time they run it. docs/design.md
//     ("Coroutines") argues why that is safe.
//
// Example (in a DLL; the host may FreeLibrary it as soon as StartSync returns):
//
//   modref::task<int> fetch_count(std::wstring url) {   // lazy: runs when awaited
//     co_await modref::resume_background();             // now on a pool thread
//     co_return download_and_count(url);
//   }
//
//   modref::fire_and_forget sync(std::wstring url, HANDLE cancel_event) {
//     int n = co_await fetch_count(std::move(url));     // symmetric transfer; exceptions propagate
//     modref::wake_result cancelled = co_await modref::resume_on_signal(cancel_event,
//                                                                       std::chrono::seconds(5));
//     if (!cancelled) publish(n);                       // timed out: nobody cancelled
//   }  // frame destroyed here, then the pin goes with FreeLibraryWhenCallbackReturns
//
//   extern "C" __declspec(dllexport) HRESULT StartSync(const wchar_t* url, HANDLE cancel) try {
//     sync(url, cancel);                                // pins before it returns, or throws
//     return S_OK;
//   } catch (const std::system_error& e) {
//     return HRESULT_FROM_WIN32(e.code().value());      // pin refused; nothing was started
//   }
//
// Errors
//   - Calling a coroutine whose frame must pin throws std::system_error when the pin cannot be
//     taken (during process termination or the module's own DLL_PROCESS_DETACH:
//     errc::operation_not_permitted; a Win32 error: that error in std::system_category()), or
//     std::bad_alloc. Nothing has been allocated or started then, and the caller's arguments are
//     destroyed by the caller as for any throwing call.
//   - An exception escaping a fire_and_forget calls std::terminate (as from std::thread); one
//     escaping a task is rethrown by the co_await or get() that consumes it.
//   - task::get() and co_await of an empty task throw std::system_error (see each member).
//
// Lifetime
//   - A fire_and_forget frame owns itself and is destroyed when the coroutine finishes.
//   - A task owns its frame; co_await std::move(t) and t.get() consume it (t is empty afterwards).
//     A task that is never started is destroyed by its owner without running.
//   - modref::activity().live_contexts counts live frames; live_pins their pins.
//
// Thread safety / memory ordering
//   - A task object is used by one thread at a time, as std::future. Completion is published to
//     get() by SetEvent / WaitForSingleObject (a full barrier) and to an awaiting coroutine by
//     symmetric transfer on the thread that completes the task.
//   - No Abseil synchronization and no thread_local: frames run and die on pool threads.
#ifndef MODREF_COROUTINE_TASK_H_
#define MODREF_COROUTINE_TASK_H_

#ifndef _WIN32
#error "<modref/coroutine_task.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <concepts>
#include <coroutine>
#include <exception>
#include <new>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

#include "modref/detail/coroutine_frame.h"

namespace modref {

// modref::fire_and_forget
// The return type of an eagerly started coroutine that nobody waits for: the coroutine form of
// modref::start_detached. The frame pins its module when it is created and lets it go after it
// has been destroyed (see the header comment). Returned by value and ignored.
class fire_and_forget {
 public:
  struct promise_type : detail::coro_promise_base {
    // promise_type::operator new(size)
    // Pins the calling module (throws std::system_error when it cannot) and allocates the frame.
    static void* operator new(std::size_t size) {
      absl::StatusOr<module_ref> pin = detail::coro_pin("modref::fire_and_forget");
      if (!pin.ok()) throw detail::to_system_error(pin.status());
      return detail::coro_allocate(size, *std::move(pin));
    }
    // promise_type::operator delete(frame, size)
    // Frees the frame, then gives the pin back (detail::coro_release).
    static void operator delete(void* frame, std::size_t size) noexcept {
      detail::coro_deallocate(frame, size);
    }

    fire_and_forget get_return_object() const noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }

    // promise_type::final_awaiter
    // A real suspension that destroys the frame, instead of std::suspend_never: a coroutine with
    // no suspension point at all is turned into a plain function by clang, with its frame on the
    // stack and no operator new (no pin, no count). The handle is made opaque so that the
    // self-destruction is not recognised and the suspension folded away again.
    struct final_awaiter {
      bool await_ready() const noexcept { return false; }
      void await_suspend(std::coroutine_handle<> self) const noexcept {
        std::coroutine_handle<>::from_address(detail::coro_opaque(self.address())).destroy();
      }
      void await_resume() const noexcept {}
    };
    final_awaiter final_suspend() const noexcept { return {}; }
    void return_void() const noexcept {}
    // An exception escaping a detached coroutine has nobody to go to: std::terminate, as from a
    // std::thread or modref::start_detached.
    [[noreturn]] void unhandled_exception() const noexcept { std::terminate(); }
  };
};

template <class T = void>
class task;

namespace detail {

// The result slot of a task: nothing yet, the value, or the exception.
template <class T>
struct task_result {
  std::variant<std::monostate, T, std::exception_ptr> slot;
  template <class U>
  void return_value(U&& value) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
    slot.template emplace<1>(std::forward<U>(value));
  }
  T take() {
    if (slot.index() == 2) std::rethrow_exception(std::get<2>(slot));
    return std::move(std::get<1>(slot));
  }
};
template <>
struct task_result<void> {
  std::exception_ptr error;
  void return_void() const noexcept {}
  void take() const {
    if (error) std::rethrow_exception(error);
  }
};

template <class T>
class task_promise : public coro_promise_base, public task_result<T> {
 public:
  // task_promise::operator new(size)
  // Borrows (takes no pin) when a modref coroutine of this module is running on this thread: the
  // new task is then the child of that coroutine. Otherwise pins the calling module, or throws
  // std::system_error when it cannot.
  static void* operator new(std::size_t size) {
    if (coro_running_here()) return coro_allocate(size, module_ref());
    absl::StatusOr<module_ref> pin = coro_pin("modref::task");
    if (!pin.ok()) throw to_system_error(pin.status());
    return coro_allocate(size, *std::move(pin));
  }
  static void operator delete(void* frame, std::size_t size) noexcept {
    coro_deallocate(frame, size);
  }

  // task_promise::task_promise()
  // Records whether operator new borrowed. It applied the same test on this thread a moment ago,
  // and nothing in between (the parameter copies) can change it: resume scopes are opened and
  // closed strictly nested, so the scope that was current before the copies is current after.
  task_promise() noexcept : self_pinned_(!coro_running_here()) {}

  task<T> get_return_object() noexcept;
  std::suspend_always initial_suspend() const noexcept { return {}; }

  struct final_awaiter {
    bool await_ready() const noexcept { return false; }
    std::coroutine_handle<> await_suspend(std::coroutine_handle<task_promise> self) noexcept {
      task_promise& promise = self.promise();
      if (promise.continuation_) return promise.continuation_;  // symmetric transfer
      // Started by get(). acq_rel: publishes the result to get(), and sees the event get()
      // stored before it announced that it waits. After SetEvent the waiting thread may destroy
      // this frame at once, so nothing here touches it afterwards.
      if (promise.get_state_.exchange(kDone, std::memory_order_acq_rel) == kWaiting) {
        ::SetEvent(promise.waiter_);
      }
      return std::noop_coroutine();
    }
    void await_resume() const noexcept {}
  };
  final_awaiter final_suspend() const noexcept { return {}; }

  void unhandled_exception() noexcept {
    if constexpr (std::is_void_v<T>) {
      this->error = std::current_exception();
    } else {
      this->slot.template emplace<2>(std::current_exception());
    }
  }

  bool self_pinned() const noexcept { return self_pinned_; }

  // Set by whoever starts the task: the awaiting coroutine, or get() (its state and event).
  // Ordered so that get_state_ and self_pinned_ share one 8-byte slot: every awaited frame of a
  // chain is alive at once, and each byte of it costs (docs/benchmarks.md, "Coroutines").
  static constexpr int kRunning = 0, kDone = 1, kWaiting = 2;
  std::coroutine_handle<> continuation_;
  HANDLE waiter_ = nullptr;
  std::atomic<int> get_state_{kRunning};

 private:
  bool self_pinned_;
};

inline std::system_error task_misuse(std::string_view what) {
  return std::system_error(
      std::make_error_code(std::errc::operation_not_permitted),
      absl::StrCat(what,
                   ": the task is empty (moved-from, already awaited, or get() was already "
                   "called); a task is consumed once"));
}

template <class P>
concept modref_promise = std::derived_from<P, coro_promise_base>;

}  // namespace detail

// modref::task<T>
// A lazily started coroutine producing a T (or nothing, for task<void>). Start it exactly once:
//   - `co_await std::move(t)` (or `co_await make_it()`) from any coroutine: the task runs on the
//     awaiting thread with symmetric transfer, its result or exception comes back through the
//     co_await, and its frame is destroyed before the co_await expression ends;
//   - `t.get()` from an ordinary thread: blocks until the task has finished.
template <class T>
class task {
 public:
  using promise_type = detail::task_promise<T>;
  using value_type = T;

  // An empty task: owns nothing; awaiting it or get() throws std::system_error.
  task() noexcept = default;
  task(const task&) = delete;  // one frame, one owner
  task& operator=(const task&) = delete;
  task(task&& other) noexcept : frame_(std::exchange(other.frame_, {})) {}
  task& operator=(task&& other) noexcept {
    if (this != &other) {
      reset();
      frame_ = std::exchange(other.frame_, {});
    }
    return *this;
  }
  // Destroys a task that was never started (its parameter copies run their destructors here).
  ~task() { reset(); }

  // task::valid()
  // True while the task owns a frame that has not been started.
  bool valid() const noexcept { return static_cast<bool>(frame_); }
  explicit operator bool() const noexcept { return valid(); }

  // task::operator co_await() &&
  // Starts the task from the awaiting coroutine. When the awaiter is a modref coroutine of the
  // same module, its pin covers the task; otherwise the task's module is pinned until the task's
  // frame has been destroyed. Throws std::system_error (from the co_await) for an empty task or a
  // pin that cannot be taken.
  auto operator co_await() && noexcept { return awaiter(std::exchange(frame_, {})); }
  // Awaiting a task lvalue is refused at compile time.
  void operator co_await() & = delete;  // write co_await std::move(t): the awaiter must own the
                                        // frame so it dies before what keeps the module loaded

  // task::get()
  // Runs the task to completion and returns its result (rethrows its exception). The task starts
  // on the calling thread and continues wherever its awaits take it; this thread waits. Throws
  // std::system_error, starting nothing, when the wait could never end or must not happen:
  //   - errc::resource_deadlock_would_occur under the loader lock (inside any DllMain): pool
  //     threads resuming the task may need that lock;
  //   - errc::resource_deadlock_would_occur inside a modref coroutine resumption (a pool thread
  //     running a coroutine): blocking it may starve the pool that must resume the task; co_await
  //     the task instead;
  //   - errc::operation_not_permitted for an empty task (moved-from, awaited, get() called before)
  //     and during process termination;
  //   - the Win32 error if a borrowed frame's module cannot be pinned.
  // A task that finishes without suspending costs no kernel object; one that suspends is waited
  // for with an event (polled with Sleep(1) if no event can be created: it must be waited for).
  T get() {
    constexpr std::string_view what = "modref::task::get";
    if (!frame_) throw detail::task_misuse(what);
    if (detail::tp_process_terminating()) {
      throw detail::to_system_error(detail::tp_termination_refusal(what));
    }
    if (loader_lock_held_by_this_thread() || detail::coro_current_scope() != nullptr) {
      throw std::system_error(
          std::make_error_code(std::errc::resource_deadlock_would_occur),
          absl::StrCat(what,
                       loader_lock_held_by_this_thread()
                           ? ": refused under the loader lock (inside DllMain): the pool threads "
                             "that resume the task may need that lock, so the wait could never end"
                           : ": refused inside a modref coroutine: blocking a pool thread may "
                             "starve the pool that must resume the task; co_await it instead"));
    }
    // A frame that borrowed its pin needs one now: nothing else covers it while it runs.
    module_ref pin;
    if (!frame_.promise().self_pinned()) {
      absl::StatusOr<module_ref> pinned = module_ref::pin_address(frame_.promise().frame_module());
      if (!pinned.ok()) throw detail::to_system_error(pinned.status());
      pin = *std::move(pinned);
    }
    wait_event event;  // destroyed last: after the frame and the pin
    started run(std::exchange(frame_, {}), std::move(pin));
    promise_type& promise = run.frame.promise();
    {
      detail::coro_resume_scope scope(nullptr, promise.frame_module());
      run.frame.resume();
    }
    // Acquire: a task that finished (here or already on a pool thread) published its result.
    if (promise.get_state_.load(std::memory_order_acquire) != promise_type::kDone) {
      // It suspended: wait for it. The event is created only now, so that a task that completes
      // without suspending costs no kernel object.
      event.handle = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
      int expected = promise_type::kRunning;
      if (event.handle == nullptr) {
        // No event (out of kernel resources): the task is running and must be waited for, so
        // poll instead of failing.
        while (promise.get_state_.load(std::memory_order_acquire) != promise_type::kDone) {
          ::Sleep(1);
        }
      } else {
        promise.waiter_ = event.handle;
        // acq_rel: on success publishes waiter_ to the completing thread; on failure (it has
        // just finished) acquires the result.
        if (promise.get_state_.compare_exchange_strong(expected, promise_type::kWaiting,
                                                       std::memory_order_acq_rel)) {
          // Bounded by the task: it always completes.
          ::WaitForSingleObject(event.handle, INFINITE);
        }
      }
    }
    return promise.take();
  }

  // task::reset()
  // Destroys an unstarted frame now; the task becomes empty.
  void reset() noexcept {
    if (frame_) std::exchange(frame_, {}).destroy();
  }

 private:
  friend class detail::task_promise<T>;
  using handle = std::coroutine_handle<promise_type>;
  explicit task(handle frame) noexcept : frame_(frame) {}

  // A started frame and what keeps its module loaded while it runs: the frame is destroyed
  // first, then the pin given back (detail::coro_release). Owned by the awaiter (so it lives in
  // the awaiting frame: kept to these two words) or by get().
  struct started {
    started(handle h, module_ref p) noexcept : frame(h), pin(std::move(p)) {}
    started(const started&) = delete;  // one frame, one owner
    started& operator=(const started&) = delete;
    ~started() {
      if (frame) frame.destroy();
      detail::coro_release(std::move(pin));
    }
    handle frame;
    module_ref pin;
  };

  // The event get() waits on once the task has suspended. get() declares it before its
  // `started`, so it is closed after the frame is gone and the pin given back.
  struct wait_event {
    wait_event() noexcept = default;
    wait_event(const wait_event&) = delete;  // one handle, one close
    wait_event& operator=(const wait_event&) = delete;
    ~wait_event() {
      if (handle != nullptr) ::CloseHandle(handle);
    }
    HANDLE handle = nullptr;
  };

  class awaiter {
   public:
    explicit awaiter(handle frame) noexcept : run_(frame, module_ref()) {}
    awaiter(awaiter&& other) noexcept
        : run_(std::exchange(other.run_.frame, {}), std::move(other.run_.pin)) {}
    awaiter& operator=(awaiter&&) = delete;  // awaiters are not reassigned

    bool await_ready() const noexcept { return !run_.frame; }  // an empty task: await_resume throws

    template <class P>
    std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) noexcept {
      bool covered = false;
      if constexpr (detail::modref_promise<P>) {
        covered = awaiting.promise().frame_module() == run_.frame.promise().frame_module();
      }
      if (!covered) {
        absl::StatusOr<module_ref> pin =
            module_ref::pin_address(run_.frame.promise().frame_module());
        if (!pin.ok()) {
          pin_error_ = win32_error_code(pin.status()).value_or(ERROR_GEN_FAILURE);
          return awaiting;  // resume at once; await_resume reports it
        }
        run_.pin = *std::move(pin);
      }
      run_.frame.promise().continuation_ = awaiting;
      return run_.frame;  // symmetric transfer into the task
    }

    T await_resume() {
      if (!run_.frame) throw detail::task_misuse("co_await modref::task");
      if (pin_error_ != 0) {
        throw detail::to_system_error(
            win32_error_status(pin_error_, "co_await modref::task: pinning the task's module"));
      }
      return run_.frame.promise().take();
    }

   private:
    started run_;
    DWORD pin_error_ = 0;
  };

  handle frame_;
};

template <class T>
task<T> detail::task_promise<T>::get_return_object() noexcept {
  // Opaque: a task destroyed by its caller must still be a heap frame (detail::coro_opaque).
  return task<T>(std::coroutine_handle<task_promise>::from_address(
      coro_opaque(std::coroutine_handle<task_promise>::from_promise(*this).address())));
}

}  // namespace modref

#endif  // MODREF_COROUTINE_TASK_H_
