// <modref/termination_safe.h> — a global whose destructor stays out of the way at process exit.
//
// A DLL global is destroyed in two very different situations: on FreeLibrary, when the process is
// healthy and cleanup is right, and at process termination, when every other thread has already
// been killed and the thread pool refuses (on Windows: crashes on) new work. Seed 000's WinHTTP
// crash is a destructor that closed a WebSocket, which scheduled a pool timer, during termination.
// modref::termination_safe<T> holds a T for a global and destroys it only in the first situation;
// at process termination its destructor does nothing, and the operating system reclaims memory,
// handles and everything else when the process ends.
//
// Example:
//
//   // In your DLL:
//   modref::termination_safe<connection_cache> g_cache;   // constructs connection_cache{}
//   MODREF_DEFINE_DLLMAIN();                              // or forward to modref::dll_main
//
//   void use() { g_cache->lookup("x"); }
//
//   // FreeLibrary:   ~connection_cache() runs (closes sockets, cancels its pool timer).
//   // ExitProcess:   nothing runs; no electrified thread pool is touched.
//
// Lifetime
//   - The T is constructed in place by termination_safe's constructor and lives until the
//     termination_safe is destroyed (outside termination) or reset() is called.
//   - reset() destroys the T early, at a time of your choosing; afterwards has_value() is false and
//     the destructor has nothing left to do. Use it when you shut down explicitly before exit.
//   - During process termination the T is intentionally never destroyed (its memory is not
//     released either: the process is ending).
//
// Thread safety: like T itself. reset() and the destructor must not race with users of the T.
#ifndef MODREF_TERMINATION_SAFE_H_
#define MODREF_TERMINATION_SAFE_H_

#ifndef _WIN32
#error "<modref/termination_safe.h> is Windows-only"
#endif

#include <concepts>
#include <memory>
#include <new>
#include <utility>

#include "gsl/assert"
#include "modref/dll_main.h"

namespace modref {

template <class T>
class termination_safe {
 public:
  // Constructs the T in place from `args`.
  template <class... Args>
  requires std::constructible_from<T, Args...>
  explicit termination_safe(Args&&... args) noexcept(std::is_nothrow_constructible_v<T, Args...>) {
    ::new (static_cast<void*>(storage_)) T(std::forward<Args>(args)...);
    alive_ = true;
  }

  termination_safe(const termination_safe&) = delete;  // a global has one identity
  termination_safe& operator=(const termination_safe&) = delete;

  // Destroys the T unless the process is terminating (see <modref/dll_main.h>).
  ~termination_safe() {
    if (!alive_) return;
    if (process_terminating()) return;  // the process is ending: leave the T as it is
    destroy();
  }

  // termination_safe::get()
  // The held T. Precondition (GSL Expects): has_value().
  T& get() noexcept {
    Expects(alive_);
    return *std::launder(reinterpret_cast<T*>(storage_));
  }
  const T& get() const noexcept {
    Expects(alive_);
    return *std::launder(reinterpret_cast<const T*>(storage_));
  }
  T& operator*() noexcept { return get(); }
  const T& operator*() const noexcept { return get(); }
  T* operator->() noexcept { return &get(); }
  const T* operator->() const noexcept { return &get(); }

  // termination_safe::has_value()
  // False after reset().
  bool has_value() const noexcept { return alive_; }

  // termination_safe::reset()
  // Destroys the T now (whatever process_terminating() says: you asked for it). Idempotent.
  void reset() noexcept {
    if (alive_) destroy();
  }

 private:
  void destroy() noexcept {
    alive_ = false;
    std::destroy_at(std::launder(reinterpret_cast<T*>(storage_)));
  }

  alignas(T) unsigned char storage_[sizeof(T)];
  bool alive_ = false;
};

}  // namespace modref

#endif  // MODREF_TERMINATION_SAFE_H_
