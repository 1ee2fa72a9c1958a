// <modref/detail/thread_win32.h> — the Windows half of <modref/thread.h>: how a thread is started
// (CreateThread suspended, the context handed over, FreeLibraryAndExitThread as the worker's last
// act) and what one started thread is to the system (detail::native_thread: its handle and id,
// joined with WaitForSingleObject). modref::thread, start_detached and jthread are written once,
// in <modref/thread.h> and detail/jthread.h, on top of these; include <modref/thread.h>, not this
// file. detail/thread_linux.h provides the same names over pthreads.
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
#include "modref/detail/thread_common.h"
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

// detail::native_thread
// One started thread as Windows knows it: its handle (owned: closed by join and detach) and id.
// modref::thread is written on top of it (<modref/thread.h>); used by one thread at a time.
// No destructor, on purpose: its owner (modref::thread, start_detached) always joins, detaches
// or moves it before letting it go, and modref::thread calls std::terminate for a joinable one.
class native_thread {
 public:
  using id_type = DWORD;
  using handle_type = HANDLE;
  using exit_code_type = DWORD;  // what join's wait reports (GetExitCodeThread)

  // Why join refuses to wait from this module's teardown.
  static constexpr const char* k_teardown_refusal =
      "modref::thread::join: refused under the loader lock (inside DllMain) while the thread "
      "still runs: it needs the loader lock to exit, so the wait would never end "
      "(resource_deadlock_would_occur). Stop and join workers before FreeLibrary, or detach.";

  native_thread() noexcept = default;
  native_thread(HANDLE handle, DWORD id) noexcept : handle_(handle), id_(id) {}
  native_thread(native_thread&& other) noexcept
      : handle_(std::exchange(other.handle_, nullptr)), id_(std::exchange(other.id_, 0)) {}
  // Only onto a thread that is not joinable (modref::thread checks).
  native_thread& operator=(native_thread&& other) noexcept {
    handle_ = std::exchange(other.handle_, nullptr);
    id_ = std::exchange(other.id_, 0);
    return *this;
  }

  bool joinable() const noexcept { return handle_ != nullptr; }
  DWORD id() const noexcept { return id_; }
  HANDLE handle() const noexcept { return handle_; }

  // Waits and closes the handle, or says why it would not (refused: the thread stays joinable).
  join_outcome join(DWORD* code) noexcept {
    if (!joinable()) return join_outcome::not_joinable;
    if (id_ == ::GetCurrentThreadId()) return join_outcome::self;
    if (loader_lock_held_by_this_thread() && ::WaitForSingleObject(handle_, 0) == WAIT_TIMEOUT) {
      return join_outcome::under_loader_lock;
    }
    if (::WaitForSingleObject(handle_, INFINITE) == WAIT_FAILED) {
      wait_error_ = ::GetLastError();
      return join_outcome::wait_failed;
    }
    ::GetExitCodeThread(handle_, code);
    detach();
    return join_outcome::joined;
  }
  // The failed wait of the last join, as an exception and as a status.
  std::system_error wait_failure_error() const {
    return std::system_error(static_cast<int>(wait_error_), std::system_category(),
                             "modref::thread::join: WaitForSingleObject");
  }
  absl::Status wait_failure_status() const {
    return win32_error_status(wait_error_, "modref::thread::join: WaitForSingleObject");
  }

  // Lets the thread run on its own: closes the handle (GetLastError() kept).
  void detach() noexcept {
    last_error_preserver keep;
    ::CloseHandle(std::exchange(handle_, nullptr));
    id_ = 0;
  }

  // For jthread (detail/jthread.h): during process termination the system has already ended the
  // thread; forget the handle without waiting, cancelling or closing anything (touching kernel
  // objects is pointless then, and no code should do more than it must).
  bool abandon_if_process_ending() noexcept {
    if (!process_terminating()) return false;
    handle_ = nullptr;
    id_ = 0;
    return true;
  }
  static void report_detached_instead_of_joining() noexcept {
    ::OutputDebugStringA(
        "modref::jthread: destroyed where joining would deadlock (on its own thread or under "
        "the loader lock); stop was requested and the thread was detached instead\n");
  }

  void swap(native_thread& other) noexcept {
    std::swap(handle_, other.handle_);
    std::swap(id_, other.id_);
    std::swap(wait_error_, other.wait_error_);
  }

 private:
  HANDLE handle_ = nullptr;
  DWORD id_ = 0;
  DWORD wait_error_ = 0;  // GetLastError() of a failed wait, for the wait_failed outcome
};

// detail::start_thread(options, f, args...)
// Pins the calling module, builds the context, creates the thread suspended, hands the context
// to it and resumes it. On failure nothing is left behind: the context (and with it the pin) is
// destroyed on the calling thread and GetLastError() holds the creation error.
template <class F, class... Args>
absl::StatusOr<native_thread> start_thread(const thread_options& options, F&& f, Args&&... args) {
  using context_type = thread_context<std::decay_t<F>, std::decay_t<Args>...>;
  absl::StatusOr<ref_ptr<context_type>> made =
      make_thread_context<context_type>(std::forward<F>(f), std::forward<Args>(args)...);
  if (!made.ok()) return made.status();  // nothing pinned, nothing allocated
  ref_ptr<context_type> context = *std::move(made);

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
    return native_thread(handle, id);
  }
#endif
  const DWORD resumed = ::ResumeThread(handle);
  // A thread created suspended by us can always be resumed; anything else is a broken invariant.
  Ensures(resumed != static_cast<DWORD>(-1));
  return native_thread(handle, id);
}

}  // namespace detail

}  // namespace modref

#endif  // MODREF_DETAIL_THREAD_WIN32_H_
