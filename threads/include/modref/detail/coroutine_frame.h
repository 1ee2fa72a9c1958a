// <modref/detail/coroutine_frame.h> — internal machinery shared by <modref/coroutine_task.h> and
// <modref/coroutine_awaitables.h>: where a coroutine frame keeps its module pin, the resume scope
// that every modref resumption opens, and the one function through which every pin a coroutine
// held is given back. Not part of the public API; docs/design.md ("Coroutines") explains why each
// piece is where it is.
//
//   - detail::coro_allocate / coro_deallocate: a modref promise's operator new / delete. The pin
//     lives in a header in front of the frame, so it is taken before anything of the frame exists
//     and given back after everything in it (locals, the promise, the parameter copies, which the
//     language destroys after the promise) has been destroyed.
//   - detail::coro_resume_scope: opened by each modref callback that resumes a coroutine (and by
//     task::get() while it starts one). It is the "modref frame of this module is running here"
//     marker that lets child tasks borrow their parent's pin, and the place a pin given back
//     inside the callback waits for FreeLibraryWhenCallbackReturns.
//   - detail::coro_release(pin): gives a pin back as the last act of the thread in the module:
//     handed to the enclosing modref callback when there is one, otherwise to a one-shot releaser
//     callback; leaked (on purpose) during process termination.
//
// Thread safety: the scope marker is per thread (a Win32 TLS slot, for the reasons given at
// detail::module_tls_slot in <modref/detail/module_lifecycle.h>); frames and pins are owned by one
// thread at a time.
#ifndef MODREF_DETAIL_COROUTINE_FRAME_H_
#define MODREF_DETAIL_COROUTINE_FRAME_H_

#ifndef _WIN32
#error "<modref/detail/coroutine_frame.h> is Windows-only"
#endif

#include <windows.h>
#include <winternl.h>

#include <atomic>
#include <cstddef>
#include <new>
#include <string_view>
#include <system_error>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "modref/detail/callables.h"
#include "modref/dll_main.h"
#include "modref/module_ref.h"
#include "modref/threadpool.h"

namespace modref::detail {

#if defined(MODREF_TEST_SEAMS)
// Test seams of the coroutine layer (compiled only with MODREF_TEST_SEAMS).
struct coro_test_seams {
  std::atomic<long> handed_to_callback{0};  // pins given to FreeLibraryWhenCallbackReturns
  std::atomic<long> handed_to_releaser{0};  // pins given to a releaser callback
  std::atomic<long> leaked_at_termination{0};
  std::atomic<DWORD> fail_next_releaser{0};  // the next releaser submission fails
  // Called by a waiting awaitable's stop callback as its last act, on the requesting thread,
  // after it has touched the awaiter for the last time (tests hold the requester there).
  std::atomic<void (*)()> after_stop_callback{nullptr};
};
inline constinit coro_test_seams g_coro_test_seams;
#endif

// The marker slot: which modref resumption is running on this thread. A Win32 TLS slot of this
// module, never a C++ thread_local: detail::g_coroutine_scope_slot (constant-initialised, allocated
// on first use, freed at unload; <modref/detail/module_lifecycle.h> and docs/design.md, "Init
// order").

class coro_resume_scope;

// Read on every task creation (the borrow test), so it is kept cheap: the first 64 TLS slots live
// in the TEB (TEB::TlsSlots, declared in the SDK's <winternl.h>), and reading one there is what
// TlsGetValue does, without its call and without clearing the thread's last error (which
// TlsGetValue does on success and would oblige us to save and restore it).
inline coro_resume_scope* coro_current_scope() noexcept {
  const DWORD index = g_coroutine_scope_slot.index_for_diagnostics();
  if (index == TLS_OUT_OF_INDEXES) return nullptr;
  constexpr DWORD kTebSlots = sizeof(TEB::TlsSlots) / sizeof(TEB::TlsSlots[0]);
  if (index < kTebSlots) {
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
    // GCC 12 reports the gs-relative read inside MinGW's NtCurrentTeb() as an out-of-bounds
    // access of a zero-length array (a false positive of -Warray-bounds on __readgsqword).
#pragma GCC diagnostic ignored "-Warray-bounds"
#endif
    return static_cast<coro_resume_scope*>(NtCurrentTeb()->TlsSlots[index]);
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
  }
  last_error_preserver keep;  // TlsGetValue sets the last error
  return static_cast<coro_resume_scope*>(::TlsGetValue(index));
}

inline void coro_release(module_ref pin) noexcept;

// detail::coro_resume_scope
// Opened on the stack of every modref callback that resumes a coroutine, as its first object, so
// that its destructor is the callback's last act. While it is open:
//   - a task created on this thread by a coroutine of `module` borrows the running frame's pin
//     (coroutine_task.h);
//   - a pin given back through coro_release() is kept here and handed to
//     FreeLibraryWhenCallbackReturns(instance) by the destructor: the pool releases the module
//     after the callback has returned, so no instruction of the module runs after it.
// With a null instance (task::get() starting a task on its own thread) nothing is handed over:
// pins given back meanwhile go to a releaser callback.
class coro_resume_scope {
 public:
  coro_resume_scope(PTP_CALLBACK_INSTANCE instance, HMODULE module) noexcept
      : instance_(instance), module_(module), saved_(coro_current_scope()) {
    set(this);
  }
  ~coro_resume_scope() {
    set(saved_);
    if (pending_) {
#if defined(MODREF_TEST_SEAMS)
      g_coro_test_seams.handed_to_callback.fetch_add(1, std::memory_order_relaxed);
#endif
      // The pool calls FreeLibrary after the callback has returned: the last act.
      ::FreeLibraryWhenCallbackReturns(instance_, pending_.release());
    }
  }
  coro_resume_scope(const coro_resume_scope&) = delete;  // one marker, one restore
  coro_resume_scope& operator=(const coro_resume_scope&) = delete;

