// <modref/com_server.h> — DllCanUnloadNow for an in-process COM server that starts work with
// modref.
//
// The COM runtime, not the host, decides when an in-process server is unloaded: from
// CoFreeUnusedLibraries(Ex) (and at CoUninitialize) it asks the DLL's DllCanUnloadNow and calls
// FreeLibrary on S_OK. A server whose object count is zero while work it started still runs gets
// unloaded under that work (obs-virtualcam-module crashed Firefox this way, Firefox bug 1707060).
//
// With modref the work is safe whatever DllCanUnloadNow answers: every modref thread, pool callback
// and pool object holds its own loader reference, so COM's FreeLibrary only drops COM's reference
// and the DLL unloads when the last piece of work ends (race-lab row com_server_unloaded_by_com).
// What the answer still protects is the COM objects, which hold no loader reference (an object
// cannot give one back from its own Release without returning into unmapped code). An object that
// a worker creates after COM has let the DLL go would be protected by nothing once that worker
// ends (race-lab row com_object_from_worker). This header counts objects and server locks in the
// same per-module counter as modref's work, so that one answer covers both:
//
//   - modref::counted_com_object: a member of each COM object class; the object counts while it
//     lives.
//   - modref::com_lock_server(lock): IClassFactory::LockServer.
//   - modref::dll_can_unload_now(): S_OK when no counted object, no server lock and no modref
//     work of this module is alive; otherwise S_FALSE.
//
// Example: the module counting of a server whose method starts background work.
//
//   class scanner final : public IScanner {
//    public:
//     HRESULT STDMETHODCALLTYPE Scan(const wchar_t* path) override {
//       absl::Status started = modref::start_detached(
//           [](std::wstring p) { scan_folder(p); }, std::wstring(path));  // pinned, counted
//       return started.ok() ? S_OK : E_FAIL;
//     }
//     // ... QueryInterface, AddRef, Release (delete this at zero) ...
//    private:
//     modref::counted_com_object counted_;  // DllCanUnloadNow sees this object while it lives
//     std::atomic<ULONG> refs_{1};
//   };
//
//   HRESULT STDMETHODCALLTYPE scanner_factory::LockServer(BOOL lock) {
//     return modref::com_lock_server(lock);
//   }
//   STDAPI DllCanUnloadNow() { return modref::dll_can_unload_now(); }
//
// Lifetime
//   - A counted_com_object counts from its construction to its destruction. Copying one counts the
//     new object (a copy is another object); nothing is moved out of it.
//   - Static class factories need no count (they live as long as the DLL); a factory allocated
//     per DllGetClassObject call holds a counted_com_object like any other object.
//   - Counting the work delays the unload: while a worker runs, DllCanUnloadNow says S_FALSE and
//     COM keeps the DLL until its next CoFreeUnusedLibraries(Ex) after the work ended. Under Wine
//     and Windows a plain CoFreeUnusedLibraries() only marks a free-threaded server and unloads it
//     about 10 minutes later; docs/testing.md says what the tests do about it.
//
// Thread safety / memory ordering: every function may be called from any thread. Objects, locks
// and modref's thread and callback contexts share one atomic counter per module
// (modref::activity().live_contexts); it is updated with relaxed operations and read with one
// relaxed load. One counter is what makes the answer consistent: whatever a counted object or a
// context creates is counted before its creator stops counting (sequenced-before, hence earlier in
// the counter's modification order), so a load that reads zero proves that nothing created by
// this module's objects or work was alive at that point of the order. What exists afterwards was
// created from outside (a new CoCreateInstance, which reloads the DLL if COM had freed it).
// Separate counters read one after the other could not prove that. The diagnostics in
// com_server_activity() are separate relaxed counters and take no part in the answer.
#ifndef MODREF_COM_SERVER_H_
#define MODREF_COM_SERVER_H_

#ifndef _WIN32
#error "<modref/com_server.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>

#include "modref/module_ref.h"

