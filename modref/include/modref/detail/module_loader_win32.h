// <modref/detail/module_loader_win32.h> — the Windows loader primitives <modref/module_ref.h> is
// built on: a module is a PE image (DLL or EXE), its handle is its HMODULE, a pin is one loader
// reference, and releasing it is FreeLibrary. modref::module_ref itself, with its contract and
// docs, is written once in <modref/module_ref.h>; include that, not this file. The Linux twin is
// detail/module_loader_linux.h, with the same functions:
//
//   detail::loader::add_ref_current()       LdrAddRefDll(this module), else GetModuleHandleExW
//   detail::loader::add_ref_containing(a)   this module if `a` is in its image, else
//                                           GetModuleHandleExW(FROM_ADDRESS, a)
//   detail::loader::load_absolute(path)     LoadLibraryExW(absolute path, safe search flags)
//   detail::loader::remove_ref(module)      FreeLibrary, GetLastError() kept
//   detail::loader::pin_forever()           GetModuleHandleExW(FROM_ADDRESS | PIN)
//   detail::loader::k_unloading             why pin_current() is refused during DLL_PROCESS_DETACH
//
// Each returns the handle (with its reference) or a status; module_ref adopts the handle.
#ifndef MODREF_DETAIL_MODULE_LOADER_WIN32_H_
#define MODREF_DETAIL_MODULE_LOADER_WIN32_H_

#ifndef _WIN32
#error "<modref/detail/module_loader_win32.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "modref/detail/module_activity.h"
#include "modref/detail/module_lifecycle.h"
#include "modref/win32_error.h"

// The linker of every PE image defines __ImageBase at the image's own base address, which is also
// its HMODULE. Because this header is compiled into each module, each module sees its own.
extern "C" IMAGE_DOS_HEADER __ImageBase;

namespace modref {

// modref::current_module()
// The HMODULE of the module this code was compiled into (your DLL or EXE). No reference is taken.
inline HMODULE current_module() noexcept { return reinterpret_cast<HMODULE>(&__ImageBase); }

// modref::native_module_handle: what module_ref::get() returns (void*, a dlopen handle, on Linux).
using native_module_handle = HMODULE;

namespace detail::loader {

inline constexpr const char* k_unloading =
    "pin_current: the module is being unloaded (DLL_PROCESS_DETACH has run); asynchronous work "
    "cannot start from its teardown";

// True when `address` lies in this module's mapped image, [__ImageBase, + SizeOfImage).
inline bool in_current_module(const void* address) noexcept {
  const auto base = reinterpret_cast<std::uintptr_t>(&__ImageBase);
  const auto* headers = reinterpret_cast<const IMAGE_NT_HEADERS*>(base + __ImageBase.e_lfanew);
  const auto where = reinterpret_cast<std::uintptr_t>(address);
  return where >= base && where - base < headers->OptionalHeader.SizeOfImage;
}

// One loader reference to this module through ntdll's LdrAddRefDll, which skips the
// address-to-module lookup of GetModuleHandleExW(FROM_ADDRESS) (see detail::g_ldr_add_ref_dll).
// Null when LdrAddRefDll is not resolved (the module's TLS callback and dll_main never ran) or
// fails: the caller then takes the GetModuleHandleExW path, which reports the Win32 error.
inline HMODULE add_ref_own_directly() noexcept {
#if defined(MODREF_TEST_SEAMS)
  // An injected pin failure is reported by add_ref_through_lookup.
  if (g_test_seams.fail_next_pin.load(std::memory_order_relaxed) != 0) return nullptr;
  if (g_test_seams.disable_direct_pin.load(std::memory_order_relaxed)) return nullptr;
#endif
  // Relaxed: see detail::g_ldr_add_ref_dll (a pointer into ntdll, which never unloads).
  const ldr_add_ref_dll_fn add_ref = g_ldr_add_ref_dll.load(std::memory_order_relaxed);
  if (add_ref == nullptr || add_ref(0, current_module()) < 0) return nullptr;  // NT_SUCCESS: >= 0
  return current_module();
}

inline absl::StatusOr<HMODULE> add_ref_through_lookup(const void* address, const char* what) {
#if defined(MODREF_TEST_SEAMS)
  if (const DWORD injected = take_injected_failure(g_test_seams.fail_next_pin)) {
    ::SetLastError(injected);
    return win32_error_status(injected, absl::StrCat(what, ": GetModuleHandleExW (injected)"));
  }
#endif
  HMODULE module = nullptr;
  if (!::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, static_cast<LPCWSTR>(address),
                            &module)) {
    const DWORD error = ::GetLastError();
    return win32_error_status(
        error, absl::StrFormat("%s: GetModuleHandleExW(FROM_ADDRESS, %p): the address is not "
                               "inside any loaded module",
                               what, address));
  }
  return module;
}

// loader::add_ref_current(): one reference to this module (module_ref::pin_current).
inline absl::StatusOr<HMODULE> add_ref_current() {
  if (HMODULE own = add_ref_own_directly(); own != nullptr) return own;
  return add_ref_through_lookup(&__ImageBase, "pin_current");
}

// loader::add_ref_containing(address): one reference to the module that contains a non-null
// `address` (module_ref::pin_address). An address inside this module's own image is this module,
// which is loaded while this code runs: no lookup needed.
inline absl::StatusOr<HMODULE> add_ref_containing(const void* address) {
  if (in_current_module(address)) {
    if (HMODULE own = add_ref_own_directly(); own != nullptr) return own;
  }
  return add_ref_through_lookup(address, "pin_address");
}

// loader::load_absolute(path): LoadLibraryExW of an absolute path with safe search flags (its own
// folder, then System32 and the application's folder for its imports) (module_ref::load).
inline absl::StatusOr<HMODULE> load_absolute(const std::filesystem::path& path) {
  if (path.empty()) return absl::InvalidArgumentError("load(\"\"): empty path");
  if (!path.is_absolute()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "load(\"", utf8_from_wide(path.native()),
        "\"): refusing a relative path or bare name; it would be looked up through the DLL "
        "search path (DLL planting). Pass a full path."));
  }
  HMODULE module = ::LoadLibraryExW(
      path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
  if (module == nullptr) {
    // Read the error before building the message: the conversion is a Win32 call too.
    const DWORD error = ::GetLastError();
    absl::Status status = win32_error_status(
        error, absl::StrCat("LoadLibraryExW(", utf8_from_wide(path.native()), ")"));
    ::SetLastError(error);
    return status;
  }
  return module;
}

// loader::remove_ref(module): FreeLibrary of a non-null handle; GetLastError() is kept.
inline void remove_ref(HMODULE module) noexcept {
  last_error_preserver keep;
  ::FreeLibrary(module);
}

// loader::pin_forever(): this module pinned for the rest of the process
// (GET_MODULE_HANDLE_EX_FLAG_PIN) (modref::pin_current_forever).
inline absl::Status pin_forever() {
  HMODULE module = nullptr;
  if (!::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                            reinterpret_cast<LPCWSTR>(&__ImageBase), &module)) {
    return last_win32_error_status("pin_current_forever: GetModuleHandleExW(FROM_ADDRESS | PIN)");
  }
  return absl::OkStatus();
}

}  // namespace detail::loader

}  // namespace modref

#endif  // MODREF_DETAIL_MODULE_LOADER_WIN32_H_
