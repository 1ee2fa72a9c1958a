// <modref/dll_main.h> — DllMain integration, process-termination and loader-lock detection.
//
// At ExitProcess, Windows first kills every other thread, then calls each DLL's DllMain with
// DLL_PROCESS_DETACH and a non-null lpReserved, and destroys DLL globals around that call. The
// process has stopped providing services by then: the thread pool is "electrified" (scheduling
// anything crashes in TppRaiseInvalidParameter), locks may be held by threads that no longer exist,
// and workers you might wait for are gone. Cleanup at that moment can only hurt; the right thing is
// to do nothing. modref::process_terminating() tells you when you are in that moment, and
// modref::termination_safe<T> (in <modref/termination_safe.h>) applies the answer to a global.
//
// Example: forward your DllMain (or use MODREF_DEFINE_DLLMAIN() if you have none).
//
//   BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
//     if (!modref::dll_main(instance, reason, reserved)) return FALSE;
//     if (reason == DLL_PROCESS_DETACH && !modref::process_terminating()) {
//       // FreeLibrary: an orderly unload; tidy up what must be tidied.
//     }
//     return TRUE;
//   }
//
//   my_cache::~my_cache() {
//     if (modref::process_terminating()) return;  // the process is ending: stay out of its way
//     timer_.cancel_and_wait();
//   }
//
// process_terminating() has two signals, because CRTs disagree on whether DLL globals die before
// or after DllMain(DLL_PROCESS_DETACH): the flag that dll_main() sets when lpReserved is non-null,
// and ntdll's RtlDllShutdownInProgress(), looked up once while the module loads, by a TLS callback
// that runs before any of the module's own code (never at exit, where a lookup could take locks
// held by killed threads). Either one answers "yes".
//
// Thread safety: all functions may be called from any thread, including inside DllMain. They take
// no locks and allocate nothing.
#ifndef MODREF_DLL_MAIN_H_
#define MODREF_DLL_MAIN_H_

#ifndef _WIN32
#error "<modref/dll_main.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "modref/detail/peb_layout.h"
#include "modref/module_ref.h"

namespace modref {

// modref::process_terminating()
// True once the process is terminating: DLL_PROCESS_DETACH with lpReserved != NULL reached
// dll_main(), or RtlDllShutdownInProgress() says so. False during an orderly FreeLibrary.
inline bool process_terminating() noexcept {
  // Relaxed: the flag is written once, by the only thread left running at that point.
  if (detail::g_module_state.process_detach_for_exit.load(std::memory_order_relaxed)) return true;
  return detail::shutdown_in_progress();
}

// modref::loader_lock_held_by_this_thread()
// True when the calling thread owns the loader lock: it is inside some module's DllMain (or a TLS
// callback, or LoadLibrary/FreeLibrary's own work). Waiting there for a thread to exit deadlocks,
// because an exiting thread needs the loader lock to send DLL_THREAD_DETACH.
//
// It reads the owner of the critical section that the PEB's LoaderLock field points at, on every
// architecture (x86, x64, ARM64, 32-bit ARM); the offsets and their sources are in
// <modref/detail/peb_layout.h>, the one place that knows them.
inline bool loader_lock_held_by_this_thread() noexcept {
  return detail::loader_lock_owned_by_this_thread(detail::current_peb());
}

// modref::dll_main(instance, reason, reserved)
// Forward your DllMain's arguments here first. Records whether the process is terminating
// (DLL_PROCESS_DETACH with reserved != NULL) and that the module is detaching. The "detaching"
// flag (after which module_ref::pin_current() refuses: nothing new may start from the module's
// teardown) is set earlier without it, by modref's TLS callback, which the loader calls before
// DllMain and before the C runtime's own TLS callbacks, so that it holds in destructors that run
// before DllMain (mingw-w64's __cxa_atexit list, MSVC's thread_local destructors). Returns TRUE.
inline BOOL dll_main(HINSTANCE /*instance*/, DWORD reason, void* reserved) noexcept {
  if (reason == DLL_PROCESS_DETACH) {
    // Relaxed: DllMain runs under the loader lock, which orders it with every later reader that
    // could still be running code of this module.
    detail::g_module_state.detaching.store(true, std::memory_order_relaxed);
    if (reserved != nullptr) {
      detail::g_module_state.process_detach_for_exit.store(true, std::memory_order_relaxed);
    }
  }
  // Normally already done by detail::module_tls_callback, which runs before DllMain.
  if (reason == DLL_PROCESS_ATTACH) detail::resolve_ntdll_functions();
  return TRUE;
}

}  // namespace modref

// MODREF_DEFINE_DLLMAIN()
// Defines DllMain for a DLL that has none of its own, forwarding to modref::dll_main.
#define MODREF_DEFINE_DLLMAIN()                                                  \
  extern "C" BOOL WINAPI DllMain(HINSTANCE modref_instance, DWORD modref_reason, \
                                 LPVOID modref_reserved) {                       \
    return ::modref::dll_main(modref_instance, modref_reason, modref_reserved);  \
  }                                                                              \
  static_assert(true, "MODREF_DEFINE_DLLMAIN() must be followed by a semicolon")

#endif  // MODREF_DLL_MAIN_H_
