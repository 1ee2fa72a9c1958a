// <modref/detail/module_lifecycle.h> — modref's per-module globals, and the loader hook that
// sets them before any of the module's own code can run at load and at unload.
//
// Internal header (included by <modref/module_ref.h>); nothing here is public API.
//
// Two rules live here, because breaking either one is silent until a customer's DLL misbehaves:
//
//   1. Every modref global is constant-initialised (`constinit`). Code of this module can run
//      before the dynamic initialisers of a given translation unit: another translation unit's
//      global constructor runs first (MinGW runs translation units in reverse link order; MSVC in
//      link order; the standard leaves it unspecified) and may start a thread or pool work. A
//      dynamically initialised global reads as zero until its initialiser runs: a TLS index of 0
//      (someone else's slot), a null function pointer, a flag that is "false" for the wrong
//      reason. `constinit` makes a dynamic initialiser a compile error. Things that need a system
//      call are resolved lazily (the TLS slot, allocated on first use) or by the loader hook
//      below (the RtlDllShutdownInProgress pointer), never by a C++ initialiser.
//
//   2. The "this module is detaching" flag is set by a TLS callback that the linker places before
//      the C runtime's own (`.CRT$XLAM` sorts after `.CRT$XLA`, the start of the array, and before
//      `.CRT$XLB`, where mingw-w64 registers the callback that runs its __cxa_atexit destructors;
//      MSVC's CRT uses `.CRT$XLC`/`.CRT$XLD`, where its thread_local destructors run). The loader
//      calls a module's TLS callbacks before its entry point for every reason (Wine:
//      dlls/ntdll/loader.c MODULE_InitDLL; Windows behaves the same), so the flag is set before
//      any global or thread_local destructor of the module runs, whatever the CRT and the
//      compiler's choice of atexit or __cxa_atexit. Setting it in DllMain alone was too late for
//      destructors that run from a TLS callback (tests/modref/dll_main_test.cc, "cxa destroyed").
//
// Lifetime: the TLS slot is freed by the same callback on DLL_PROCESS_DETACH from FreeLibrary, and
// then marked retired so that a late user (a global destructor that runs after it) neither uses a
// freed index nor allocates a new one that nobody would free. At process exit nothing is freed:
// the process is ending, and nothing may be done then.
//
// Thread safety / memory ordering: every member is an atomic; each operation states its order.
#ifndef MODREF_DETAIL_MODULE_LIFECYCLE_H_
#define MODREF_DETAIL_MODULE_LIFECYCLE_H_

#ifndef _WIN32
#error "<modref/detail/module_lifecycle.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>

