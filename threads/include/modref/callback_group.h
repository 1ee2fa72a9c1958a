// <modref/callback_group.h> — one-shot pool callbacks that can be waited for, or cancelled,
// together.
//
// A component that queues many short callbacks (a cache that refreshes entries, a plugin that
// answers requests) needs one thing at shutdown: "drop what has not started, wait for what has".
// Win32 offers cleanup groups for that; modref::callback_group offers the same promise for
// callbacks queued with its submit(), each as safe against unloading as modref::submit():
//
//   - submit(f) pins the calling module before it returns and queues `f` on the pool; the callback
//     owns the pin and hands it to FreeLibraryWhenCallbackReturns after every destructor of `f`
//     has run (exactly as modref::submit).
//   - cancel() makes every callback of the group that has not started yet skip `f` (it is
//     destroyed without being called) and refuses later submissions. It does not wait.
//   - wait() returns once no callback of the group is outstanding: each has finished and its
//     callable has been destroyed (callbacks submitted while it waits, e.g. by other callbacks,
//     are waited for too). cancel_and_wait() is both. The destructor is cancel_and_wait().
//
// Example:
//
//   class indexer {
//    public:
//     absl::Status index_later(std::wstring path) {
//       return group_.submit([this, path = std::move(path)] { index(path); });
//     }
//     // ~indexer: drops queued index() calls, waits for running ones; `this` is safe until then.
//    private:
//     void index(const std::wstring& path) const;
//     modref::callback_group group_{modref::threadpool_options{}};  // last member: dies first
//   };
//
// Why not a Win32 cleanup group underneath: CloseThreadpoolCleanupGroupMembers releases every
// member object itself, so an RAII owner of a member would release it a second time; Microsoft
// documents work, wait and timer objects as members and says nothing of
// TrySubmitThreadpoolCallback; and a member that closes itself after its callback races with
// CloseThreadpoolCleanupGroupMembers releasing it. The group's own count avoids all three and works
// the same on Windows and Wine.
//
// Where waiting cannot end, the group does not wait, and says so: wait() and cancel_and_wait()
// return kFailedPrecondition from one of the group's own callbacks (it would wait for itself) and
// under the loader lock (inside any DllMain: a pool thread needs that lock to start, and a
// callback may need it to finish); the destructor then only cancels, which is safe because each
// callback holds its own pin and its own reference to the group's state. (A DLL-global group is
// destroyed in DLL_PROCESS_DETACH, on the thread whose FreeLibraryWhenCallbackReturns dropped the
// last reference: by then every callback has given its share back, so there is nothing to wait
// for anyway.) During process termination the
// destructor does nothing and submit() is refused, as everywhere in modref.
//
// Thread safety: submit(), cancel(), wait(), cancel_and_wait() and outstanding() may be called
// concurrently from any threads, including the group's own callbacks (submit, cancel). Moving or
// destroying the group is not concurrent with other calls on it.
#ifndef MODREF_CALLBACK_GROUP_H_
#define MODREF_CALLBACK_GROUP_H_

#ifndef _WIN32
#error "<modref/callback_group.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <functional>
#include <new>
#include <optional>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "modref/detail/callables.h"
#include "modref/dll_main.h"
#include "modref/module_ref.h"
#include "modref/mutex.h"
#include "modref/refcount.h"
#include "modref/threadpool.h"
#include "modref/win32_error.h"

namespace modref {

namespace detail {

// The state a callback_group shares with its callbacks. Owned jointly by the group object and by
// every callback context, so a callback may outlive a group destructor that did not wait.
struct group_state final : ref_counted<group_state> {
  explicit group_state(const threadpool_options& o) : options(o) {}

  const threadpool_options options;
  mutex mu;  // modref::mutex: no per-thread state left on pool threads (docs/patterns.md)
  long outstanding ABSL_GUARDED_BY(mu) = 0;   // contexts not yet destroyed
  bool refusing ABSL_GUARDED_BY(mu) = false;  // set by cancel(): no new submissions
  // Read by callbacks without the mutex. Release (cancel) / acquire (callback): a callback that
  // sees it skips its callable; one that missed it runs as if it had started before cancel().
  std::atomic<bool> cancelled{false};

