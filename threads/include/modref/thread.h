// <modref/thread.h> — threads that cannot outlive the code they run.
//
// A DLL that starts a thread and returns invites two crashes. The host may FreeLibrary the DLL at
// once, unmapping the code the thread is about to run; and the state handed to the thread through
// CreateThread's `void*` may die with the function that created it. modref::thread,
// modref::jthread and modref::start_detached close both races by construction:
//
//   1. Before the call returns, the module that instantiated it (your DLL) is pinned: one loader
//      reference is taken on the calling thread, so no FreeLibrary can unmap the code in between.
//   2. The callable, its decayed arguments and that reference live in one intrusively counted
//      context; the creator adds the worker's reference before CreateThread and gives it back (and
//      the pin with it) if creation fails.
//   3. The worker runs the callable, destroys the context (callable, arguments, stop state: every
//      destructor runs), and only then calls FreeLibraryAndExitThread(module, exit_code) as the
//      last statement of a trampoline compiled into your module. Nothing runs after it.
//
// Example: the one-line fix for an asynchronous DLL export.
//
//   extern "C" __declspec(dllexport) HRESULT StartIndexing(const wchar_t* folder) {
//     absl::Status started = modref::start_detached(
//         [](std::wstring folder) { index_folder(folder); },  // runs on the new thread
//         std::wstring(folder));                             // copied into the context
//     return started.ok() ? S_OK : HRESULT_FROM_WIN32(modref::win32_error_code(started).value_or(
//                                      ERROR_GEN_FAILURE));
//   }
//   // The host may FreeLibrary right after StartIndexing returns: the DLL stays mapped until
//   // index_folder has returned and its std::wstring has been destroyed.
//
//   modref::thread worker([](int n) { return n * 2; }, 21);   // like std::thread
//   worker.join();                                            // exit code 42
//
//   modref::jthread poller([](std::stop_token stop) {         // like std::jthread
//     while (!stop.stop_requested()) poll_once();
//   });                                                       // ~jthread: request_stop + join
//
// Semantics, as std::thread: an exception escaping the callable calls std::terminate; destroying
// a joinable modref::thread calls std::terminate. A callable returning an integer (or enum) sets
// the thread's exit code, otherwise it is 0.
//
// What std::thread does not do:
//   - join() refuses to deadlock: joining from the thread itself, or under the loader lock (inside
//     any DllMain) while the thread still runs, throws std::system_error with
//     std::errc::resource_deadlock_would_occur instead of hanging for ever. try_join() returns a
//     status instead of throwing.
//   - ~jthread during process termination does nothing (the thread was already killed by the
//     system; see <modref/dll_main.h>), and under the loader lock it requests stop and does not
//     wait, saying so through OutputDebugString.
//   - Every starting function has a non-throwing form returning absl::Status / absl::StatusOr
//     for every failure to start (pin, allocation, CreateThread); only exceptions thrown by
//     copying or moving your callable and arguments propagate, as they would from std::thread.
//
// Layout: modref::thread and start_detached are written once, below, and jthread in
// detail/jthread.h; what differs between the systems (starting a thread, and what a started thread
// is: detail::start_thread and detail::native_thread) is in detail/thread_win32.h and
// detail/thread_linux.h, and what those two share in detail/thread_common.h.
//
// On Linux/glibc (detail/thread_linux.h) the same names and contracts hold for a .so: the pin is
// taken before the call returns, the creator hands the context to pthread_create and keeps no
// reference, and the worker's first action registers dlclose(pin) as its last thread-exit
// destructor (__cxa_thread_atexit_impl), so the final dlclose runs from glibc's thread-exit code
// after every frame and thread_local of the .so is gone, also after pthread_exit. Build the .so
// with -fno-gnu-unique (modref::module adds it for GCC) and define no pthread_key destructors in
// it; docs/design.md ("Linux/glibc") has every rule, docs/api.md the Linux column.
//
// Lifetime
//   - The context is destroyed on the worker thread, before it exits. modref creates the thread
//     suspended and drops the creator's reference before resuming it, so the last reference, and
//     with it every destructor, always belongs to the worker.
//   - The module stays loaded until FreeLibraryAndExitThread: after that the thread can no longer
//     touch it. Objects the callable shares with others (a ref_ptr, a shared_ptr) die whenever
//     their last owner lets go, as usual.
//   - Threads use CreateThread, not _beginthreadex; docs/design.md explains why.
//
// Thread safety: a thread object is used by one thread at a time, as std::thread. The module pin
// and the context's count follow the orderings documented in <modref/refcount.h>.
#ifndef MODREF_THREAD_H_
#define MODREF_THREAD_H_