namespace modref {
namespace detail {

// One instance per module: inline variables are not shared across module boundaries on Windows.
struct module_state {
  std::atomic<long> live_contexts{0};
  std::atomic<long> live_pins{0};
  std::atomic<bool> process_detach_for_exit{false};
  // Set on DLL_PROCESS_DETACH (FreeLibrary or exit) by module_tls_callback, before any destructor
  // of the module runs, and again by dll_main(): the module is going away and pinning it now
  // would resurrect it half-destroyed.
  std::atomic<bool> detaching{false};
};
inline constinit module_state g_module_state;

#if defined(MODREF_TEST_SEAMS)
// Test seams (compiled only when MODREF_TEST_SEAMS is defined, as in modref's own test DLLs):
// the next pin or thread creation fails with the given Win32 error.
struct test_seams {
  std::atomic<DWORD> fail_next_pin{0};
  std::atomic<DWORD> fail_next_thread_create{0};
  // When set, the next thread is left suspended before its first instruction and a duplicate of
  // its handle is stored in held_thread; the test resumes it (as a debugger's freeze would).
  std::atomic<bool> hold_next_thread{false};
  std::atomic<HANDLE> held_thread{nullptr};
  // When set, module_ref pins through GetModuleHandleExW only (the path where LdrAddRefDll is
  // missing), so that tests cover both.
  std::atomic<bool> disable_direct_pin{false};
};
inline constinit test_seams g_test_seams;
inline DWORD take_injected_failure(std::atomic<DWORD>& slot) noexcept {
  return slot.exchange(0, std::memory_order_relaxed);
}
#endif

// ntdll's RtlDllShutdownInProgress, resolved by module_tls_callback(DLL_PROCESS_ATTACH) (or by
// dll_main, whichever runs first), never at exit, where a lookup could take locks held by threads
// that no longer exist. Null until then, and where ntdll lacks it.
using rtl_dll_shutdown_in_progress_fn = BOOLEAN(NTAPI*)();
inline constinit std::atomic<rtl_dll_shutdown_in_progress_fn> g_shutdown_probe{nullptr};

// ntdll's LdrAddRefDll(flags, module): adds one loader reference to a loaded module named by its
// handle; flags 0 is an ordinary, releasable reference (FreeLibrary gives it back). It is the
// last step of GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS), which first finds the
// module that contains the address (Wine 8: dlls/kernelbase/loader.c GetModuleHandleExW takes
// the loader lock, calls RtlPcToFileHeader, then LdrAddRefDll). module_ref::pin_current() knows
// its module already (__ImageBase) and calls it directly: the lookup was most of the cost of a
// pin (docs/benchmarks.md). Exported by ntdll since Windows XP and by Wine; not documented by
// Microsoft, so it is looked up, never imported, and pin_current() falls back to
// GetModuleHandleExW when it is missing or returns a failure status. Resolved with the shutdown
// probe; null until then.
using ldr_add_ref_dll_fn = LONG(NTAPI*)(ULONG flags, PVOID module);
inline constinit std::atomic<ldr_add_ref_dll_fn> g_ldr_add_ref_dll{nullptr};

template <class Fn>
void resolve_ntdll_function(HMODULE ntdll, std::atomic<Fn>& slot, const char* name) noexcept {
  // Relaxed: a function pointer into ntdll, which is mapped before any module and never unloads.
  if (slot.load(std::memory_order_relaxed) != nullptr) return;
  slot.store(reinterpret_cast<Fn>(reinterpret_cast<void*>(::GetProcAddress(ntdll, name))),
             std::memory_order_relaxed);
}

// detail::resolve_ntdll_functions() looks up g_shutdown_probe and g_ldr_add_ref_dll.
inline void resolve_ntdll_functions() noexcept {
  // GetModuleHandleW on ntdll (always loaded) neither loads nor allocates: safe under the loader
  // lock, before the C runtime is initialised.
  const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
  if (ntdll == nullptr) return;
  resolve_ntdll_function(ntdll, g_shutdown_probe, "RtlDllShutdownInProgress");
  resolve_ntdll_function(ntdll, g_ldr_add_ref_dll, "LdrAddRefDll");
}

// detail::shutdown_in_progress() is RtlDllShutdownInProgress(), false when it is unavailable.
inline bool shutdown_in_progress() noexcept {
  const rtl_dll_shutdown_in_progress_fn probe = g_shutdown_probe.load(std::memory_order_relaxed);
  return probe != nullptr && probe() != FALSE;
}

// detail::module_tls_slot
// One Win32 TLS slot for this module, allocated on first use (never by a C++ initialiser: see rule
// 1 above) and freed when the module unloads. Not a C++ thread_local: with MinGW that goes
// through emutls and winpthreads, which give every thread that touches it bookkeeping that only
// this module's DLL_THREAD_DETACH releases; pool threads outlive the module, so they would leak.
// A Win32 slot costs threads nothing.
class module_tls_slot {
 public:
  constexpr module_tls_slot() noexcept = default;
  module_tls_slot(const module_tls_slot&) = delete;  // one slot index, one owner
  module_tls_slot& operator=(const module_tls_slot&) = delete;

  // module_tls_slot::get()
  // This thread's value, or null when the slot was never set (not allocated yet), is retired, or
  // could not be allocated. GetLastError() is kept.
  void* get() const noexcept {
    // Acquire pairs with the release of the compare-exchange that published the index.
    const DWORD index = index_.load(std::memory_order_acquire);
    if (index >= kRetired) return nullptr;  // unallocated or retired
    const DWORD saved = ::GetLastError();   // TlsGetValue sets the last error
    void* value = ::TlsGetValue(index);
    ::SetLastError(saved);
    return value;
  }

  // module_tls_slot::set(value)
  // Stores `value` for this thread, allocating the slot on first use. False when there is no slot
  // (TlsAlloc failed, or the module is unloading and the slot is retired). GetLastError() is kept.
  bool set(void* value) noexcept {
    DWORD index = index_.load(std::memory_order_acquire);  // pairs with allocate()'s release
    if (index == kUnallocated) {
      if (value == nullptr) return true;  // every thread already reads null
      index = allocate();
    }
    if (index >= kRetired) return false;
    const DWORD saved = ::GetLastError();
    const BOOL stored = ::TlsSetValue(index, value);
    ::SetLastError(saved);
    return stored != FALSE;
  }

  // module_tls_slot::index_for_diagnostics()
  // The TLS index in use, or TLS_OUT_OF_INDEXES when none is (not allocated yet, or retired). For
  // tests, logs, and readers that read the TEB's slot array directly (<modref/coroutine.h>).
  DWORD index_for_diagnostics() const noexcept {
    const DWORD index = index_.load(std::memory_order_acquire);  // as get()
    return index >= kRetired ? TLS_OUT_OF_INDEXES : index;
  }

