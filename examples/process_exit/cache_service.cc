// cache_service.dll — seed 000's situation: a DLL global that owns a thread-pool timer.
//
// The customer's DLL had a global cache whose destructor reset a pool timer. The destructor ran
// at process exit, inside DLL_PROCESS_DETACH, after Windows had already killed every other thread
// and "electrified" the thread pool; SetThreadpoolTimer then ended the process in
// TppRaiseInvalidParameter. Sporadically: only when the process exited while the cache still owned
// its timer (in the seed's second report, an ExitProcess from a console control handler, which
// skips the application's orderly shutdown).
//
// The right behaviour has two halves, and this DLL shows both:
//   - Orderly shutdown (the host calls cache_stop(), then FreeLibrary): stop the timer, wait for a
//     running refresh, destroy everything. The process is healthy; cleanup is right.
//   - Process exit (the host exits with the DLL loaded and the cache running): do nothing at all.
//     The process has stopped providing services; the OS reclaims memory, handles and the pool.
//
// modref provides the pieces:
//   - modref::termination_safe<refresh_cache> holds the global and skips its destructor during
//     process termination (seed 000's "neuter the globals" advice, built into a type);
//   - modref::dll_main, to which DllMain forwards, records the termination (lpReserved != NULL);
//   - the pool objects are shutdown-aware: during termination their calls are refused with
//     FAILED_PRECONDITION, and their destructors leave the pool alone, so even code that does
//     touch them by mistake (exit_witness below) cannot crash the process.
// Everything the DLL does at exit is written to a log file, which the host reads back.
#include <windows.h>

#include <atomic>
#include <chrono>
#include <string>
#include <string_view>

#include <modref/dll_main.h>
#include <modref/termination_safe.h>
#include <modref/threadpool.h>

namespace {

// ---------------------------------------------------------------------------------------------
// The log. Plain storage and plain Win32 calls: it must work during termination, when the DLL's
// globals may already be half destroyed.

wchar_t g_log_path[MAX_PATH * 2] = {};

void log_line(std::string_view text) {
  if (g_log_path[0] == L'\0') return;
  const HANDLE file =
      ::CreateFileW(g_log_path, FILE_APPEND_DATA, FILE_SHARE_READ | FILE_SHARE_WRITE, nullptr,
                    OPEN_ALWAYS, FILE_ATTRIBUTE_NORMAL, nullptr);
  if (file == INVALID_HANDLE_VALUE) return;
  const std::string line = std::string(text) + "\n";
  DWORD written = 0;
  ::WriteFile(file, line.data(), static_cast<DWORD>(line.size()), &written, nullptr);
  ::CloseHandle(file);
}

// ---------------------------------------------------------------------------------------------
// seed 000's SharedMemoryCache: refreshed every 5 ms by a pool timer it owns.

class refresh_cache {
 public:
  refresh_cache() = default;
  refresh_cache(const refresh_cache&) = delete;  // the timer's callback holds `this`
  refresh_cache& operator=(const refresh_cache&) = delete;

  // The destructor does the orderly cleanup. It runs on FreeLibrary, and never during process
  // exit: termination_safe skips it then (and if it did run, the timer's own destructor would
  // still leave the electrified pool alone).
  ~refresh_cache() {
    log_line(timer_ ? "~refresh_cache: stopping the refresh timer"
                    : "~refresh_cache: nothing left to stop (cache_stop ran)");
    stop();
  }

