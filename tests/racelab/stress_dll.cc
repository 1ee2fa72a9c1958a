// racelab_stress_modref.dll / racelab_stress_raw.dll — one source, two builds. stress_start()
// launches kStressOperations asynchronous operations (stress_io.h: two of each stress_kind) and
// returns at once; each operation bumps a counter in host memory and the last one sets an event.
// The modref build mixes modref::thread, start_detached, submit, a one-shot pool timer and a
// fire_and_forget coroutine that is suspended in resume_background / resume_after when the host
// frees the DLL (its frame must keep the DLL loaded, and the DLL must unload after it), and every
// operation first contends for locks (issue 9, item 8): it borrows an object_pool<long> of
// capacity 1 sixteen times, then waits on a modref::mutex until all operations have arrived. So
// workers and pool threads block on modref's locks in every cycle, after the host has freed the
// DLL; with absl::Mutex under object_pool each blocked thread kept an Abseil identity whose cleanup
// is this DLL's code, and the loop failed. The raw build (MODREF_STRESS_RAW) uses plain
// CreateThread with no pin, which must crash the stress loop sooner or later.
#include <windows.h>

#include <cstddef>
#include <iterator>

#include "stress_io.h"

// The control: the same mix of operations written by hand, correctly, with raw Win32 (pin before
// returning, FreeLibraryAndExitThread, FreeLibraryWhenCallbackReturns, a callback library). The
// stress loop runs it first to measure what the toolchain and loader cost per cycle on their own:
// under Wine 8, a DLL that statically links libstdc++ and includes <iostream> keeps 4 handles per
// load/unload, and 2 more per 8 threads that end after the unload (measured by hand; see
// docs/racelab.md). Only growth beyond the control counts as a leak of modref's.
namespace control {

HMODULE pin_self() {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, reinterpret_cast<LPCWSTR>(&pin_self),
                       &self);
  return self;
}

DWORD WINAPI thread_operation(void* raw) {
  complete_one(static_cast<stress_io*>(raw));
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&thread_operation), &self);
  ::FreeLibraryAndExitThread(self, 0);
}

void CALLBACK pool_operation(PTP_CALLBACK_INSTANCE instance, void* raw) {
  complete_one(static_cast<stress_io*>(raw));
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&pool_operation), &self);
  ::FreeLibraryWhenCallbackReturns(instance, self);
}

// A self-closing one-shot timer, closed the way a careful hand-written version (and modref's
// on_destroy::dont_wait) does it: a separate callback waits for the timer's callbacks and closes
// it.
void CALLBACK close_timer(PTP_CALLBACK_INSTANCE instance, void* raw) {
  auto timer = static_cast<PTP_TIMER>(raw);
  ::WaitForThreadpoolTimerCallbacks(timer, FALSE);
  ::CloseThreadpoolTimer(timer);
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&close_timer), &self);
  ::FreeLibraryWhenCallbackReturns(instance, self);
}

void CALLBACK timer_operation(PTP_CALLBACK_INSTANCE, void* raw, PTP_TIMER timer) {
  complete_one(static_cast<stress_io*>(raw));
  ::TrySubmitThreadpoolCallback(close_timer, timer, nullptr);  // inherits this callback's pin
}

DWORD start_thread(stress_io* io) {
  pin_self();
  HANDLE h = ::CreateThread(nullptr, 0, thread_operation, io, 0, nullptr);
  if (h == nullptr) return ::GetLastError();
  ::CloseHandle(h);
  return 0;
}

DWORD start_pool(stress_io* io) {
  pin_self();
  return ::TrySubmitThreadpoolCallback(pool_operation, io, nullptr) ? 0 : ::GetLastError();
}

DWORD start_timer(stress_io* io) {
  pin_self();
  PTP_TIMER timer = ::CreateThreadpoolTimer(timer_operation, io, nullptr);
  if (timer == nullptr) return ::GetLastError();
  FILETIME due{};
  ULARGE_INTEGER one_ms;
  one_ms.QuadPart = static_cast<ULONGLONG>(-10000LL);  // relative: 1 ms
  due.dwLowDateTime = one_ms.LowPart;
  due.dwHighDateTime = one_ms.HighPart;
  ::SetThreadpoolTimer(timer, &due, 0, 0);
  return 0;
}

// One starter per stress_kind, in its order: modref::thread and start_detached as threads,
// submit as a pool callback, the coroutine (a pool hop, then a timer) as a timer.
constexpr DWORD (*kStarters[])(stress_io*) = {start_thread, start_thread, start_pool, start_timer,
                                              start_timer};
static_assert(std::size(kStarters) == static_cast<std::size_t>(stress_kind::count));

}  // namespace control

extern "C" __declspec(dllexport) DWORD stress_start_control(stress_io* io) {
  for (int round = 0; round < kStressRounds; ++round) {
    for (auto start : control::kStarters) {
      if (DWORD e = start(io)) return e;
    }
  }
  return 0;
}

