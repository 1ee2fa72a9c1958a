// <modref/module_ref.h> — own one loader reference to a module, so its code stays mapped.
//
// A DLL that starts asynchronous work must keep itself loaded until that work is finished, or the
// host's FreeLibrary unmaps code that a worker is still running. The reference has to be taken on
// the calling thread, before the API returns: a worker that pins itself when it starts is too late,
// because the host may unload the DLL before the worker's first instruction.
//
// modref::module_ref owns one such reference (an HMODULE whose loader count it raised) and gives it
// back with FreeLibrary when destroyed. pin_current() pins the module that contains the call: the
// header is compiled into your DLL, and the address it pins (__ImageBase) is resolved by the linker
// of each module separately, so two DLLs in one process each pin themselves, never each other.
//
// Example: an asynchronous export that cannot be unloaded under its own worker.
//
//   extern "C" __declspec(dllexport) HRESULT StartScan() {
//     absl::StatusOr<modref::module_ref> pin = modref::module_ref::pin_current();
//     if (!pin.ok()) return E_FAIL;
//     auto* ctx = new scan_context{std::move(*pin)};      // the worker now owns the pin
//     if (!TrySubmitThreadpoolCallback(...ctx...)) { delete ctx; return E_FAIL; }  // pin released
//     return S_OK;
//   }
//   // ...and the worker, as its very last statement after every destructor has run:
//   //   FreeLibraryAndExitThread(pin.release(), 0);
//
// (modref::thread and modref::submit in <modref/thread.h> and <modref/threadpool.h> do all of it.)
//
// On Linux/glibc the same names and contracts hold for a .so (detail/module_ref_linux.h): a pin
// is one dlopen reference (dladdr1 on a hidden variable of the module, then dlopen(RTLD_NOLOAD)),
// reset() is dlclose, get() is the dlopen handle (modref::native_module_handle, void*), load()
// also refuses a .so that defines STB_GNU_UNIQUE symbols (glibc would never unload it), and
// errors carry errno payloads (<modref/posix_error.h>). docs/api.md has the Linux column.
//
// Lifetime
//   - A module_ref keeps the module mapped while it holds the reference. Destroying it, reset() or
//     assigning over it calls FreeLibrary once; release() hands the reference to the caller (for
//     FreeLibraryAndExitThread or FreeLibraryWhenCallbackReturns) without calling FreeLibrary.
//   - A module_ref of the module that contains it, kept in that module's own global, would keep the
//     module loaded for ever: for that intent use pin_current_forever().
//
// Thread safety: a module_ref is a value type; distinct objects may be used from distinct threads.
// The per-module activity counters below are atomics (relaxed: they are diagnostics and an unload
// vote, not a synchronisation point).
#ifndef MODREF_MODULE_REF_H_
#define MODREF_MODULE_REF_H_

#if defined(_WIN32)
#include "modref/detail/module_ref_win32.h"
#elif defined(__linux__)
#include "modref/detail/module_ref_linux.h"
#else
#error "<modref/module_ref.h> supports Windows and Linux/glibc"
#endif

#endif  // MODREF_MODULE_REF_H_