  // refresh_cache::start()
  // Creates and arms the timer, then waits (bounded) for the first refresh: the cache is warm
  // when start() returns.
  absl::Status start() {
    const HANDLE first_refresh = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (first_refresh == nullptr) return modref::last_win32_error_status("CreateEventW");
    first_refresh_.store(first_refresh, std::memory_order_release);  // published to the callback
    // The callable must be const-callable (ticks may overlap); it calls a const member.
    absl::StatusOr<timer_type> timer = timer_type::create([this] { refresh(); });
    absl::Status status = timer.status();
    if (status.ok()) {
      timer_ = *std::move(timer);
      status = timer_.set(std::chrono::milliseconds(0), std::chrono::milliseconds(5));
    }
    // Bounded: a refresh is due at once; 30 s only turns a broken build into a failure.
    if (status.ok() && ::WaitForSingleObject(first_refresh, 30'000) != WAIT_OBJECT_0) {
      status = absl::DeadlineExceededError("the first refresh did not run");
    }
    if (status.ok()) log_line("cache_start: refresh timer armed (every 5 ms); first refresh ran");
    return status;
  }

  // refresh_cache::stop()
  // Orderly shutdown: on_destroy::cancel stops the timer, drops a queued tick and waits for a
  // running one; the timer's pin on this DLL is released.
  void stop() {
    if (timer_) {
      timer_.reset();
      log_line("cache_stop: refresh timer cancelled (a running refresh was waited for)");
    }
    // No callback can run any more: the event can go.
    if (const HANDLE event = first_refresh_.exchange(nullptr, std::memory_order_acq_rel)) {
      ::CloseHandle(event);
    }
  }

  // refresh_cache::refresh_soon()
  // Re-arms the timer for an immediate refresh: a pool call, like WinHTTP's SetTimer in seed 000.
  absl::Status refresh_soon() {
    return timer_.set(std::chrono::milliseconds(0), std::chrono::milliseconds(5));
  }

 private:
  // cancel: at an orderly shutdown a tick that has not started is worthless.
  using timer_type = modref::threadpool_timer<modref::on_destroy::cancel>;

  void refresh() const {
    // The actual refresh would go here. The first one tells start() the cache is warm.
    if (refreshes_.fetch_add(1, std::memory_order_relaxed) == 0) {
      ::SetEvent(first_refresh_.load(std::memory_order_acquire));
    }
  }

  mutable std::atomic<long> refreshes_{0};
  std::atomic<HANDLE> first_refresh_{nullptr};
  timer_type timer_;  // last member: destroyed first, before what its callback uses
};

// The DLL's global, as in seed 000 (there: `Extension::s_extension`). termination_safe constructs
// the cache when the DLL loads and destroys it on FreeLibrary, but not during process exit.
modref::termination_safe<refresh_cache> g_cache;

// Another global, defined after g_cache and therefore destroyed before it. It plays the "other
// code" of seed 000: a destructor that, at process exit, calls into the cache and through it into
// the thread pool. On Windows that call used to be the crash; modref's timer refuses it instead.
struct exit_witness {
  exit_witness() = default;
  exit_witness(const exit_witness&) = delete;  // a global has one identity
  exit_witness& operator=(const exit_witness&) = delete;
  ~exit_witness() {
    const bool terminating = modref::process_terminating();
    log_line(terminating
                 ? "exit_witness: DLL globals are being destroyed; process_terminating() = true"
                 : "exit_witness: DLL globals are being destroyed; process_terminating() = false");
    if (terminating && g_cache.has_value()) {
      const absl::Status late = g_cache->refresh_soon();
      log_line("exit_witness: a late refresh_soon() during termination returned " +
               std::string(absl::StatusCodeToString(late.code())) +
               " (refused without touching the pool)");
    }
  }
};
exit_witness g_exit_witness;

}  // namespace

extern "C" {

// Starts the cache and logs to `log_path` from then on. Returns once the first refresh has run.
__declspec(dllexport) HRESULT cache_start(const wchar_t* log_path) {
  if (log_path == nullptr) return E_INVALIDARG;
  const std::wstring_view path(log_path);
  if (path.size() >= std::size(g_log_path)) return E_INVALIDARG;
  g_log_path[path.copy(g_log_path, path.size())] = L'\0';
  return g_cache->start().ok() ? S_OK : E_FAIL;
}

// Stops the cache: the orderly shutdown a host should do before FreeLibrary. (While the timer
// exists it pins this DLL, so FreeLibrary alone would not even unload it.)
__declspec(dllexport) void cache_stop() { g_cache->stop(); }

// Forwards to modref::dll_main first: it records that the process is terminating when
// DLL_PROCESS_DETACH comes with lpReserved != NULL, which termination_safe and the pool objects
// consult. (A DLL without a DllMain of its own writes MODREF_DEFINE_DLLMAIN(); instead.)
BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
  if (!modref::dll_main(instance, reason, reserved)) return FALSE;
  if (reason == DLL_PROCESS_DETACH) {
    log_line(reserved != nullptr
                 ? "DllMain(DLL_PROCESS_DETACH): the process is exiting (lpReserved != NULL)"
                 : "DllMain(DLL_PROCESS_DETACH): FreeLibrary (lpReserved == NULL)");
  }
  return TRUE;
}

}  // extern "C"
