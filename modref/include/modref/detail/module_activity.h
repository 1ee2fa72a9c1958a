// <modref/detail/module_activity.h> — the per-module activity counters behind modref::activity()
// and modref::can_unload_now(), shared by both halves of <modref/module_ref.h>. Include
// <modref/module_ref.h>, not this file.
//
// Each module that compiles modref has its own detail::g_module_state (the platform's
// module_lifecycle header defines it: an inline variable on Windows, where inline variables are
// not shared across modules; a hidden one on Linux, where they would be). Every modref context
// carries a detail::context_counter member, and every module_ref of this module counts itself in
// live_pins, so a host's "may I unload you?" entry point can ask modref what it still keeps alive.
//
// Example: a COM in-process server's unload vote.
//
//   STDAPI DllCanUnloadNow() {
//     return modref::can_unload_now() && my_objects == 0 ? S_OK : S_FALSE;
//   }
//
// Thread safety: the counters are relaxed atomics; they are diagnostics and an unload vote, not a
// synchronisation point (a count read as zero says nothing about memory written by the work).
#ifndef MODREF_DETAIL_MODULE_ACTIVITY_H_
#define MODREF_DETAIL_MODULE_ACTIVITY_H_

#include <atomic>

#if defined(_WIN32)
#include "modref/detail/module_lifecycle.h"
#elif defined(__linux__)
#include "modref/detail/module_lifecycle_linux.h"
#else
#error "<modref/detail/module_activity.h> supports Windows and Linux/glibc"
#endif

namespace modref {

// modref::activity_snapshot / modref::activity()
// Per-module counts of what modref keeps alive: thread and callback contexts not yet destroyed,
// and loader references on this module held by module_ref objects.
struct activity_snapshot {
  long live_contexts = 0;
  long live_pins = 0;
};

namespace detail {

// detail::context_counter: a member of every modref context, so that activity() sees it.
struct context_counter {
  context_counter() noexcept {
    g_module_state.live_contexts.fetch_add(1, std::memory_order_relaxed);
  }
  context_counter(const context_counter&) noexcept : context_counter() {}
  context_counter& operator=(const context_counter&) noexcept { return *this; }
  ~context_counter() { g_module_state.live_contexts.fetch_sub(1, std::memory_order_relaxed); }
};

}  // namespace detail

inline activity_snapshot activity() noexcept {
  return {detail::g_module_state.live_contexts.load(std::memory_order_relaxed),
          detail::g_module_state.live_pins.load(std::memory_order_relaxed)};
}

// modref::can_unload_now()
// True when modref holds nothing alive in this module: no live contexts, no pins of this module.
// Combine it with your own object count in DllCanUnloadNow (Windows) or a plugin host's
// "may I dlclose you?" entry point (Linux).
inline bool can_unload_now() noexcept {
  const activity_snapshot now = activity();
  return now.live_contexts == 0 && now.live_pins == 0;
}

}  // namespace modref

#endif  // MODREF_DETAIL_MODULE_ACTIVITY_H_