#if defined(_WIN32)
#include "modref/detail/thread_win32.h"
#elif defined(__linux__)
#include "modref/detail/thread_linux.h"
#else
#error "<modref/thread.h> supports Windows and Linux/glibc"
#endif

#include <compare>
#include <concepts>
#include <cstddef>
#include <exception>
#include <functional>
#include <new>
#include <ostream>
#include <system_error>
#include <thread>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace modref {

namespace detail {

template <class F>
concept not_thread_options = !std::same_as<std::remove_cvref_t<F>, thread_options>;

}  // namespace detail

// modref::thread
// std::thread's interface, for threads started from a DLL or .so that may be unloaded under them.
class thread {
 public:
  // modref::thread::id
  // Identifies a thread (the Win32 thread id; on Linux its pthread_t); a default id identifies no
  // thread.
  class id {
   public:
    using value_type = detail::native_thread::id_type;
    constexpr id() noexcept = default;
    constexpr explicit id(value_type value) noexcept : value_(value) {}
    constexpr value_type value() const noexcept { return value_; }
    friend constexpr bool operator==(id, id) noexcept = default;
    friend constexpr auto operator<=>(id, id) noexcept = default;
    friend std::ostream& operator<<(std::ostream& out, id i) { return out << i.value_; }

   private:
    value_type value_{};
  };
  using native_handle_type = detail::native_thread::handle_type;  // HANDLE; pthread_t
  // What join reports: GetExitCodeThread's DWORD; on Linux the thread function's result.
  using exit_code_type = detail::native_thread::exit_code_type;

  thread() noexcept = default;

  // Starts `f(args...)` on a new thread. Throws std::system_error on failure: the Win32 error as a
  // std::system_category code (on Linux the errno value as a std::generic_category code), or the
  // mapping of detail::to_system_error (invalid_argument for an empty callable,
  // operation_not_permitted while the module is unloading, not_enough_memory).
  template <class F, class... Args>
  requires(!std::same_as<std::remove_cvref_t<F>, thread>) &&
      detail::not_thread_options<F> explicit thread(F&& f, Args&&... args)
      : thread(thread_options{}, std::forward<F>(f), std::forward<Args>(args)...) {}

  template <class F, class... Args>
  thread(const thread_options& options, F&& f, Args&&... args) {
    absl::StatusOr<detail::native_thread> started =
        detail::start_thread(options, std::forward<F>(f), std::forward<Args>(args)...);
    if (!started.ok()) throw detail::to_system_error(started.status());
    native_ = *std::move(started);
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
    absl::StatusOr<detail::native_thread> started =
        detail::start_thread(options, std::forward<F>(f), std::forward<Args>(args)...);
    if (!started.ok()) return started.status();
    thread t;
    t.native_ = *std::move(started);
    return t;
  }

  thread(const thread&) = delete;  // one thread, one owner
  thread& operator=(const thread&) = delete;
  thread(thread&& other) noexcept : native_(std::move(other.native_)) {}
  // Move assignment onto a joinable thread calls std::terminate, as std::thread does.
  thread& operator=(thread&& other) noexcept {
    if (joinable()) std::terminate();
    native_ = std::move(other.native_);
    return *this;
  }
  // Destroying a joinable thread calls std::terminate, as std::thread does.
  ~thread() {
    if (joinable()) std::terminate();
  }

  bool joinable() const noexcept { return native_.joinable(); }
  id get_id() const noexcept { return id(native_.id()); }
  native_handle_type native_handle() const noexcept { return native_.handle(); }
  static unsigned hardware_concurrency() noexcept { return std::thread::hardware_concurrency(); }

