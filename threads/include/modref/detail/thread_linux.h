// <modref/detail/thread_linux.h> — the Linux/glibc half of <modref/thread.h>: how a thread is
// started (below) and what one started thread is to the system (detail::native_thread: its
// pthread_t, joined with pthread_join). modref::thread, start_detached and jthread are written
// once, in <modref/thread.h> and detail/jthread.h, on top of these, with the same names as
// detail/thread_win32.h provides. Include <modref/thread.h>, not this file; the rules are in
// docs/design.md ("Linux").
//
// How the guarantee is kept without FreeLibraryAndExitThread:
//   1. Before the call returns, the calling thread pins the module (dladdr1 + dlopen(RTLD_NOLOAD),
//      <modref/module_ref.h>) and moves the pin into the thread's context.
//   2. The context goes to the new thread through pthread_create's argument; the creator keeps no
//      reference to it (on failure it takes the context back and destroys it, pin included).
//   3. The worker's first action registers glibc's own dlclose, with the pin as its argument, as a
//      thread-exit destructor: __cxa_thread_atexit_impl(dlclose, pin, an address inside libc).
//      glibc runs thread-exit destructors last-registered-first, after the thread function has
//      returned (or pthread_exit has unwound it) and every thread_local of the thread is gone, so
//      the final dlclose is called from libc's thread-exit code when no frame of the .so is left.
//   4. The worker runs the callable, destroys the context on its own thread, and returns.
//
// What this file relies on, and why each is fine (docs/design.md lists them as rules):
//   - dlclose is called through void(*)(void*) although it returns int. The standard leaves a call
//     through a function pointer of another type undefined; the x86-64 System V ABI and AAPCS64
//     (AArch64) pass the pointer argument in the same register (rdi / x0) whether or not the
//     callee returns a value, return the int in a register the void-expecting caller never reads
//     (eax / w0), and leave no stack adjustment to either side. glibc's own __call_tls_dtors makes
//     the call; nothing of the .so is on the stack by then.
//   - The owner address passed to __cxa_thread_atexit_impl is dlclose itself: inside libc.so.6 from
//     glibc 2.34 (Debian 12 has 2.36), or the program's PLT slot for it when a non-PIE program
//     takes its address; never null (glibc looks the address up) and never an address in the .so,
//     whose pending-destructor count would otherwise keep dlclose from unloading it.
//   - No pthread_key destructor may be defined in the .so: glibc runs them after the thread-exit
//     destructors, i.e. after the final dlclose has unmapped their code.
#ifndef MODREF_DETAIL_THREAD_LINUX_H_
#define MODREF_DETAIL_THREAD_LINUX_H_

#if !defined(__linux__)
#error "<modref/detail/thread_linux.h> is Linux-only"
#endif

#include <dlfcn.h>
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
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
#include "modref/detail/callables.h"
#include "modref/detail/thread_common.h"
#include "modref/module_ref.h"
#include "modref/posix_error.h"
#include "modref/refcount.h"

// glibc's registration of thread-exit destructors (exported since glibc 2.18; libstdc++'s
// __cxa_thread_atexit forwards to it). Declared here because no glibc header does.
extern "C" int __cxa_thread_atexit_impl(void (*destructor)(void*), void* object,
                                        void* owner) noexcept;

