// <modref/detail/module_lifecycle_linux.h> — modref's per-module globals on Linux/glibc, and the
// ELF destructor that marks the module as being torn down. The Linux half of
// <modref/detail/module_lifecycle.h>.
//
// Internal header (included by <modref/module_ref.h>); nothing here is public API.
//
// Three rules live here (docs/design.md, "Linux"):
//
//   1. Every modref global is constant-initialised (`constinit`), as on Windows: code of this
//      module can run before another translation unit's dynamic initialisers.
//   2. Every modref global has hidden visibility. An ELF inline variable with default visibility
//      is one object for the whole process (the first module that defines it wins the symbol
//      lookup), so a host executable that also includes modref would count this .so's threads;
//      and GCC emits it as an STB_GNU_UNIQUE symbol, which makes glibc refuse to ever unload the
//      .so. Hidden symbols bind inside their own module and are never unique.
//   3. `detaching` is set by an ELF destructor (.fini_array) of this module. glibc's dlclose runs
//      a module's .fini_array in reverse order, and the entry that runs the module's C++ global
//      destructors (crtbegin's __do_global_dtors_aux, which calls __cxa_finalize) is the first of
//      the array, so it runs last: the flag is set before any global destructor of the module runs
//      during dlclose. At exit() the order differs: exit runs the C++ destructors registered with
//      __cxa_atexit first and the .fini_array entries after them (docs/design.md, "Termination").
//
// Lifetime: the globals live in the module's data; they die with its mapping.
// Thread safety / memory ordering: every member is an atomic; each operation states its order.
#ifndef MODREF_DETAIL_MODULE_LIFECYCLE_LINUX_H_
#define MODREF_DETAIL_MODULE_LIFECYCLE_LINUX_H_

#if !defined(__linux__)
#error "<modref/detail/module_lifecycle_linux.h> is Linux-only"
#endif

#include <semaphore.h>
#include <unistd.h>

#include <atomic>

// MODREF_DETAIL_HIDDEN: symbols that must resolve inside the module that compiled them.
#define MODREF_DETAIL_HIDDEN __attribute__((visibility("hidden")))

namespace modref {
namespace detail {

// One instance per module, by hidden visibility (rule 2 above).
struct module_state {
  std::atomic<long> live_contexts{0};
  std::atomic<long> live_pins{0};
  // Set by the module's ELF destructor (dlclose that unloads it, or exit()): pinning it now would
  // resurrect a module that is being torn down.
  std::atomic<bool> detaching{false};
  // The kernel thread id that ran the ELF destructor (0: none yet): the thread inside this
  // module's dlclose, which holds glibc's loader lock while the module's destructors run.
  std::atomic<pid_t> teardown_thread{0};
};
MODREF_DETAIL_HIDDEN inline constinit module_state g_module_state;

#if defined(MODREF_TEST_SEAMS)
// Test seams (compiled only when MODREF_TEST_SEAMS is defined, as in modref's own test .so's):
// the next pin or thread creation fails with the given errno value (pins: any non-zero value).
struct test_seams {
  std::atomic<int> fail_next_pin{0};
  std::atomic<int> fail_next_thread_create{0};
  // When set, the next worker waits on `held_gate` before its first action (before it registers
  // its release), as a debugger's freeze would hold it; the test posts the gate to let it go.
  std::atomic<bool> hold_next_thread{false};
  std::atomic<bool> gate_ready{false};
  sem_t held_gate{};
};
MODREF_DETAIL_HIDDEN inline constinit test_seams g_test_seams;
inline int take_injected_failure(std::atomic<int>& slot) noexcept {
  return slot.exchange(0, std::memory_order_relaxed);
}
// detail::hold_next_thread() / release_held_thread(): arm the seam, and let the held worker go.
inline void hold_next_thread() noexcept {
  // Relaxed for gate_ready's check: the test arms and releases from one thread.
  if (!g_test_seams.gate_ready.exchange(true, std::memory_order_relaxed)) {
    ::sem_init(&g_test_seams.held_gate, 0, 0);
  }
  g_test_seams.hold_next_thread.store(true, std::memory_order_relaxed);
}
inline void release_held_thread() noexcept { ::sem_post(&g_test_seams.held_gate); }
#endif

// detail::mark_module_teardown: the ELF destructor of rule 3. Internal linkage on purpose: every
// translation unit that includes modref adds one .fini_array entry, and each of them only stores
// the same two values, so the earliest one to run (the last translation unit's) is the one that
// counts. No C++ object is touched: it runs during dlclose and exit.
[[gnu::destructor, gnu::used]] static void mark_module_teardown() noexcept {
  // Relaxed: the loader lock, held by this thread for the whole of dlclose, orders this store
  // with every later pin on this module (pins take the same lock inside dlopen).
  g_module_state.teardown_thread.store(::gettid(), std::memory_order_relaxed);
  g_module_state.detaching.store(true, std::memory_order_relaxed);
}

// detail::in_module_teardown_on_this_thread()
// True while this thread runs this module's teardown (its ELF destructors and C++ global
// destructors inside dlclose, or at exit).
inline bool in_module_teardown_on_this_thread() noexcept {
  // Relaxed: written by this very thread when true, so no ordering is needed to see it.
  return g_module_state.teardown_thread.load(std::memory_order_relaxed) == ::gettid();
}

}  // namespace detail
}  // namespace modref

#endif  // MODREF_DETAIL_MODULE_LIFECYCLE_LINUX_H_