  // coro_resume_scope::module()
  // The module whose coroutine this scope resumes.
  HMODULE module() const noexcept { return module_; }

  // coro_resume_scope::adopt(pin)
  // Takes `pin` for FreeLibraryWhenCallbackReturns; true when it did. A second pin of the same
  // module is released at once (the one kept here still holds the module through the callback's
  // return); a pin of another module, or any pin without a callback instance, is refused.
  bool adopt(module_ref& pin) noexcept {
    if (instance_ == nullptr) return false;
    if (!pending_) {
      pending_ = std::move(pin);
      return true;
    }
    if (pending_.get() == pin.get()) {
      pin.reset();  // the module stays loaded: pending_ holds another reference
      return true;
    }
    return false;
  }

 private:
  static void set(coro_resume_scope* scope) noexcept {
    // Without a slot (none left, or retired at unload) the marker is simply not kept.
    (void)g_coroutine_scope_slot.set(scope);
  }

  PTP_CALLBACK_INSTANCE instance_;
  HMODULE module_;
  coro_resume_scope* saved_;
  module_ref pending_;
};

// True when a modref resumption of this module (the module compiling the caller) is running on
// this thread: a frame created now can borrow the running frame's pin.
inline bool coro_running_here() noexcept {
  const coro_resume_scope* scope = coro_current_scope();
  return scope != nullptr && scope->module() == current_module();
}

// The releaser: a one-shot default-pool callback whose only act is to hand the pin to
// FreeLibraryWhenCallbackReturns. Used when a pin is given back outside any modref callback
// (a frame destroyed by an ordinary thread, or finished by a resumer that is not modref).
inline void CALLBACK coro_releaser_entry(PTP_CALLBACK_INSTANCE instance, void* raw) noexcept {
  ::FreeLibraryWhenCallbackReturns(instance, static_cast<HMODULE>(raw));
}

// detail::coro_release(pin)
// Gives a coroutine's pin back as the last act of this thread in the module (see the class
// comment of coro_resume_scope). During process termination the pin is leaked: the pool must not
// be touched and the process is about to release everything. If the releaser cannot be queued
// the pin is leaked too (the module then stays loaded, which is safe), and OutputDebugString says
// so. GetLastError() is kept.
inline void coro_release(module_ref pin) noexcept {
  if (!pin) return;
  last_error_preserver keep;
  if (tp_process_terminating()) {
    (void)pin.release();
#if defined(MODREF_TEST_SEAMS)
    g_coro_test_seams.leaked_at_termination.fetch_add(1, std::memory_order_relaxed);
#endif
    return;
  }
  if (coro_resume_scope* scope = coro_current_scope(); scope != nullptr && scope->adopt(pin)) {
    return;
  }
  HMODULE module = pin.release();
  BOOL queued = FALSE;
#if defined(MODREF_TEST_SEAMS)
  if (take_injected_failure(g_coro_test_seams.fail_next_releaser) != 0) {
    queued = FALSE;
  } else
#endif
  {
    // No callback environment: the reference handed over is what keeps the module loaded while
    // the releaser runs, and its FreeLibraryWhenCallbackReturns gives it back after it returns.
    queued = ::TrySubmitThreadpoolCallback(&coro_releaser_entry, module, nullptr);
  }
  if (queued) {
#if defined(MODREF_TEST_SEAMS)
    g_coro_test_seams.handed_to_releaser.fetch_add(1, std::memory_order_relaxed);
#endif
    return;
  }
  ::OutputDebugStringA(
      "modref: could not queue the releaser of a coroutine frame's module pin; the pin is leaked "
      "and the module stays loaded\n");
}

// detail::coro_frame_header
// In front of every modref coroutine frame, alive from operator new to operator delete, so for
// the frame's whole life: the activity() count of live frames (which dll_can_unload_now() also
// reads: it must cover every destructor of the frame, the parameter copies' included) and the pin
// the frame owns (empty for a borrowed frame).
#if defined(_MSC_VER)
#pragma warning(push)
#pragma warning(disable : 4324)  // padded to the alignment of operator new: that is the point
#endif
struct alignas(__STDCPP_DEFAULT_NEW_ALIGNMENT__) coro_frame_header {
  context_counter counted;
  module_ref pin;
};
#if defined(_MSC_VER)
#pragma warning(pop)
#endif

// detail::coro_pin(what)
// The pin a new frame takes on the calling thread. kFailedPrecondition during process
// termination and once the module's DLL_PROCESS_DETACH has run; the Win32 error otherwise.
inline absl::StatusOr<module_ref> coro_pin(std::string_view what) {
  if (tp_process_terminating()) return tp_termination_refusal(what);
  absl::StatusOr<module_ref> pin = module_ref::pin_current();
  if (pin.ok()) return pin;
  // Say which coroutine could not start, and keep the Win32 error payload.
  absl::Status named(pin.status().code(), absl::StrCat(what, ": ", pin.status().message()));
  pin.status().ForEachPayload([&named](std::string_view url, const absl::Cord& payload) {
    named.SetPayload(url, payload);
  });
  return named;
}

// detail::coro_allocate(size, pin) / coro_deallocate(frame, size)
// The frame's memory, with `pin` in its header. If the allocation throws, `pin` is released here,
// on the calling thread (nothing of the frame exists yet). coro_deallocate runs after every
// destructor of the frame, frees the memory and gives the pin back with coro_release().
inline void* coro_allocate(std::size_t size, module_ref pin) {
  void* raw = ::operator new(size + sizeof(coro_frame_header));
  auto* header = ::new (raw) coro_frame_header{{}, std::move(pin)};
  return header + 1;
}

inline void coro_deallocate(void* frame, std::size_t size) noexcept {
  auto* header = static_cast<coro_frame_header*>(frame) - 1;
  module_ref pin = std::move(header->pin);
  header->~coro_frame_header();
#if defined(__cpp_sized_deallocation)
  ::operator delete(static_cast<void*>(header), size + sizeof(coro_frame_header));
#else
  // clang (before 19) leaves sized deallocation off by default, and libstdc++'s <new> then does
  // not declare operator delete(void*, std::size_t).
  static_cast<void>(size);
  ::operator delete(static_cast<void*>(header));
#endif
  coro_release(std::move(pin));  // the frame is gone: the pin is the last thing to go
}

// detail::coro_opaque(frame)
// Returns `frame` through a volatile round trip, so that the compiler no longer knows it is the
// frame its coroutine allocated. Every handle a modref promise hands out, and the handle through
// which a fire_and_forget destroys itself, passes through here: clang (16) otherwise elides the
// allocation of a frame it can prove ends inside the call (a coroutine that never suspends, a
// task destroyed by its caller) and puts it on the caller's stack, and then operator new -- the
// pin and the activity() count -- never runs (docs/design.md, "Frames are never elided"). One
// store and one load; MSVC and GCC lose nothing they did before.
inline void* coro_opaque(void* frame) noexcept {
  void* volatile hidden = frame;
  return hidden;
}

// detail::coro_promise_base
// What every modref promise has: the module that instantiated it, compared when a task is
// awaited to decide whether the awaiter's pin covers it. (The frame's count and pin are in its
// coro_frame_header.)
struct coro_promise_base {
  HMODULE frame_module() const noexcept { return module_; }