namespace modref {

// modref::thread_options
// Optional settings for a new thread.
struct thread_options {
  // The thread's name (pthread_setname_np; UTF-8, cut to the kernel's 15 bytes). Empty: none.
  // A std::wstring as on Windows, so that one plugin source serves both.
  std::wstring name;
  // Stack size in bytes; 0 takes the default (RLIMIT_STACK, usually 8 MiB). Below
  // PTHREAD_STACK_MIN the start fails with kInvalidArgument.
  std::size_t stack_size = 0;
};

namespace detail {

// detail::release_module_at_thread_exit(module)
// Registers dlclose(module) as a destructor of the calling thread (see the file comment for the
// cast and the owner address). Registered first, it runs last. False if glibc refused it.
MODREF_DETAIL_HIDDEN inline bool release_module_at_thread_exit(void* module) noexcept {
  using thread_exit_destructor = void (*)(void*);
  // Through void(*)(): the documented way to tell -Wcast-function-type the cast is deliberate.
  const auto release =
      reinterpret_cast<thread_exit_destructor>(reinterpret_cast<void (*)()>(&::dlclose));
  void* const owner = reinterpret_cast<void*>(&::dlclose);
  return ::__cxa_thread_atexit_impl(release, module, owner) == 0;
}

// detail::thread_context<Fn, Args...>
// Everything a worker owns: the module pin, the decayed callable and arguments. One allocation.
template <class Fn, class... Args>
class thread_context final : public ref_counted<thread_context<Fn, Args...>> {
 public:
  template <class F, class... A>
  thread_context(module_ref pin, F&& f, A&&... args)
      : pin_(std::move(pin)), call_(std::forward<F>(f), std::forward<A>(args)...) {}
  thread_context(const thread_context&) = delete;  // owns a pin and the callable
  thread_context& operator=(const thread_context&) = delete;
  // Once handed over, the thread-exit destructor owns the reference: forget it, never dlclose.
  ~thread_context() {
    if (pin_handed_over_) (void)pin_.release();
  }

  // thread_context::hand_over_pin()
  // The worker's first action: dlclose of the pin becomes the thread's last destructor. If glibc
  // refuses the registration (out of memory), the reference is deliberately kept for ever: the
  // module stays mapped rather than being unmapped under this thread.
  void hand_over_pin() noexcept {
    if (release_module_at_thread_exit(pin_.get())) {
      pin_handed_over_ = true;
    } else {
      (void)pin_.release();  // leaked on purpose: see above
    }
  }

  // thread_context::run()
  // Runs the callable once, as std::thread does: on rvalues of the stored copies. Deliberately
  // neither noexcept nor wrapped in a catch: pthread_exit's forced unwinding must pass through
  // (so that the context is still destroyed; a noexcept frame would turn it into std::terminate),
  // and an ordinary exception finds no handler above the thread function, so the C++ runtime
  // calls std::terminate, as std::thread does. (A catch of abi::__forced_unwind would do the same
  // but trips UBSan: the forced unwind carries no C++ object to bind the reference to.)
  std::uint32_t run() {
    using result = std::invoke_result_t<Fn, Args...>;
    auto invoke = [](Fn&& fn, Args&&... args) -> result {
      return std::invoke(std::move(fn), std::move(args)...);
    };
    if constexpr (std::is_void_v<result>) {
      std::apply(invoke, std::move(call_));
      return 0;
    } else {
      return exit_code_from<std::uint32_t>(std::apply(invoke, std::move(call_)));
    }
  }

  // thread_context::name_this_thread()
  // Sets the thread's name from the worker itself, before the callable runs (set by the creator
  // after pthread_create, the callable could run first and see the old name).
  void name_this_thread() noexcept {
    if (!name_.empty()) (void)::pthread_setname_np(::pthread_self(), name_.c_str());
  }
  std::string name_;  // UTF-8, at most 15 bytes; empty: keep the inherited name

#if defined(MODREF_TEST_SEAMS)
  bool held = false;  // wait on the test gate before the first action
#endif

