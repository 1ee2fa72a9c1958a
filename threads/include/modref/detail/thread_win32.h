// <modref/detail/thread_win32.h> — the Windows half of <modref/thread.h>: the code, moved here
// unchanged so that the platform difference lives in files named after the platform. Include
// <modref/thread.h>, not this file; the contract, example, lifetime and thread-safety notes
// are in that header.
#ifndef MODREF_DETAIL_THREAD_WIN32_H_
#define MODREF_DETAIL_THREAD_WIN32_H_

#ifndef _WIN32
#error "<modref/detail/thread_win32.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <new>
#include <ostream>
#include <stop_token>
#include <string>
#include <system_error>
#include <thread>
#include <tuple>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "gsl/assert"
#include "modref/detail/callables.h"
#include "modref/dll_main.h"
#include "modref/module_ref.h"
#include "modref/refcount.h"
#include "modref/win32_error.h"

namespace modref {

// modref::thread_options
// Optional settings for a new thread.
struct thread_options {
  // Shown by debuggers and profilers (SetThreadDescription, where the system has it). Empty: none.
  std::wstring name;
  // Stack reservation in bytes; 0 takes the executable's default.
  std::size_t stack_size = 0;
};

namespace detail {

// detail::thread_context<Fn, Args...>
// Everything a worker owns: the module pin, the decayed callable and arguments. One allocation.
template <class Fn, class... Args>
class thread_context final : public ref_counted<thread_context<Fn, Args...>> {
 public:
  template <class F, class... A>
  thread_context(module_ref pin, F&& f, A&&... args)
      : pin_(std::move(pin)), call_(std::forward<F>(f), std::forward<A>(args)...) {}

  // Runs the callable once, as std::thread does: on rvalues of the stored copies. noexcept: an
  // escaping exception ends the process through std::terminate.
  DWORD run() noexcept {
    using result = std::invoke_result_t<Fn, Args...>;
    auto invoke = [](Fn&& fn, Args&&... args) -> result {
      return std::invoke(std::move(fn), std::move(args)...);
    };
    if constexpr (std::is_void_v<result>) {
      std::apply(invoke, std::move(call_));
      return 0;
    } else {
      return exit_code_from<DWORD>(std::apply(invoke, std::move(call_)));
    }
  }

  // Hands over the module reference for FreeLibraryAndExitThread.
  HMODULE release_module() noexcept { return pin_.release(); }

