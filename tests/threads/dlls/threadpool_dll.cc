// A test DLL whose asynchronous entry points are built on <modref/threadpool.h>: modref::submit,
// a work object, a one-shot timer and a wait object. Each entry point queues a callback and
// returns; the host FreeLibrary's the DLL at once and only then opens `gate`, so a callback that
// runs after an unprotected unload would execute unmapped code. Each callback signals `done`.
//
// How the DLL owns a pool object past the entry point's return: the object lives on the heap and
// its own callback deletes it. The objects use on_destroy::dont_wait, whose destructor never waits
// (a destructor cannot wait for the callback it runs in): it hands the state to a closing callback,
// which keeps the module pinned until every callback of the object has returned.
//
// Built twice: threadpool_dll.dll and threadpool_leak_dll.dll (the closing-callback failure test
// leaves the second one loaded for ever, on purpose). Compiled with MODREF_TEST_SEAMS.
#include <windows.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include <modref/dll_main.h>
#include <modref/threadpool.h>

MODREF_DEFINE_DLLMAIN();

namespace {

// Callbacks wait for the host's gate at most this long: far beyond any scheduling delay, yet
// bounded so that a broken test ends instead of hanging.
constexpr DWORD kGateBoundMs = 30'000;

using work_type = modref::threadpool_work<modref::on_destroy::dont_wait>;
using timer_type = modref::threadpool_timer<modref::on_destroy::dont_wait>;
using wait_type = modref::threadpool_wait<modref::on_destroy::dont_wait>;

DWORD error_of(const absl::Status& status) {
  if (status.ok()) return 0;
  return modref::win32_error_code(status).value_or(static_cast<DWORD>(0xE0000000u) |
                                                   static_cast<DWORD>(status.code()));
}

// Set by a callable that should never have run (the failure tests).
std::atomic<bool> g_ran{false};

// Records its destruction; moves hand the duty to the new object.
struct probe {
  explicit probe(bool* d) : destroyed(d) {}
  probe(probe&& other) noexcept : destroyed(std::exchange(other.destroyed, nullptr)) {}
  ~probe() {
    if (destroyed != nullptr) *destroyed = true;
  }
  bool* destroyed;
};

// Creates a heap-held pool object whose callable may delete it: `make(holder)` returns the
// StatusOr of the object; the callable captures `holder`.
template <class Object, class Make>
absl::Status start_self_closing(Make make, std::optional<Object>** out) {
  auto holder = std::make_unique<std::optional<Object>>();
  absl::StatusOr<Object> object = make(holder.get());
  if (!object.ok()) return object.status();
  holder->emplace(*std::move(object));
  *out = holder.release();  // the object's own callback deletes it
  return absl::OkStatus();
}

}  // namespace