 private:
  context_counter counted_;
  module_ref pin_;
  bool pin_handed_over_ = false;
  std::tuple<Fn, Args...> call_;
};

// detail::thread_entry<Context>
// The thread procedure. A template instantiated in the module that started the thread, with
// hidden visibility so that no other module's copy of the same instantiation can stand in for it:
// its code lives in, and is covered by, this module's pin.
template <class Context>
MODREF_DETAIL_HIDDEN void* thread_entry(void* raw) {
  ref_ptr<Context> context(static_cast<Context*>(raw), adopt_ref);
#if defined(MODREF_TEST_SEAMS)
  if (context->held) {
    while (::sem_wait(&g_test_seams.held_gate) != 0 && errno == EINTR) {
    }
  }
#endif
  context->hand_over_pin();  // first: before any thread_local of the user's code is touched
  context->name_this_thread();
  const std::uint32_t exit_code = context->run();
  context.reset();  // callable, arguments and counters are destroyed on this thread
  // Returning ends the thread; glibc then runs its thread-exit destructors, the dlclose last.
  return reinterpret_cast<void*>(static_cast<std::uintptr_t>(exit_code));
}

// detail::utf8_thread_name(name): `name` as UTF-8, cut at a character boundary to 15 bytes.
inline std::string utf8_thread_name(const std::wstring& name) {
  std::string out;
  for (const wchar_t wide : name) {
    auto c = static_cast<std::uint32_t>(wide);
    if (c > 0x10FFFF || (c >= 0xD800 && c <= 0xDFFF)) c = 0xFFFD;
    char bytes[4];
    std::size_t n = 0;
    if (c < 0x80) {
      bytes[n++] = static_cast<char>(c);
    } else if (c < 0x800) {
      bytes[n++] = static_cast<char>(0xC0 | (c >> 6));
      bytes[n++] = static_cast<char>(0x80 | (c & 0x3F));
    } else if (c < 0x10000) {
      bytes[n++] = static_cast<char>(0xE0 | (c >> 12));
      bytes[n++] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      bytes[n++] = static_cast<char>(0x80 | (c & 0x3F));
    } else {
      bytes[n++] = static_cast<char>(0xF0 | (c >> 18));
      bytes[n++] = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
      bytes[n++] = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      bytes[n++] = static_cast<char>(0x80 | (c & 0x3F));
    }
    if (out.size() + n > 15) break;
    out.append(bytes, n);
  }
  return out;
}

// detail::native_thread
// One started thread as glibc knows it: its pthread_t (joined by join, detached by detach).
// modref::thread is written on top of it (<modref/thread.h>); used by one thread at a time.
// No destructor, on purpose: its owner (modref::thread, start_detached) always joins, detaches
// or moves it before letting it go, and modref::thread calls std::terminate for a joinable one.
class native_thread {
 public:
  using id_type = pthread_t;
  using handle_type = pthread_t;
  using exit_code_type = std::uint32_t;  // what join reports (the thread function's result)

  // Why join refuses to wait from this module's teardown.
  static constexpr const char* k_teardown_refusal =
      "modref::thread::join: refused during this module's teardown (its destructors run inside "
      "dlclose, which holds glibc's loader lock) while the thread still runs: its final dlclose "
      "needs that lock, so the wait would never end (resource_deadlock_would_occur). Stop and "
      "join workers before dlclose, or detach.";

  native_thread() noexcept = default;
  explicit native_thread(pthread_t thread) noexcept : thread_(thread) {}
  native_thread(native_thread&& other) noexcept : thread_(std::exchange(other.thread_, {})) {}
  // Only onto a thread that is not joinable (modref::thread checks).
  native_thread& operator=(native_thread&& other) noexcept {
    thread_ = std::exchange(other.thread_, {});
    return *this;
  }

  // glibc's pthread_t of a live thread is never zero (it is the thread's descriptor address).
  bool joinable() const noexcept { return thread_ != pthread_t{}; }
  pthread_t id() const noexcept { return thread_; }
  pthread_t handle() const noexcept { return thread_; }

  // Waits, or says why it would not (refused: the thread stays joinable).
  join_outcome join(std::uint32_t* code) noexcept {
    if (!joinable()) return join_outcome::not_joinable;
    if (::pthread_equal(thread_, ::pthread_self()) != 0) return join_outcome::self;
    void* result = nullptr;
    if (in_module_teardown_on_this_thread()) {
      const int polled = ::pthread_tryjoin_np(thread_, &result);
      if (polled == EBUSY) return join_outcome::under_loader_lock;
      if (polled == 0) return joined(result, code);
    }
    const int error = ::pthread_join(thread_, &result);
    if (error != 0) {
      wait_error_ = error;
      return join_outcome::wait_failed;
    }
    return joined(result, code);
  }
  // The failed wait of the last join, as an exception and as a status.
  std::system_error wait_failure_error() const {
    return std::system_error(wait_error_, std::generic_category(),
                             "modref::thread::join: pthread_join");
  }
  absl::Status wait_failure_status() const {
    return posix_error_status(wait_error_, "modref::thread::join: pthread_join");
  }