 private:
  context_counter counted_;
  module_ref pin_;
  std::tuple<Fn, Args...> call_;
};

// detail::thread_entry<Context>
// The thread procedure. It is a template instantiated in the module that started the thread, so
// its code lives there and is covered by that module's pin.
template <class Context>
DWORD WINAPI thread_entry(void* raw) noexcept {
  HMODULE module = nullptr;
  DWORD exit_code = 0;
  {
    ref_ptr<Context> context(static_cast<Context*>(raw), adopt_ref);
    exit_code = context->run();
    module = context->release_module();
  }  // The context dies here: callable, arguments and counters are destroyed on this thread.
  // Last statement: returns the module reference and ends the thread in one call, so that no
  // instruction of this (possibly now unmapped) module runs after the reference is gone.
  ::FreeLibraryAndExitThread(module, exit_code);
}

using set_thread_description_fn = HRESULT(WINAPI*)(HANDLE, PCWSTR);

// SetThreadDescription exists from Windows 10 1607; look it up instead of importing it. Cached in
// a constant-initialised atomic rather than a function-local static: no guard variable (whose
// MinGW implementation takes a winpthreads mutex) and nothing to initialise before first use
// (docs/design.md, "Init order"). Two first callers may both look it up; they store the same value.
inline constinit std::atomic<set_thread_description_fn> g_thread_description_setter{nullptr};
inline constinit std::atomic<bool> g_thread_description_resolved{false};

inline set_thread_description_fn thread_description_setter() noexcept {
  // Acquire pairs with the release below: a reader that sees "resolved" sees the pointer.
  if (g_thread_description_resolved.load(std::memory_order_acquire)) {
    return g_thread_description_setter.load(std::memory_order_relaxed);
  }
  set_thread_description_fn found = nullptr;
  for (const wchar_t* dll : {L"kernelbase.dll", L"kernel32.dll"}) {
    if (HMODULE module = ::GetModuleHandleW(dll)) {
      if (FARPROC proc = ::GetProcAddress(module, "SetThreadDescription")) {
        found = reinterpret_cast<set_thread_description_fn>(reinterpret_cast<void*>(proc));
        break;
      }
    }
  }
  g_thread_description_setter.store(found, std::memory_order_relaxed);
  g_thread_description_resolved.store(true, std::memory_order_release);
  return found;
}

struct started_thread {
  HANDLE handle = nullptr;
  DWORD id = 0;
};

// detail::start_thread(options, f, args...)
// Pins the calling module, builds the context, creates the thread suspended, hands the context
// to it and resumes it. On failure nothing is left behind: the context (and with it the pin) is
// destroyed on the calling thread and GetLastError() holds the creation error.
template <class F, class... Args>
absl::StatusOr<started_thread> start_thread(const thread_options& options, F&& f, Args&&... args) {
  using context_type = thread_context<std::decay_t<F>, std::decay_t<Args>...>;
  static_assert(std::is_invocable_v<std::decay_t<F>, std::decay_t<Args>...>,
                "modref::thread: the callable cannot be invoked with these arguments (after "
                "decay-copying, as std::thread does); check the parameter types");
  if (callable_is_empty(f)) {
    return absl::InvalidArgumentError(
        "modref: cannot start a thread for an empty callable (null function pointer or empty "
        "function object)");
  }
  absl::StatusOr<module_ref> pin = module_ref::pin_current();
  if (!pin.ok()) return pin.status();

  ref_ptr<context_type> context;
  try {
    context =
        make_ref<context_type>(*std::move(pin), std::forward<F>(f), std::forward<Args>(args)...);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("modref: out of memory allocating the thread context");
  }

  ref_ptr<context_type> for_worker = context;  // the worker's reference, added before creation
  DWORD id = 0;
  HANDLE handle = nullptr;
#if defined(MODREF_TEST_SEAMS)
  if (const DWORD injected = take_injected_failure(g_test_seams.fail_next_thread_create)) {
    ::SetLastError(injected);
  } else
#endif
  {
    const DWORD flags =
        CREATE_SUSPENDED | (options.stack_size != 0 ? STACK_SIZE_PARAM_IS_A_RESERVATION : 0);
    handle = ::CreateThread(nullptr, options.stack_size, &thread_entry<context_type>,
                            for_worker.get(), flags, &id);
  }
  if (handle == nullptr) {
    const DWORD error = ::GetLastError();
    for_worker.reset();  // take the worker's reference back...
    context.reset();     // ...and ours: the context and the pin are gone
    ::SetLastError(error);
    return win32_error_status(error, "CreateThread");
  }
  if (!options.name.empty()) {
    if (const auto set_description = thread_description_setter()) {
      set_description(handle, options.name.c_str());
    }
  }
  (void)for_worker.detach();  // now owned by the worker
  context.reset();            // the worker holds the last reference before it runs a single line
#if defined(MODREF_TEST_SEAMS)
  if (g_test_seams.hold_next_thread.exchange(false)) {
    HANDLE held = nullptr;
    ::DuplicateHandle(::GetCurrentProcess(), handle, ::GetCurrentProcess(), &held, 0, FALSE,
                      DUPLICATE_SAME_ACCESS);
    g_test_seams.held_thread.store(held);
    return started_thread{handle, id};
  }
#endif
  const DWORD resumed = ::ResumeThread(handle);
  // A thread created suspended by us can always be resumed; anything else is a broken invariant.
  Ensures(resumed != static_cast<DWORD>(-1));
  return started_thread{handle, id};
}

template <class F>
concept not_thread_options = !std::same_as<std::remove_cvref_t<F>, thread_options>;

}  // namespace detail

// modref::thread
// std::thread's interface, for threads started from a DLL that may be unloaded under them.
class thread {
 public:
  // modref::thread::id
  // Identifies a thread (the Win32 thread id); a default id identifies no thread.
  class id {
   public:
    constexpr id() noexcept = default;
    constexpr explicit id(DWORD value) noexcept : value_(value) {}
    constexpr DWORD value() const noexcept { return value_; }
    friend constexpr bool operator==(id, id) noexcept = default;
    friend constexpr auto operator<=>(id, id) noexcept = default;
    friend std::ostream& operator<<(std::ostream& out, id i) { return out << i.value_; }

