// <modref/detail/thread_common.h> — what the two platform halves of <modref/thread.h>
// (detail/thread_win32.h, detail/thread_linux.h) share, written once: the first half of starting
// a thread (refuse an empty callable, pin the calling module, allocate the context that owns the
// pin, the decayed callable and its arguments; each start_thread then hands the context to
// CreateThread or pthread_create), and the outcomes of a join that modref::thread maps to its
// errors. Not part of the public API.
//
// Example (what each start_thread does):
//
//   using context_type = thread_context<std::decay_t<F>, std::decay_t<Args>...>;
//   absl::StatusOr<ref_ptr<context_type>> made =
//       make_thread_context<context_type>(std::forward<F>(f), std::forward<Args>(args)...);
//   if (!made.ok()) return made.status();  // nothing pinned, nothing allocated
//
// The pin is taken here, on the calling thread, before the starting call returns (docs/design.md,
// "Pin before return"); the context's constructor takes it over.
#ifndef MODREF_DETAIL_THREAD_COMMON_H_
#define MODREF_DETAIL_THREAD_COMMON_H_

#include <new>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "modref/detail/callables.h"
#include "modref/module_ref.h"
#include "modref/refcount.h"

namespace modref::detail {

// detail::join_outcome: what native_thread::join (either platform's) did, or why it would not.
enum class join_outcome { joined, not_joinable, self, under_loader_lock, wait_failed };

// detail::make_thread_context<Context>(f, args...)
// A new Context(pin, f, args...) with this module pinned, or why not: kInvalidArgument for an
// empty callable, pin_current()'s error, kResourceExhausted when the allocation fails. On failure
// nothing is left behind (the pin, if taken, is released).
template <class Context, class F, class... Args>
absl::StatusOr<ref_ptr<Context>> make_thread_context(F&& f, Args&&... args) {
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
  try {
    return make_ref<Context>(*std::move(pin), std::forward<F>(f), std::forward<Args>(args)...);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("modref: out of memory allocating the thread context");
  }
}

}  // namespace modref::detail

#endif  // MODREF_DETAIL_THREAD_COMMON_H_