 private:
  HMODULE module_ = current_module();  // resolved in the module that instantiates the promise
};

// Why an await did not suspend. Kept as a code in the awaiter (await_suspend is noexcept and
// must not allocate); await_resume turns it into the std::system_error it throws.
enum class coro_refusal { none, terminating, loader_lock, win32_error };

// OK-or-refusal for suspending on a modref awaitable now.
inline coro_refusal coro_may_suspend() noexcept {
  if (tp_process_terminating()) return coro_refusal::terminating;
  if (loader_lock_held_by_this_thread()) return coro_refusal::loader_lock;
  return coro_refusal::none;
}

inline std::system_error coro_refusal_error(coro_refusal refusal, DWORD error,
                                            std::string_view what) {
  switch (refusal) {
    case coro_refusal::terminating:
      return to_system_error(tp_termination_refusal(what));
    case coro_refusal::loader_lock:
      return std::system_error(
          std::make_error_code(std::errc::resource_deadlock_would_occur),
          absl::StrCat(what,
                       ": refused under the loader lock (inside DllMain): the coroutine would be "
                       "resumed by a pool thread that may need that lock"));
    case coro_refusal::win32_error:
    case coro_refusal::none:
      break;
  }
  return to_system_error(win32_error_status(error, what));
}

}  // namespace modref::detail

#endif  // MODREF_DETAIL_COROUTINE_FRAME_H_