   private:
    DWORD value_ = 0;
  };
  using native_handle_type = HANDLE;
  using exit_code_type = DWORD;  // what join's wait reports (GetExitCodeThread)

  thread() noexcept = default;

  // Starts `f(args...)` on a new thread. Throws std::system_error on failure: the Win32 error as a
  // std::system_category code, or the mapping of detail::to_system_error (invalid_argument for an
  // empty callable, operation_not_permitted while the module is unloading, not_enough_memory).
  template <class F, class... Args>
  requires(!std::same_as<std::remove_cvref_t<F>, thread>) &&
      detail::not_thread_options<F> explicit thread(F&& f, Args&&... args)
      : thread(thread_options{}, std::forward<F>(f), std::forward<Args>(args)...) {}

  template <class F, class... Args>
  thread(const thread_options& options, F&& f, Args&&... args) {
    absl::StatusOr<detail::started_thread> started =
        detail::start_thread(options, std::forward<F>(f), std::forward<Args>(args)...);
    if (!started.ok()) throw detail::to_system_error(started.status());
    handle_ = started->handle;
    id_ = id(started->id);
  }

  // thread::start(f, args...)
  // As the constructor, but reports failure as a status instead of throwing.
  template <class F, class... Args>
  requires detail::not_thread_options<F>
  [[nodiscard]] static absl::StatusOr<thread> start(F&& f, Args&&... args) {
    return start(thread_options{}, std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  [[nodiscard]] static absl::StatusOr<thread> start(const thread_options& options, F&& f,
                                                    Args&&... args) {
    absl::StatusOr<detail::started_thread> started =
        detail::start_thread(options, std::forward<F>(f), std::forward<Args>(args)...);
    if (!started.ok()) return started.status();
    thread t;
    t.handle_ = started->handle;
    t.id_ = id(started->id);
    return t;
  }

  thread(const thread&) = delete;  // one thread, one owner
  thread& operator=(const thread&) = delete;
  thread(thread&& other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)), id_(std::exchange(other.id_, id())) {}
  // Move assignment onto a joinable thread calls std::terminate, as std::thread does.
  thread& operator=(thread&& other) noexcept {
    if (joinable()) std::terminate();
    handle_ = std::exchange(other.handle_, nullptr);
    id_ = std::exchange(other.id_, id());
    return *this;
  }
  // Destroying a joinable thread calls std::terminate, as std::thread does.
  ~thread() {
    if (joinable()) std::terminate();
  }

  bool joinable() const noexcept { return handle_ != nullptr; }
  id get_id() const noexcept { return id_; }
  native_handle_type native_handle() const noexcept { return handle_; }
  static unsigned hardware_concurrency() noexcept { return std::thread::hardware_concurrency(); }

  // thread::join()
  // Waits for the thread to end and closes its handle. Throws std::system_error with
  //   - std::errc::invalid_argument when not joinable;
  //   - std::errc::resource_deadlock_would_occur when called on the thread itself, or under the
  //     loader lock while the thread is still running (it could never finish: exiting needs the
  //     loader lock).
  void join() {
    DWORD code = 0;
    const join_outcome outcome = join_(&code);
    switch (outcome) {
      case join_outcome::joined:
        return;
      case join_outcome::not_joinable:
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "modref::thread::join: thread is not joinable");
      case join_outcome::self:
      case join_outcome::under_loader_lock:
        throw std::system_error(std::make_error_code(std::errc::resource_deadlock_would_occur),
                                join_refusal_(outcome));
      case join_outcome::wait_failed:
        throw std::system_error(static_cast<int>(::GetLastError()), std::system_category(),
                                "modref::thread::join: WaitForSingleObject");
    }
  }

  // thread::try_join()
  // As join(), but returns the thread's exit code, or kFailedPrecondition (not joinable, would
  // deadlock) or the Win32 error of a failed wait, without throwing. The thread stays joinable
  // when the join was refused.
  [[nodiscard]] absl::StatusOr<DWORD> try_join() noexcept {
    DWORD code = 0;
    const join_outcome outcome = join_(&code);
    if (outcome == join_outcome::joined) return code;
    // noexcept: a message that cannot be allocated gives a status without one (an empty
    // message is stored inline), never std::terminate.
    const absl::StatusCode fallback = outcome == join_outcome::wait_failed
                                          ? absl::StatusCode::kUnknown
                                          : absl::StatusCode::kFailedPrecondition;
    try {
      if (outcome == join_outcome::wait_failed) {
        return last_win32_error_status("modref::thread::join: WaitForSingleObject");
      }
      return absl::FailedPreconditionError(join_refusal_(outcome));
    } catch (const std::bad_alloc&) {
      return absl::Status(fallback, "");
    }
  }