  // Lets the thread run on its own (pthread_detach).
  void detach() noexcept { (void)::pthread_detach(std::exchange(thread_, {})); }

  // For jthread (detail/jthread.h): exit() leaves threads running on Linux, so there is never a
  // thread the system already ended; ~jthread joins as usual.
  bool abandon_if_process_ending() noexcept { return false; }
  static void report_detached_instead_of_joining() noexcept {
    static constexpr char kMessage[] =
        "modref::jthread: destroyed where joining would deadlock (on its own thread or in its "
        "module's teardown); stop was requested and the thread was detached instead\n";
    (void)!::write(STDERR_FILENO, kMessage, sizeof kMessage - 1);
  }

  void swap(native_thread& other) noexcept {
    std::swap(thread_, other.thread_);
    std::swap(wait_error_, other.wait_error_);
  }

 private:
  join_outcome joined(void* result, std::uint32_t* code) noexcept {
    *code = static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(result));
    thread_ = {};
    return join_outcome::joined;
  }

  pthread_t thread_{};
  int wait_error_ = 0;  // pthread_join's error, for the wait_failed outcome
};

// detail::start_thread(options, f, args...)
// Pins the calling module, builds the context and hands it to a new thread. On failure nothing is
// left behind: the context (and with it the pin) is destroyed on the calling thread.
template <class F, class... Args>
absl::StatusOr<native_thread> start_thread(const thread_options& options, F&& f, Args&&... args) {
  using context_type = thread_context<std::decay_t<F>, std::decay_t<Args>...>;
  absl::StatusOr<ref_ptr<context_type>> made =
      make_thread_context<context_type>(std::forward<F>(f), std::forward<Args>(args)...);
  if (!made.ok()) return made.status();  // nothing pinned, nothing allocated
  ref_ptr<context_type> context = *std::move(made);

  // Best effort, as SetThreadDescription on Windows: a name is a diagnostic.
  context->name_ = utf8_thread_name(options.name);
  pthread_attr_t attributes;
  int error = ::pthread_attr_init(&attributes);
  if (error != 0) return posix_error_status(error, "pthread_attr_init");
  if (options.stack_size != 0) {
    error = ::pthread_attr_setstacksize(&attributes, options.stack_size);
    if (error != 0) {
      ::pthread_attr_destroy(&attributes);
      return posix_error_status(error,
                                absl::StrCat("pthread_attr_setstacksize(", options.stack_size,
                                             "): below PTHREAD_STACK_MIN or not a valid size"));
    }
  }
  pthread_t id{};
#if defined(MODREF_TEST_SEAMS)
  // Relaxed: the test arms the seams on the thread that then starts the thread.
  context->held = g_test_seams.hold_next_thread.exchange(false, std::memory_order_relaxed);
  error = take_injected_failure(g_test_seams.fail_next_thread_create);
  if (error == 0)
#endif
  {
    // The worker's reference is the only one from here on: no line of the creator can destroy
    // the context once the thread exists, so every destructor runs on the worker.
    context_type* for_worker = context.detach();
    error = ::pthread_create(&id, &attributes, &thread_entry<context_type>, for_worker);
    if (error != 0) context = ref_ptr<context_type>(for_worker, adopt_ref);  // take it back
  }
  ::pthread_attr_destroy(&attributes);
  if (error != 0) {
    context.reset();  // the context and the pin are gone
    return posix_error_status(error, "pthread_create");
  }
  return native_thread(id);
}

}  // namespace detail

}  // namespace modref

#endif  // MODREF_DETAIL_THREAD_LINUX_H_
