// <modref/detail/module_ref_win32.h> — the Windows half of <modref/module_ref.h>: the code, moved
// here unchanged so that the platform difference lives in files named after the platform. Include
// <modref/module_ref.h>, not this file; the contract, example, lifetime and thread-safety notes
// are in that header.
#ifndef MODREF_DETAIL_MODULE_REF_WIN32_H_
#define MODREF_DETAIL_MODULE_REF_WIN32_H_

#ifndef _WIN32
#error "<modref/detail/module_ref_win32.h> is Windows-only"
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
#include "modref/refcount.h"
#include "modref/win32_error.h"

// The linker of every PE image defines __ImageBase at the image's own base address, which is also
// its HMODULE. Because this header is compiled into each module, each module sees its own.
extern "C" IMAGE_DOS_HEADER __ImageBase;

namespace modref {

// modref::current_module()
// The HMODULE of the module this code was compiled into (your DLL or EXE). No reference is taken.
inline HMODULE current_module() noexcept { return reinterpret_cast<HMODULE>(&__ImageBase); }

// modref::module_ref
// Move-only owner of one loader reference to a module.
class module_ref {
 public:
  // An empty module_ref: owns nothing.
  constexpr module_ref() noexcept = default;
  // Adopts a loader reference the caller already owns (from LoadLibraryW or GetModuleHandleExW
  // without GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT).
  module_ref(HMODULE module, adopt_ref_t) noexcept : module_(module) { count_pin(+1); }

  module_ref(const module_ref&) = delete;  // one loader reference, one owner
  module_ref& operator=(const module_ref&) = delete;
  module_ref(module_ref&& other) noexcept : module_(std::exchange(other.module_, nullptr)) {}
  module_ref& operator=(module_ref&& other) noexcept {
    if (this != &other) {
      reset();
      module_ = std::exchange(other.module_, nullptr);
    }
    return *this;
  }
  ~module_ref() { reset(); }

  // module_ref::pin_current()
  // Pins the module this code was compiled into (the caller's DLL or EXE): one loader reference,
  // added by ntdll's LdrAddRefDll on the module's own handle (what
  // GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS) ends with, minus its address
  // lookup), or by GetModuleHandleExW itself where LdrAddRefDll is unavailable. Either way
  // FreeLibrary gives it back. Call it on the thread that starts asynchronous work, before
  // returning to your caller.
  // Refused with kFailedPrecondition once this module's DllMain has received DLL_PROCESS_DETACH
  // (when you forward DllMain to modref::dll_main): work started from a global destructor during
  // unload would pin a module that is already being torn down.
  [[nodiscard]] static absl::StatusOr<module_ref> pin_current() {
    if (detail::g_module_state.detaching.load(std::memory_order_relaxed)) {
      return absl::FailedPreconditionError(
          "pin_current: the module is being unloaded (DLL_PROCESS_DETACH has run); asynchronous "
          "work cannot start from its teardown");
    }
    if (module_ref own = pin_own_module(); own) return own;
    return pin_address_checked(&__ImageBase, "pin_current");
  }

  // module_ref::pin_address(address)
  // Pins the module that contains `address` (code or data). An address in no module (null, stack,
  // heap) gives kInvalidArgument (null) or kNotFound. An address inside this module's own image
  // is pinned as pin_current() pins (without its unload check), others with GetModuleHandleExW.
  [[nodiscard]] static absl::StatusOr<module_ref> pin_address(const void* address) {
    if (address == nullptr) {
      return absl::InvalidArgumentError("pin_address(nullptr): a null address is in no module");
    }
    // An address inside this module's own image is this module, which is loaded while this code
    // runs: no lookup needed (and no detaching check: pin_address never had one).
    if (contains_current_module(address)) {
      if (module_ref own = pin_own_module(); own) return own;
    }
    return pin_address_checked(address, "pin_address");
  }

  // module_ref::load(path)
  // Loads (or adds a reference to) the DLL at the absolute `path` with LoadLibraryExW and safe
  // search flags (its own folder, then System32 and the application's folder for its imports).
  // A relative path or bare name is refused with kInvalidArgument: it would be resolved through
  // the DLL search path, which is how DLL planting works. Any path Windows accepts is accepted
  // (it goes to the loader as UTF-16); error messages quote it in UTF-8.
  [[nodiscard]] static absl::StatusOr<module_ref> load(const std::filesystem::path& path) {
    if (path.empty()) return absl::InvalidArgumentError("load(\"\"): empty path");
    if (!path.is_absolute()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "load(\"", detail::utf8_from_wide(path.native()),
          "\"): refusing a relative path or bare name; it would be looked up through the DLL "
          "search path (DLL planting). Pass a full path."));
    }
    HMODULE module = ::LoadLibraryExW(
        path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
    if (module == nullptr) {
      // Read the error before building the message: the conversion is a Win32 call too.
      const DWORD error = ::GetLastError();
      absl::Status status = win32_error_status(
          error, absl::StrCat("LoadLibraryExW(", detail::utf8_from_wide(path.native()), ")"));
      ::SetLastError(error);
      return status;
    }
    return module_ref(module, adopt_ref);
  }