  // thread::join()
  // Waits for the thread to end (and on Windows closes its handle). Throws std::system_error with
  //   - std::errc::invalid_argument when not joinable;
  //   - std::errc::resource_deadlock_would_occur when called on the thread itself, or from this
  //     module's teardown while the thread is still running (Windows: under the loader lock, in
  //     any DllMain, since exiting needs the loader lock; Linux: from this module's destructors
  //     inside dlclose, which holds glibc's loader lock that the thread's final dlclose needs):
  //     it could never finish;
  //   - the Win32 error of a failed WaitForSingleObject (Linux: the errno of pthread_join).
  void join() {
    exit_code_type code = 0;
    const detail::join_outcome outcome = native_.join(&code);
    switch (outcome) {
      case detail::join_outcome::joined:
        return;
      case detail::join_outcome::not_joinable:
        throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                                "modref::thread::join: thread is not joinable");
      case detail::join_outcome::self:
      case detail::join_outcome::under_loader_lock:
        throw std::system_error(std::make_error_code(std::errc::resource_deadlock_would_occur),
                                join_refusal_(outcome));
      case detail::join_outcome::wait_failed:
        throw native_.wait_failure_error();
    }
  }

  // thread::try_join()
  // As join(), but returns the thread's exit code, or kFailedPrecondition (not joinable, would
  // deadlock) or the Win32 error (Linux: errno) status of a failed wait, without throwing. The
  // thread stays joinable when the join was refused.
  [[nodiscard]] absl::StatusOr<exit_code_type> try_join() noexcept {
    exit_code_type code = 0;
    const detail::join_outcome outcome = native_.join(&code);
    if (outcome == detail::join_outcome::joined) return code;
    // noexcept: a message that cannot be allocated gives a status without one (an empty
    // message is stored inline), never std::terminate.
    const absl::StatusCode fallback = outcome == detail::join_outcome::wait_failed
                                          ? absl::StatusCode::kUnknown
                                          : absl::StatusCode::kFailedPrecondition;
    try {
      if (outcome == detail::join_outcome::wait_failed) return native_.wait_failure_status();
      return absl::FailedPreconditionError(join_refusal_(outcome));
    } catch (const std::bad_alloc&) {
      return absl::Status(fallback, "");
    }
  }

  // thread::detach()
  // Lets the thread run on its own (on Windows: closes the handle). Throws std::system_error
  // (std::errc::invalid_argument) when not joinable. The module stays pinned until it ends.
  void detach() {
    if (!joinable()) {
      throw std::system_error(std::make_error_code(std::errc::invalid_argument),
                              "modref::thread::detach: thread is not joinable");
    }
    close_();
  }

  void swap(thread& other) noexcept { native_.swap(other.native_); }
  friend void swap(thread& a, thread& b) noexcept { a.swap(b); }

 private:
  friend class jthread;

  static const char* join_refusal_(detail::join_outcome outcome) noexcept {
    switch (outcome) {
      case detail::join_outcome::not_joinable:
        return "modref::thread::join: thread is not joinable";
      case detail::join_outcome::self:
        return "modref::thread::join: a thread cannot join itself (resource_deadlock_would_occur)";
      default:
        return detail::native_thread::k_teardown_refusal;
    }
  }

  // For jthread (detail/jthread.h): during process termination on Windows the system has already
  // ended the thread: forget it without waiting, cancelling or closing anything. Never on Linux.
  bool abandon_if_process_ending_() noexcept { return native_.abandon_if_process_ending(); }
  static void report_detached_instead_of_joining_() noexcept {
    detail::native_thread::report_detached_instead_of_joining();
  }
  void close_() noexcept { native_.detach(); }

  detail::native_thread native_;
};

// modref::start_detached(f, args...)
// Starts `f(args...)` on a new thread and lets it run on its own: the one-line fix for an
// asynchronous DLL (or .so) entry point. The calling module is pinned before this returns and
// released by the thread's last act (FreeLibraryAndExitThread; on Linux its last thread-exit
// destructor). Returns the failure (nothing pinned, nothing leaked) otherwise.
template <class F, class... Args>
requires detail::not_thread_options<F>
[[nodiscard]] absl::Status start_detached(F&& f, Args&&... args) {
  return start_detached(thread_options{}, std::forward<F>(f), std::forward<Args>(args)...);
}
template <class F, class... Args>
[[nodiscard]] absl::Status start_detached(const thread_options& options, F&& f, Args&&... args) {
  absl::StatusOr<detail::native_thread> started =
      detail::start_thread(options, std::forward<F>(f), std::forward<Args>(args)...);
  if (!started.ok()) return started.status();
  started->detach();
  return absl::OkStatus();
}

}  // namespace modref

#include "modref/detail/jthread.h"  // modref::jthread, on top of the thread above

template <>
struct std::hash<modref::thread::id> {
  std::size_t operator()(modref::thread::id i) const noexcept {
    return std::hash<modref::thread::id::value_type>{}(i.value());
  }
};

#endif  // MODREF_THREAD_H_