  // thread::detach()
  // Lets the thread run on its own and closes the handle. Throws std::system_error
  // (std::errc::invalid_argument) when not joinable. The module stays pinned until it ends.
  void detach() {
    if (!joinable()) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "modref::thread::detach: thread is not joinable");
    }
    close_();
  }

  void swap(thread& other) noexcept {
    std::swap(handle_, other.handle_);
    std::swap(id_, other.id_);
  }
  friend void swap(thread& a, thread& b) noexcept { a.swap(b); }

 private:
  friend class jthread;

  enum class join_outcome { joined, not_joinable, self, under_loader_lock, wait_failed };

  static const char* join_refusal_(join_outcome outcome) noexcept {
    switch (outcome) {
      case join_outcome::not_joinable:
        return "modref::thread::join: thread is not joinable";
      case join_outcome::self:
        return "modref::thread::join: a thread cannot join itself (resource_deadlock_would_occur)";
      default:
        return "modref::thread::join: refused under the loader lock (inside DllMain) while the "
               "thread still runs: it needs the loader lock to exit, so the wait would never end "
               "(resource_deadlock_would_occur). Stop and join workers before FreeLibrary, or "
               "detach.";
    }
  }

  // Waits and closes, or says why it would not.
  join_outcome join_(DWORD* code) noexcept {
    if (!joinable()) return join_outcome::not_joinable;
    if (id_.value() == ::GetCurrentThreadId()) return join_outcome::self;
    if (loader_lock_held_by_this_thread() && ::WaitForSingleObject(handle_, 0) == WAIT_TIMEOUT) {
      return join_outcome::under_loader_lock;
    }
    if (::WaitForSingleObject(handle_, INFINITE) == WAIT_FAILED) return join_outcome::wait_failed;
    ::GetExitCodeThread(handle_, code);
    close_();
    return join_outcome::joined;
  }

  // For jthread (detail/jthread.h): during process termination the system has already ended the
  // thread; forget the handle without waiting, cancelling or closing anything.
  bool abandon_if_process_ending_() noexcept {
    if (!process_terminating()) return false;
    abandon_();
    return true;
  }
  static void report_detached_instead_of_joining_() noexcept {
    ::OutputDebugStringA(
        "modref::jthread: destroyed where joining would deadlock (on its own thread or under "
        "the loader lock); stop was requested and the thread was detached instead\n");
  }

  void close_() noexcept {
    last_error_preserver keep;
    ::CloseHandle(std::exchange(handle_, nullptr));
    id_ = id();
  }
  // Forgets the handle without closing it: used only during process termination, when touching
  // kernel objects is pointless and no code should do more than it must.
  void abandon_() noexcept {
    handle_ = nullptr;
    id_ = id();
  }

  HANDLE handle_ = nullptr;
  id id_;
};

// modref::start_detached(f, args...)
// Starts `f(args...)` on a new thread and lets it run on its own: the one-line fix for an
// asynchronous DLL entry point. The calling module is pinned before this returns and released by
// the thread's last instruction. Returns the failure (nothing pinned, nothing leaked) otherwise.
template <class F, class... Args>
requires detail::not_thread_options<F>
[[nodiscard]] absl::Status start_detached(F&& f, Args&&... args) {
  return start_detached(thread_options{}, std::forward<F>(f), std::forward<Args>(args)...);
}
template <class F, class... Args>
[[nodiscard]] absl::Status start_detached(const thread_options& options, F&& f, Args&&... args) {
  absl::StatusOr<detail::started_thread> started =
      detail::start_thread(options, std::forward<F>(f), std::forward<Args>(args)...);
  if (!started.ok()) return started.status();
  last_error_preserver keep;
  ::CloseHandle(started->handle);
  return absl::OkStatus();
}

}  // namespace modref

#include "modref/detail/jthread.h"  // modref::jthread, on top of the thread above

template <>
struct std::hash<modref::thread::id> {
  std::size_t operator()(modref::thread::id i) const noexcept {
    return std::hash<DWORD>{}(i.value());
  }
};

#endif  // MODREF_DETAIL_THREAD_WIN32_H_