  // module_tls_slot::retire_at_unload()
  // Frees the slot (if it was allocated) and retires it for the rest of this mapping of the
  // module. Called from module_tls_callback on DLL_PROCESS_DETACH from FreeLibrary.
  void retire_at_unload() noexcept {
    // Acq_rel: acquire the allocation we free, and publish "retired" to later readers.
    const DWORD index = index_.exchange(kRetired, std::memory_order_acq_rel);
    if (index < kRetired) ::TlsFree(index);
  }

 private:
  static constexpr DWORD kUnallocated = TLS_OUT_OF_INDEXES;  // 0xFFFFFFFF
  static constexpr DWORD kRetired = TLS_OUT_OF_INDEXES - 1;  // never a TlsAlloc result

  DWORD allocate() noexcept {
    const DWORD fresh = ::TlsAlloc();
    if (fresh == TLS_OUT_OF_INDEXES) return kUnallocated;  // none left; the next use retries
    DWORD expected = kUnallocated;
    // Release publishes the index; acquire (on failure) reads the winner's. Two first users race
    // here: one index wins, the loser gives its own back.
    if (index_.compare_exchange_strong(expected, fresh, std::memory_order_acq_rel,
                                       std::memory_order_acquire)) {
      return fresh;
    }
    ::TlsFree(fresh);
    return expected;  // the winner's index, or kRetired
  }

  std::atomic<DWORD> index_{kUnallocated};
};

// The module's TLS slot for "which modref callback is running on this thread"
// (<modref/threadpool.h>).
inline constinit module_tls_slot g_running_callback_slot;
// The module's TLS slot for "which modref coroutine resumption is running on this thread"
// (<modref/detail/coroutine_frame.h>).
inline constinit module_tls_slot g_coroutine_scope_slot;

// detail::module_tls_callback
// Runs for this module before its entry point (DllMain, or the CRT's DllMainCRTStartup) and
// before the CRT's TLS callbacks, for every DLL_PROCESS_* and DLL_THREAD_* notification. It
// calls only kernel32/ntdll and touches only constant-initialised atomics: the C runtime may not
// be initialised yet (attach) or any more (detach).
inline void NTAPI module_tls_callback(void* /*module*/, DWORD reason, void* /*reserved*/) noexcept {
  if (reason == DLL_PROCESS_ATTACH) {
    resolve_ntdll_functions();
  } else if (reason == DLL_PROCESS_DETACH) {
    // Relaxed: the loader lock orders this with every later reader on this module's threads.
    g_module_state.detaching.store(true, std::memory_order_relaxed);
    // Wine passes a null `reserved` to TLS callbacks even at exit, so ask ntdll instead. At exit
    // nothing is given back: the process is ending.
    if (!shutdown_in_progress()) {
      g_running_callback_slot.retire_at_unload();
      g_coroutine_scope_slot.retire_at_unload();
    }
  }
}

}  // namespace detail
}  // namespace modref

// The callback's entry in this module's TLS callback array (PE: IMAGE_TLS_DIRECTORY
// AddressOfCallBacks, the pointers between the CRT's .CRT$XLA and .CRT$XLZ markers). C linkage so
// that MSVC's /INCLUDE can name it; one definition per module that the linker keeps.
// This is the only compiler-specific block of the layer.
#if defined(_MSC_VER)
#pragma section(".CRT$XLAM", long, read)
// __declspec(selectany), not `inline`: nothing refers to the pointer, and an unreferenced inline
// variable is not emitted at all (clang 16 for x86_64-pc-windows-msvc, i.e. clang-cl: the object
// had no .CRT$XLAM section), so /INCLUDE would name a symbol no object defines and the link
// fails. selectany data is emitted by every translation unit and the linker keeps one copy.
// cmake/modrefHeaderCheck.cmake (MODREF_MSVC_BRANCH_CHECK) checks the section and the symbol.
extern "C" __declspec(selectany) __declspec(allocate(".CRT$XLAM")) constinit const
    PIMAGE_TLS_CALLBACK modref_detail_tls_callback = &::modref::detail::module_tls_callback;
// Keep the TLS directory and the callback pointer even though no code refers to them.
#if defined(_M_IX86)
#pragma comment(linker, "/INCLUDE:__tls_used")
#pragma comment(linker, "/INCLUDE:_modref_detail_tls_callback")
#else
#pragma comment(linker, "/INCLUDE:_tls_used")
#pragma comment(linker, "/INCLUDE:modref_detail_tls_callback")
#endif
#else
// GCC and clang targeting MinGW (clang-cl takes the branch above). `used` keeps the pointer;
// mingw-w64's CRT always links its TLS directory (_tls_used, in tlssup.c).
extern "C"
    __attribute__((section(".CRT$XLAM"),
                   used)) constinit inline const PIMAGE_TLS_CALLBACK modref_detail_tls_callback =
        &::modref::detail::module_tls_callback;
#endif

#endif  // MODREF_DETAIL_MODULE_LIFECYCLE_H_