#if defined(MODREF_STRESS_RAW)

namespace {
DWORD WINAPI raw_operation(void* raw) {
  complete_one(static_cast<stress_io*>(raw));
  return 0;  // returns into this DLL's code, which the host may have unmapped already
}
}  // namespace

extern "C" __declspec(dllexport) DWORD stress_start(stress_io* io) {
  for (int i = 0; i < kStressOperations; ++i) {
    HANDLE h = ::CreateThread(nullptr, 0, raw_operation, io, 0, nullptr);
    if (h == nullptr) return ::GetLastError();
    ::CloseHandle(h);
  }
  return 0;
}

#else

#include <chrono>
#include <memory>
#include <system_error>

#include <modref/coroutine.h>
#include <modref/mutex.h>
#include <modref/object_pool.h>
#include <modref/thread.h>
#include <modref/threadpool.h>

namespace {

// Lock contention inside every operation. DLL globals: the DLL is loaded afresh for each cycle.
constexpr int kContendedBorrows = 16;
modref::object_pool<long> g_pool{1};  // one object: all but one borrower wait
modref::mutex g_arrival_mutex;
int g_arrived ABSL_GUARDED_BY(g_arrival_mutex) = 0;

// Borrows the pool's one object kContendedBorrows times (holding it across a yield), then waits
// until every operation of the cycle has done the same, then completes the operation.
void contend_then_complete(stress_io* io) {
  for (int i = 0; i < kContendedBorrows; ++i) {
    absl::StatusOr<modref::object_pool<long>::lease> lease = g_pool.acquire();
    if (!lease.ok()) return;  // never completes: the loop reports the cycle as hung
    ++**lease;
    ::SwitchToThread();
  }
  {
    modref::mutex_lock lock(g_arrival_mutex);
    ++g_arrived;
    g_arrival_mutex.await([]() ABSL_NO_THREAD_SAFETY_ANALYSIS {  // called with the mutex held
      return g_arrived == kStressOperations;
    });
  }
  complete_one(io);
}

DWORD code_of(const absl::Status& status) {
  return status.ok() ? 0 : modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE);
}

// A fire-and-forget one-shot timer: the heap-held object destroys itself from its own callback,
// which on_destroy::dont_wait allows (the closing is handed to the pool; the module stays pinned).
struct one_shot_timer {
  modref::threadpool_timer<modref::on_destroy::dont_wait> timer;
};

DWORD start_timer(stress_io* io) {
  auto* holder = new one_shot_timer;
  absl::StatusOr<modref::threadpool_timer<modref::on_destroy::dont_wait> > timer =
      modref::threadpool_timer<modref::on_destroy::dont_wait>::create([io, holder] {
        contend_then_complete(io);
        delete holder;
      });
  if (!timer.ok()) {
    delete holder;
    return code_of(timer.status());
  }
  holder->timer = *std::move(timer);
  return code_of(holder->timer.set(std::chrono::milliseconds(1)));
}

// Suspended in one of the two awaits when the host frees the DLL: only the frame's pin and the
// awaitables' callback environments keep the DLL loaded until the coroutine has finished.
modref::fire_and_forget coroutine_operation(stress_io* io) {
  co_await modref::resume_background();
  (void)co_await modref::resume_after(std::chrono::milliseconds(1));
  contend_then_complete(io);
}

DWORD start_thread(stress_io* io) {
  absl::StatusOr<modref::thread> t = modref::thread::start(contend_then_complete, io);
  if (!t.ok()) return code_of(t.status());
  t->detach();
  return 0;
}
DWORD start_detached(stress_io* io) {
  return code_of(modref::start_detached(contend_then_complete, io));
}
DWORD start_submit(stress_io* io) {
  return code_of(modref::submit([io] { contend_then_complete(io); }));
}
DWORD start_coroutine(stress_io* io) {
  try {
    coroutine_operation(io);  // pins before it returns, or throws
    return 0;
  } catch (const std::system_error& e) {
    return static_cast<DWORD>(e.code().value());
  }
}

// One starter per stress_kind, in its order.
constexpr DWORD (*kStarters[])(stress_io*) = {start_thread, start_detached, start_submit,
                                              start_timer, start_coroutine};
static_assert(std::size(kStarters) == static_cast<std::size_t>(stress_kind::count));

}  // namespace

// What modref still holds in this module, for the stress loop's report when a cycle does not
// unload in time: contexts not yet destroyed and module_ref objects alive.
extern "C" __declspec(dllexport) void stress_activity(long* contexts, long* pins) {
  const modref::activity_snapshot now = modref::activity();
  *contexts = now.live_contexts;
  *pins = now.live_pins;
}

extern "C" __declspec(dllexport) DWORD stress_start(stress_io* io) {
  for (int round = 0; round < kStressRounds; ++round) {
    for (auto start : kStarters) {
      if (DWORD e = start(io)) return e;
    }
  }
  return 0;
}

#endif
