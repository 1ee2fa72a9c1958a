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
// On Linux/glibc the same class, names and contracts hold for a .so: a pin is one dlopen
// reference (dlopen(RTLD_NOLOAD) of the module's own link_map, found once by dladdr1), reset() is
// dlclose, get() is the dlopen handle (modref::native_module_handle, void*), load() also refuses a
// .so that defines STB_GNU_UNIQUE symbols (glibc would never unload it), and errors carry errno
// payloads (<modref/posix_error.h>). docs/api.md has the Linux column.
//
// Layout: module_ref is written once, below; the loader calls it makes (add a reference, load by
// absolute path, remove a reference) are the functions of detail::loader, in
// detail/module_loader_win32.h and detail/module_loader_linux.h: the platform difference lives in
// those two files.
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
#include "modref/detail/module_loader_win32.h"
#elif defined(__linux__)
#include "modref/detail/module_loader_linux.h"
#else
#error "<modref/module_ref.h> supports Windows and Linux/glibc"
#endif

#include <atomic>
#include <filesystem>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "modref/detail/module_activity.h"
#include "modref/refcount.h"

namespace modref {

// modref::module_ref
// Move-only owner of one loader reference to a module (Windows: an HMODULE whose loader count it
// raised; Linux: a dlopen handle).
class module_ref {
 public:
  // An empty module_ref: owns nothing.
  constexpr module_ref() noexcept = default;
  // Adopts a loader reference the caller already owns (Windows: from LoadLibraryW or
  // GetModuleHandleExW without GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT; Linux: a handle from
  // dlopen that it would dlclose).
  module_ref(native_module_handle module, adopt_ref_t) noexcept : module_(module) { count_pin(+1); }

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
  // Pins the module this code was compiled into (the caller's DLL, EXE, .so or program). Call it
  // on the thread that starts asynchronous work, before returning to your caller.
  //   Windows: one loader reference, added by ntdll's LdrAddRefDll on the module's own handle
  //     (what GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS) ends with, minus its
  //     address lookup), or by GetModuleHandleExW itself where LdrAddRefDll is unavailable.
  //     Either way FreeLibrary gives it back.
  //   Linux: dlopen(l_name, RTLD_NOW | RTLD_NOLOAD) of the module's link_map (looked up once with
  //     dladdr1 on a hidden variable of the module, then kept), identity checked with dlinfo.
  // Refused with kFailedPrecondition once this module's teardown has begun (Windows: its DllMain
  // received DLL_PROCESS_DETACH, when you forward DllMain to modref::dll_main; Linux: its ELF
  // destructors run, from dlclose or exit): work started from a global destructor during unload
  // would pin a module that is already being torn down.
  [[nodiscard]] static absl::StatusOr<module_ref> pin_current() {
    // Relaxed: see detail::mark_module_teardown / dll_main.
    if (detail::g_module_state.detaching.load(std::memory_order_relaxed)) {
      return absl::FailedPreconditionError(detail::loader::k_unloading);
    }
    return adopt(detail::loader::add_ref_current());
  }

  // module_ref::pin_address(address)
  // Pins the module that contains `address` (code or data). An address in no module (null, stack,
  // heap) gives kInvalidArgument (null) or kNotFound (Windows: the Win32 error of
  // GetModuleHandleExW). On Windows an address inside this module's own image is pinned as
  // pin_current() pins (without its unload check).
  [[nodiscard]] static absl::StatusOr<module_ref> pin_address(const void* address) {
    if (address == nullptr) {
      return absl::InvalidArgumentError("pin_address(nullptr): a null address is in no module");
    }
    return adopt(detail::loader::add_ref_containing(address));
  }

  // module_ref::load(path)
  // Loads (or adds a reference to) the module at the absolute `path`. A relative path or bare name
  // is refused with kInvalidArgument, nothing loaded: it would be resolved through the search path
  // (the DLL search path; LD_LIBRARY_PATH, RUNPATH and the system folders), which is how DLL and
  // library planting work. An empty path is kInvalidArgument too.
  //   Windows: LoadLibraryExW with safe search flags (its own folder, then System32 and the
  //     application's folder for its imports). Any path Windows accepts is accepted (it goes to
  //     the loader as UTF-16); error messages quote it in UTF-8, with the Win32 error.
  //   Linux: dlopen(RTLD_NOW | RTLD_LOCAL). Also refused, nothing loaded: a file that defines
  //     STB_GNU_UNIQUE symbols (kFailedPrecondition, naming the first one): glibc would never
  //     unload it, so every dlclose would silently keep it mapped. Rebuild it with
  //     -fno-gnu-unique (modref::module adds that flag for GCC); `readelf -Ws` shows them. A
  //     missing file is kNotFound, one that is not ELF kInvalidArgument; other loader failures
  //     (missing dependencies, undefined symbols) are kInvalidArgument with dlerror()'s text.
  [[nodiscard]] static absl::StatusOr<module_ref> load(const std::filesystem::path& path) {
    return adopt(detail::loader::load_absolute(path));
  }

  // module_ref::get()
  // The module handle (HMODULE; on Linux the dlopen handle), or null when empty. Ownership is
  // unchanged.
  native_module_handle get() const noexcept { return module_; }
  explicit operator bool() const noexcept { return module_ != nullptr; }

  // module_ref::release()
  // Gives up ownership without releasing the reference and returns the handle with it: on
  // Windows pass it to FreeLibraryAndExitThread or FreeLibraryWhenCallbackReturns; the Linux
  // threads hand it to the thread's last destructor (<modref/thread.h>).
  [[nodiscard]] native_module_handle release() noexcept {
    count_pin(-1);
    return std::exchange(module_, nullptr);
  }

  // module_ref::reset()
  // Gives the reference held, if any, back to the loader (FreeLibrary; dlclose) and becomes
  // empty. GetLastError() (errno on Linux) is kept.
  void reset() noexcept {
    if (module_ == nullptr) return;
    count_pin(-1);
    detail::loader::remove_ref(std::exchange(module_, nullptr));
  }

  void swap(module_ref& other) noexcept { std::swap(module_, other.module_); }
  friend void swap(module_ref& a, module_ref& b) noexcept { a.swap(b); }

 private:
  static absl::StatusOr<module_ref> adopt(absl::StatusOr<native_module_handle> added) {
    if (!added.ok()) return std::move(added).status();
    return module_ref(*added, adopt_ref);
  }

  // The exact count of this module's own live pins (activity().live_pins, can_unload_now()).
  void count_pin(long delta) const noexcept {
    if (module_ != nullptr && module_ == current_module()) {
      detail::g_module_state.live_pins.fetch_add(delta, std::memory_order_relaxed);
    }
  }

  native_module_handle module_ = nullptr;
};

// modref::pin_current_forever()
// Pins the calling module for the rest of the process: its loader will never unload it (Windows:
// GET_MODULE_HANDLE_EX_FLAG_PIN; Linux: dlopen with RTLD_NODELETE, refused as pin_current() is
// once its teardown has begun). For modules that choose simplicity over unloadability.
[[nodiscard]] inline absl::Status pin_current_forever() { return detail::loader::pin_forever(); }

}  // namespace modref

#endif  // MODREF_MODULE_REF_H_
