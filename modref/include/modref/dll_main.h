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
// and ntdll's RtlDllShutdownInProgress(), looked up once while the module loads (never at exit,
// where a lookup could take locks held by killed threads). Either one answers "yes".
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

#include "modref/module_ref.h"

namespace modref {
namespace detail {

using rtl_dll_shutdown_in_progress_fn = BOOLEAN(NTAPI*)();

inline rtl_dll_shutdown_in_progress_fn resolve_shutdown_probe() noexcept {
  // GetModuleHandleW on ntdll (always loaded) neither loads nor allocates, so this is safe at load
  // time, under the loader lock.
  const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  if (ntdll == nullptr) return nullptr;
  return reinterpret_cast<rtl_dll_shutdown_in_progress_fn>(
      reinterpret_cast<void*>(::GetProcAddress(ntdll, "RtlDllShutdownInProgress")));
}

// Resolved while the module's globals are initialised (at load), once per module.
inline const rtl_dll_shutdown_in_progress_fn g_shutdown_probe = resolve_shutdown_probe();

}  // namespace detail

// modref::process_terminating()
// True once the process is terminating: DLL_PROCESS_DETACH with lpReserved != NULL reached
// dll_main(), or RtlDllShutdownInProgress() says so. False during an orderly FreeLibrary.
inline bool process_terminating() noexcept {
  // Relaxed: the flag is written once, by the only thread left running at that point.
  if (detail::g_module_state.process_detach_for_exit.load(std::memory_order_relaxed)) return true;
  const auto probe = detail::g_shutdown_probe;
  return probe != nullptr && probe() != FALSE;
}

// modref::loader_lock_held_by_this_thread()
// True when the calling thread owns the loader lock: it is inside some module's DllMain (or a TLS
// callback, or LoadLibrary/FreeLibrary's own work). Waiting there for a thread to exit deadlocks,
// because an exiting thread needs the loader lock to send DLL_THREAD_DETACH.
//
// It reads the owner of the critical section that the PEB's LoaderLock field points at. That
// field's offset (0x110 on x64, 0xA0 on x86) is not documented but has not moved since Windows
// XP; Wine fills it the same way.
namespace detail {

// True when the critical section that the PEB's LoaderLock field (at `offset`) points at is owned
// by the calling thread.
inline bool loader_lock_owned_by_this_thread(const unsigned char* peb,
                                             std::size_t offset) noexcept {
  if (peb == nullptr) return false;
  const auto* lock = *reinterpret_cast<const RTL_CRITICAL_SECTION* const*>(peb + offset);
  if (lock == nullptr) return false;
  const auto owner = reinterpret_cast<std::uintptr_t>(
      static_cast<const volatile RTL_CRITICAL_SECTION*>(lock)->OwningThread);
  return owner == static_cast<std::uintptr_t>(::GetCurrentThreadId());
}

}  // namespace detail

inline bool loader_lock_held_by_this_thread() noexcept {
#if defined(_M_X64) || defined(__x86_64__)
  const unsigned char* peb = nullptr;
#if defined(_MSC_VER) && !defined(__clang__)
  peb =
      reinterpret_cast<const unsigned char*>(__readgsqword(0x60));  // TEB::ProcessEnvironmentBlock
#else
  // Inline assembly rather than NtCurrentTeb(): GCC 12 reports a false -Warray-bounds on MinGW's
  // __readgsqword.
  __asm__("movq %%gs:0x60, %0" : "=r"(peb));
#endif
  return detail::loader_lock_owned_by_this_thread(peb, 0x110);
#elif defined(_M_IX86) || defined(__i386__)
  const unsigned char* peb = nullptr;
#if defined(_MSC_VER) && !defined(__clang__)
  peb = reinterpret_cast<const unsigned char*>(__readfsdword(0x30));
#else
  __asm__("movl %%fs:0x30, %0" : "=r"(peb));
#endif
  return detail::loader_lock_owned_by_this_thread(peb, 0xA0);
#else
  return false;  // unknown layout (ARM64): report "not held" rather than guess
#endif
}

// modref::dll_main(instance, reason, reserved)
// Forward your DllMain's arguments here first. Records that the module is detaching (after which
// module_ref::pin_current() refuses: nothing new may start from the module's teardown) and
// whether the process is terminating (DLL_PROCESS_DETACH with reserved != NULL). Returns TRUE.
inline BOOL dll_main(HINSTANCE /*instance*/, DWORD reason, void* reserved) noexcept {
  if (reason == DLL_PROCESS_DETACH) {
    // Relaxed: DllMain runs under the loader lock, which orders it with every later reader that
    // could still be running code of this module.
    detail::g_module_state.detaching.store(true, std::memory_order_relaxed);
    if (reserved != nullptr) {
      detail::g_module_state.process_detach_for_exit.store(true, std::memory_order_relaxed);
    }
  }
  // Touch the probe so that it is resolved at load even in modules that never call
  // process_terminating() outside DllMain.
  (void)detail::g_shutdown_probe;
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