extern "C" {

// Queues a one-shot callback with modref::submit. Returns 0 or the failure's Win32 error.
__declspec(dllexport) DWORD tp_submit(HANDLE gate, HANDLE done) {
  return error_of(modref::submit([gate, done] {
    ::WaitForSingleObject(gate, kGateBoundMs);
    ::SetEvent(done);
  }));
}

// Submits a heap-held work object whose callback deletes it.
__declspec(dllexport) DWORD tp_work(HANDLE gate, HANDLE done) {
  std::optional<work_type>* holder = nullptr;
  absl::Status started = start_self_closing<work_type>(
      [gate, done](std::optional<work_type>* self) {
        return work_type::create([self, gate, done] {
          ::WaitForSingleObject(gate, kGateBoundMs);
          delete self;  // dont_wait: returns at once; the closing callback waits for us
          ::SetEvent(done);
        });
      },
      &holder);
  if (!started.ok()) return error_of(started);
  const absl::Status submitted = (*holder)->submit();
  if (!submitted.ok()) delete holder;
  return error_of(submitted);
}

// Arms a heap-held one-shot timer (due at once) whose callback deletes it.
__declspec(dllexport) DWORD tp_timer(HANDLE gate, HANDLE done) {
  std::optional<timer_type>* holder = nullptr;
  absl::Status started = start_self_closing<timer_type>(
      [gate, done](std::optional<timer_type>* self) {
        return timer_type::create([self, gate, done] {
          ::WaitForSingleObject(gate, kGateBoundMs);
          delete self;
          ::SetEvent(done);
        });
      },
      &holder);
  if (!started.ok()) return error_of(started);
  const absl::Status armed = (*holder)->set(std::chrono::milliseconds(0));
  if (!armed.ok()) delete holder;
  return error_of(armed);
}

// Starts a heap-held wait object on `gate` itself: its callback cannot even start before the host
// opens the gate, after FreeLibrary. The callback checks it was signalled, then deletes the object.
__declspec(dllexport) DWORD tp_wait(HANDLE gate, HANDLE done) {
  std::optional<wait_type>* holder = nullptr;
  absl::Status started = start_self_closing<wait_type>(
      [done](std::optional<wait_type>* self) {
        return wait_type::create([self, done](TP_WAIT_RESULT result) {
          delete self;
          if (result == WAIT_OBJECT_0) ::SetEvent(done);
        });
      },
      &holder);
  if (!started.ok()) return error_of(started);
  const absl::Status armed = (*holder)->set(gate);
  if (!armed.ok()) delete holder;
  return error_of(armed);
}

// As tp_work, but the hand-over to the closing callback fails (seam): the state and its module
// pin must then be leaked, keeping this DLL loaded for the rest of the process.
__declspec(dllexport) DWORD tp_work_closer_fails(HANDLE gate, HANDLE done) {
  std::optional<work_type>* holder = nullptr;
  absl::Status started = start_self_closing<work_type>(
      [gate, done](std::optional<work_type>* self) {
        return work_type::create([self, gate, done] {
          ::WaitForSingleObject(gate, kGateBoundMs);
          modref::detail::g_threadpool_test_seams.fail_next_closer.store(ERROR_NO_SYSTEM_RESOURCES);
          delete self;
          ::SetEvent(done);
        });
      },
      &holder);
  if (!started.ok()) return error_of(started);
  const absl::Status submitted = (*holder)->submit();
  if (!submitted.ok()) delete holder;
  return error_of(submitted);
}

__declspec(dllexport) long tp_leaked_after_closer_failure() {
  return modref::detail::g_threadpool_test_seams.leaked_after_closer_failure.load();
}

__declspec(dllexport) void tp_activity(long* live_contexts, long* live_pins) {
  const modref::activity_snapshot now = modref::activity();
  *live_contexts = now.live_contexts;
  *live_pins = now.live_pins;
}

// One injected failure inside the DLL. `which`: 0 pin failure in submit, 1 queue failure in
// submit, 2/3/4 creation failure of a work/timer/wait object. Returns the status's Win32 error,
// stores GetLastError() as seen right after the failed call, and whether the callable was
// destroyed without having run.
__declspec(dllexport) DWORD
    tp_inject_failure(int which, DWORD injected, DWORD* last_error, BOOL* destroyed_unrun) {
  bool destroyed = false;
  g_ran.store(false);
  auto& seams = modref::detail::g_threadpool_test_seams;
  absl::Status status;
  switch (which) {
    case 0:
      modref::detail::g_test_seams.fail_next_pin.store(injected);
      status = modref::submit([p = probe(&destroyed)] { g_ran.store(true); });
      break;
    case 1:
      seams.fail_next_submit.store(injected);
      status = modref::submit([p = probe(&destroyed)] { g_ran.store(true); });
      break;
    case 2:
      seams.fail_next_create.store(injected);
      status = work_type::create([p = probe(&destroyed)] { g_ran.store(true); }).status();
      break;
    case 3:
      seams.fail_next_create.store(injected);
      status = timer_type::create([p = probe(&destroyed)] { g_ran.store(true); }).status();
      break;
    case 4:
      seams.fail_next_create.store(injected);
      status = wait_type::create([p = probe(&destroyed)] { g_ran.store(true); }).status();
      break;
    default:
      return ERROR_INVALID_PARAMETER;
  }
  *last_error = ::GetLastError();
  *destroyed_unrun = destroyed && !g_ran.load();
  return error_of(status);
}

}  // extern "C"