  bool idle() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) { return outstanding == 0; }
};

// One submitted callback's share of the group's count. Taken by submit() before anything else
// (refused once the group is cancelled), moved into the callback's context, and given back when
// its owner is destroyed: with the context, after the callable (so wait() sees destroyed
// callables), or on any failure path of submit(), whichever step failed.
class group_ticket {
 public:
  // A share of `group`'s count, or nullopt when the group refuses new callbacks.
  static std::optional<group_ticket> take(const ref_ptr<group_state>& group) {
    mutex_lock lock(group->mu);
    if (group->refusing) return std::nullopt;
    ++group->outstanding;
    return group_ticket(group);
  }
  group_ticket(group_ticket&& other) noexcept : group_(std::move(other.group_)) {}
  group_ticket(const group_ticket&) = delete;  // one share, one owner
  group_ticket& operator=(const group_ticket&) = delete;
  group_ticket& operator=(group_ticket&&) = delete;
  ~group_ticket() {
    if (!group_) return;  // moved from
    mutex_lock lock(group_->mu);
    --group_->outstanding;
  }
  const group_state& group() const noexcept { return *group_; }

 private:
  explicit group_ticket(ref_ptr<group_state> group) noexcept : group_(std::move(group)) {}
  ref_ptr<group_state> group_;
};

// Everything a group callback owns: its share of the count (destroyed last), the module pin and
// the decayed callable. One allocation. Queued and run by tp_queue_one_shot / submit_entry, like
// modref::submit's context.
template <class Fn>
class group_context final : public ref_counted<group_context<Fn>> {
 public:
  template <class F>
  group_context(group_ticket ticket, module_ref pin, F&& f)
      : ticket_(std::move(ticket)), pin_(std::move(pin)), fn_(std::forward<F>(f)) {}

  // Runs the callable once, unless the group was cancelled before the callback started.
  void run(PTP_CALLBACK_INSTANCE instance) noexcept {
    if (ticket_.group().cancelled.load(std::memory_order_acquire)) return;
    tp_invoke(std::move(fn_), instance);
  }
  HMODULE release_module() noexcept { return pin_.release(); }
  // The group whose callback this is: submit_entry marks the whole callback with it, including
  // this context's destruction (see tp_running_scope).
  static constexpr bool kHasOwner = true;
  const void* owner() const noexcept { return &ticket_.group(); }

 private:
  group_ticket ticket_;  // first member: destroyed after the callable
  context_counter counted_;
  module_ref pin_;
  Fn fn_;
};

}  // namespace detail