namespace modref {

// modref::com_server_counts / modref::com_server_activity()
// Diagnostics: the counted COM objects of this module still alive and the LockServer(TRUE) calls
// not yet balanced. A snapshot for logs and tests; DllCanUnloadNow uses dll_can_unload_now().
struct com_server_counts {
  long objects = 0;
  long locks = 0;
};

namespace detail {

// One instance per module (an inline variable is not shared across module boundaries).
struct com_server_state {
  std::atomic<long> objects{0};
  std::atomic<long> locks{0};
};
inline constinit com_server_state g_com_server_state;  // constinit: docs/design.md, "Init order"

}  // namespace detail

inline com_server_counts com_server_activity() noexcept {
  // Relaxed: a snapshot for diagnostics, ordered with nothing.
  return {detail::g_com_server_state.objects.load(std::memory_order_relaxed),
          detail::g_com_server_state.locks.load(std::memory_order_relaxed)};
}

// modref::counted_com_object
// Make it a member of each COM object class of your server: the object then counts as alive for
// dll_can_unload_now() (and in activity().live_contexts) from its construction to its
// destruction. It holds no loader reference: the count is COM's vote, kept by COM's rules.
class counted_com_object {
 public:
  // counted_com_object()
  // Counts the object that contains it: in the vote (the member below, constructed first) and in
  // the diagnostics.
  counted_com_object() noexcept {
    // Relaxed: a diagnostic. The vote's own counter (detail::context_counter) is relaxed too; its
    // consistency comes from that one counter's modification order (see the header comment).
    detail::g_com_server_state.objects.fetch_add(1, std::memory_order_relaxed);
  }
  // counted_com_object(const counted_com_object&)
  // A copy belongs to another object, which counts too.
  counted_com_object(const counted_com_object&) noexcept : counted_com_object() {}
  // counted_com_object::operator=
  // Assigning one object to another changes neither's existence: the counts stay.
  counted_com_object& operator=(const counted_com_object&) noexcept { return *this; }
  // ~counted_com_object()
  // Stops counting: the diagnostic first, then the vote (the member is destroyed last).
  ~counted_com_object() {
    detail::g_com_server_state.objects.fetch_sub(1, std::memory_order_relaxed);  // relaxed
  }

 private:
  detail::context_counter counted_;  // the vote: modref's per-module counter of live contexts
};

// modref::com_lock_server(lock)
// IClassFactory::LockServer: TRUE keeps the server loaded (dll_can_unload_now() says S_FALSE)
// until a matching FALSE. A FALSE without a TRUE to balance is a client's bug: it is refused with
// E_UNEXPECTED and changes nothing (the count cannot go below zero). Returns S_OK otherwise.
inline HRESULT com_lock_server(BOOL lock) noexcept {
  auto& state = detail::g_com_server_state;
  auto& votes = detail::g_module_state.live_contexts;
  if (lock) {
    votes.fetch_add(1, std::memory_order_relaxed);        // relaxed: see the header comment
    state.locks.fetch_add(1, std::memory_order_relaxed);  // relaxed: a diagnostic
    return S_OK;
  }
  long locks = state.locks.load(std::memory_order_relaxed);  // relaxed: the CAS decides
  do {
    if (locks <= 0) return E_UNEXPECTED;  // LockServer(FALSE) without LockServer(TRUE)
    // Relaxed on both paths: the lock count only guards against underflow; the vote is below.
  } while (!state.locks.compare_exchange_weak(locks, locks - 1, std::memory_order_relaxed,
                                              std::memory_order_relaxed));
  votes.fetch_sub(1, std::memory_order_relaxed);  // relaxed: see the header comment
  return S_OK;
}

// modref::dll_can_unload_now()
// The answer for your DllCanUnloadNow: S_OK when no counted_com_object, no server lock, and no
// modref thread, pool callback or pool object of this module is alive (can_unload_now()), S_FALSE
// otherwise. S_OK is safe for modref's work whenever it is given: what the pins protect does not
// need it. See the header comment for what it protects, and for why the work is counted too.
inline HRESULT dll_can_unload_now() noexcept { return can_unload_now() ? S_OK : S_FALSE; }

}  // namespace modref

#endif  // MODREF_COM_SERVER_H_