  // module_ref::get()
  // The module handle, or null when empty. Ownership is unchanged.
  HMODULE get() const noexcept { return module_; }
  explicit operator bool() const noexcept { return module_ != nullptr; }

  // module_ref::release()
  // Gives up ownership without calling FreeLibrary and returns the handle with its reference:
  // pass it to FreeLibraryAndExitThread or FreeLibraryWhenCallbackReturns.
  [[nodiscard]] HMODULE release() noexcept {
    count_pin(-1);
    return std::exchange(module_, nullptr);
  }

  // module_ref::reset()
  // Calls FreeLibrary on the reference held, if any, and becomes empty. GetLastError() is kept.
  void reset() noexcept {
    if (module_ == nullptr) return;
    last_error_preserver keep;
    count_pin(-1);
    ::FreeLibrary(std::exchange(module_, nullptr));
  }

  void swap(module_ref& other) noexcept { std::swap(module_, other.module_); }
  friend void swap(module_ref& a, module_ref& b) noexcept { a.swap(b); }

 private:
  void count_pin(long delta) const noexcept {
    if (module_ == current_module()) {
      detail::g_module_state.live_pins.fetch_add(delta, std::memory_order_relaxed);
    }
  }

  // module_ref::contains_current_module(address)
  // True when `address` lies in this module's mapped image, [__ImageBase, + SizeOfImage).
  static bool contains_current_module(const void* address) noexcept {
    const auto base = reinterpret_cast<std::uintptr_t>(&__ImageBase);
    const auto* headers = reinterpret_cast<const IMAGE_NT_HEADERS*>(base + __ImageBase.e_lfanew);
    const auto where = reinterpret_cast<std::uintptr_t>(address);
    return where >= base && where - base < headers->OptionalHeader.SizeOfImage;
  }

  // module_ref::pin_own_module()
  // One loader reference to this module through ntdll's LdrAddRefDll, which skips the
  // address-to-module lookup of GetModuleHandleExW(FROM_ADDRESS) (see
  // detail::g_ldr_add_ref_dll). Empty when LdrAddRefDll is not resolved (the module's TLS
  // callback and dll_main never ran) or fails: the caller then takes the GetModuleHandleExW path,
  // which reports the Win32 error. The count is the same exact live_pins count either way.
  static module_ref pin_own_module() noexcept {
#if defined(MODREF_TEST_SEAMS)
    // An injected pin failure is reported by pin_address_checked.
    if (detail::g_test_seams.fail_next_pin.load(std::memory_order_relaxed) != 0) return {};
    if (detail::g_test_seams.disable_direct_pin.load(std::memory_order_relaxed)) return {};
#endif
    // Relaxed: see detail::g_ldr_add_ref_dll (a pointer into ntdll, which never unloads).
    const detail::ldr_add_ref_dll_fn add_ref =
        detail::g_ldr_add_ref_dll.load(std::memory_order_relaxed);
    if (add_ref == nullptr || add_ref(0, current_module()) < 0) return {};  // NT_SUCCESS: >= 0
    return module_ref(current_module(), adopt_ref);
  }

  static absl::StatusOr<module_ref> pin_address_checked(const void* address, const char* what) {
#if defined(MODREF_TEST_SEAMS)
    if (const DWORD injected = detail::take_injected_failure(detail::g_test_seams.fail_next_pin)) {
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
    return module_ref(module, adopt_ref);
  }

  HMODULE module_ = nullptr;
};

// modref::pin_current_forever()
// Pins the calling module for the rest of the process (GET_MODULE_HANDLE_EX_FLAG_PIN): FreeLibrary
// will never unload it. For DLLs that choose simplicity over unloadability.
[[nodiscard]] inline absl::Status pin_current_forever() {
  HMODULE module = nullptr;
  if (!::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_PIN,
                            reinterpret_cast<LPCWSTR>(&__ImageBase), &module)) {
    return last_win32_error_status("pin_current_forever: GetModuleHandleExW(FROM_ADDRESS | PIN)");
  }
  return absl::OkStatus();
}

}  // namespace modref

#endif  // MODREF_DETAIL_MODULE_REF_WIN32_H_