// modref::callback_group
// See the header comment. Move-only; a moved-from or default-constructed group is empty: its
// submit() returns kFailedPrecondition and its waits return at once.
class callback_group {
 public:
  callback_group() noexcept = default;
  callback_group(const callback_group&) = delete;  // one group, one owner
  callback_group& operator=(const callback_group&) = delete;
  callback_group(callback_group&&) noexcept = default;
  callback_group& operator=(callback_group&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  ~callback_group() { close(); }

  // callback_group::callback_group(options)
  // A new group whose callbacks run where `options` says (`callback_group{{}}`: the process's
  // pool). Throws std::system_error (std::errc::not_enough_memory) without memory, as the other
  // modref types' throwing constructors do; create() reports the same as a status.
  explicit callback_group(const threadpool_options& options)
      : state_(detail::tp_value_or_throw(make_state_(options))) {}

  // callback_group::create(options)
  // A new, empty group whose callbacks run where `options` says (default: the process's pool).
  // kResourceExhausted without memory.
  [[nodiscard]] static absl::StatusOr<callback_group> create(
      const threadpool_options& options = {}) {
    absl::StatusOr<ref_ptr<detail::group_state>> state = make_state_(options);
    if (!state.ok()) return state.status();
    callback_group group;
    group.state_ = *std::move(state);
    return group;
  }

  // callback_group::submit(f)
  // Queues `f()` once, as modref::submit does, counted in this group. Returns OK once queued;
  // kInvalidArgument for an empty callable; kFailedPrecondition on an empty group, after cancel()
  // and during process termination; the pin's or TrySubmitThreadpoolCallback's Win32 error
  // otherwise, with the callable and the pin given back and GetLastError() holding the error.
  template <class F>
  [[nodiscard]] absl::Status submit(F&& f) {
    using fn_type = std::decay_t<F>;
    using context_type = detail::group_context<fn_type>;
    static_assert(std::is_invocable_v<fn_type> || std::is_invocable_v<fn_type, callback_instance>,
                  "modref::callback_group::submit: the callable must be invocable as f() or "
                  "f(modref::callback_instance) (as an rvalue); capture what it needs");
    constexpr const char* what = "modref::callback_group::submit";
    if (!state_) return absl::FailedPreconditionError(absl::StrCat(what, ": empty group"));
    if (detail::tp_process_terminating()) return detail::tp_termination_refusal(what);
    if (detail::callable_is_empty(f)) return detail::tp_empty_callable(what);
    // The share is given back by whoever holds it when a later step fails: this optional, or the
    // context under construction.
    std::optional<detail::group_ticket> ticket = detail::group_ticket::take(state_);
    if (!ticket) {
      return absl::FailedPreconditionError(
          absl::StrCat(what, ": the group was cancelled; it accepts no more callbacks"));
    }
    absl::StatusOr<module_ref> pin = module_ref::pin_current();
    if (!pin.ok()) return pin.status();
    context_type* context = nullptr;
    try {
      context =
          make_ref<context_type>(*std::move(ticket), *std::move(pin), std::forward<F>(f)).detach();
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory for the context"));
    }
    // On failure the context, with its pin and its share of the count, is given back here.
    return detail::tp_queue_one_shot(context, state_->options, what);
  }

  // callback_group::cancel()
  // Callbacks that have not started skip their callable (it is destroyed unrun); later submit()
  // calls are refused. Running callbacks are not interrupted. Does not wait. Idempotent.
  void cancel() noexcept {
    if (!state_) return;
    mutex_lock lock(state_->mu);
    state_->refusing = true;
    state_->cancelled.store(true, std::memory_order_release);
  }

  // callback_group::wait()
  // Returns once no callback of the group is outstanding (each finished and destroyed its
  // callable; submissions made while waiting are included).
  // kFailedPrecondition from one of the group's own callbacks and under the loader lock (see the
  // header comment). OK at once on an empty group.
  [[nodiscard]] absl::Status wait() {
    if (!state_) return absl::OkStatus();
    if (absl::Status ok = detail::tp_can_wait_for(state_.get(), "modref::callback_group::wait");
        !ok.ok()) {
      return ok;
    }
    wait_idle_();
    return absl::OkStatus();
  }

  // callback_group::cancel_and_wait()
  // cancel(), then wait(). The refusals of wait() apply; the group is cancelled either way.
  [[nodiscard]] absl::Status cancel_and_wait() {
    cancel();
    return wait();
  }

  // callback_group::outstanding()
  // Callbacks submitted and not yet finished (diagnostic: it may change as soon as it is read).
  long outstanding() const {
    if (!state_) return 0;
    mutex_lock lock(state_->mu);
    return state_->outstanding;
  }

  explicit operator bool() const noexcept { return static_cast<bool>(state_); }

 private:
  static absl::StatusOr<ref_ptr<detail::group_state>> make_state_(
      const threadpool_options& options) {
    try {
      return make_ref<detail::group_state>(options);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError("modref::callback_group: out of memory for the group");
    }
  }

  // The destructor's work: cancel, then wait where waiting can end. GetLastError() is kept.
  // Allocation-free (no status or message is built), so it cannot throw std::bad_alloc.
  void close() noexcept {
    if (!state_) return;
    last_error_preserver keep;
    if (detail::tp_process_terminating()) {
      // The pool's threads are gone: nothing will finish. Leave the state to the process.
      (void)state_.detach();
      return;
    }
    cancel();
    if (detail::tp_why_not_wait(state_.get()) != detail::tp_wait_refusal::none) {
      ::OutputDebugStringA(
          "modref: callback_group destroyed where it cannot wait (its own callback or the loader "
          "lock): queued callbacks are cancelled, running ones finish on their own\n");
    } else {
      wait_idle_();
    }
    state_.reset();
  }

  // Blocks until no callback of the group is outstanding.
  void wait_idle_() noexcept {
    detail::group_state& s = *state_;
    mutex_lock lock(s.mu);
    s.mu.await(&s, &detail::group_state::idle);
  }

  ref_ptr<detail::group_state> state_;
};

}  // namespace modref

#endif  // MODREF_CALLBACK_GROUP_H_
