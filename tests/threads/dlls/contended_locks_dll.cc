// contended_locks_static.dll / contended_locks_shared.dll — one source, linked with the static
// and with the shared MinGW runtime. contended_locks_start() returns at once after starting a
// detached modref worker that floods a callback_group with pool callbacks; every callback, the
// callbacks they submit in turn, and the worker itself borrow from an object_pool of capacity 1,
// so nearly every borrower blocks in the pool's wait; the worker then blocks in the group's
// wait(). The host has already called FreeLibrary: the worker's exit is what unloads the DLL,
// and the pool threads that ran the callbacks outlive it.
//
// This is the situation of issue 9, item 8: when object_pool and callback_group used absl::Mutex,
// each blocked thread (pool threads and the worker) got an Abseil per-thread identity whose
// cleanup is this DLL's code; the threads called it after the unload. With modref::mutex nothing
// is left on those threads.
#include <windows.h>

#include <modref/callback_group.h>
#include <modref/object_pool.h>
#include <modref/thread.h>

#include "contended_locks_io.h"

// The control: the same cycle written by hand with raw Win32 (a pinned CreateThread worker, pinned
// pool callbacks ending with FreeLibraryWhenCallbackReturns, one "object" guarded by an SRWLOCK
// and a CONDITION_VARIABLE). The host runs it first to measure what the toolchain and the loader
// cost per cycle on their own (a static libstdc++ with <iostream> keeps a few handles per
// load/unload under Wine 8; docs/testing.md); only growth beyond it counts.
namespace control {

SRWLOCK g_lock = SRWLOCK_INIT;
CONDITION_VARIABLE g_returned = CONDITION_VARIABLE_INIT;
bool g_lent = false;            // guarded by g_lock: the one object is lent out
long g_borrows = 0;             // guarded by g_lock
long g_tasks_left = 0;          // guarded by g_lock
HANDLE g_tasks_done = nullptr;  // set by the last task
contended_locks_io* g_io = nullptr;

HMODULE self(bool add_reference) {
  HMODULE module = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS |
                           (add_reference ? 0 : GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT),
                       reinterpret_cast<LPCWSTR>(&self), &module);
  return module;
}

void borrow() {
  for (int i = 0; i < kBorrowsPerTask; ++i) {
    ::AcquireSRWLockExclusive(&g_lock);
    while (g_lent) ::SleepConditionVariableSRW(&g_returned, &g_lock, INFINITE, 0);
    g_lent = true;
    ++g_borrows;
    ::ReleaseSRWLockExclusive(&g_lock);
    ::SwitchToThread();
    ::AcquireSRWLockExclusive(&g_lock);
    g_lent = false;
    ::ReleaseSRWLockExclusive(&g_lock);
    ::WakeAllConditionVariable(&g_returned);
  }
}

void CALLBACK task(PTP_CALLBACK_INSTANCE instance, void*) {
  borrow();
  ::AcquireSRWLockExclusive(&g_lock);
  const bool last = --g_tasks_left == 0;
  ::ReleaseSRWLockExclusive(&g_lock);
  if (last) ::SetEvent(g_tasks_done);
  ::FreeLibraryWhenCallbackReturns(instance, self(false));
}

DWORD WINAPI worker(void*) {
  for (int i = 0; i < 2 * kFirstLevelTasks; ++i) {
    self(true);  // the callback's pin
    if (!::TrySubmitThreadpoolCallback(task, nullptr, nullptr)) {
      ::FreeLibrary(self(false));
      ::AcquireSRWLockExclusive(&g_lock);
      const bool last = --g_tasks_left == 0;
      ::ReleaseSRWLockExclusive(&g_lock);
      if (last) ::SetEvent(g_tasks_done);
    }
  }
  borrow();
  ::WaitForSingleObject(g_tasks_done, INFINITE);
  ::CloseHandle(g_tasks_done);
  g_io->borrows = g_borrows;
  ::SetEvent(g_io->done);
  ::FreeLibraryAndExitThread(self(false), 0);
}

}  // namespace control

extern "C" __declspec(dllexport) DWORD contended_locks_start_control(contended_locks_io* io) {
  control::g_io = io;
  control::g_tasks_left = 2 * kFirstLevelTasks;
  control::g_tasks_done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  control::self(true);  // the worker's pin
  HANDLE worker = ::CreateThread(nullptr, 0, control::worker, nullptr, 0, nullptr);
  if (worker == nullptr) return ::GetLastError();
  ::CloseHandle(worker);
  return 0;
}

namespace {

// What one cycle shares: heap-held, deleted by the worker once every callback is done.
struct cycle_state {
  explicit cycle_state(contended_locks_io* o) : io(o) {}
  contended_locks_io* io;
  modref::object_pool<long> pool{1};  // one object: every concurrent borrower but one waits
  modref::callback_group group = modref::callback_group::create().value();
};

// kBorrowsPerTask leases, each held across a yield so that other borrowers queue up behind it.
void borrow(cycle_state* cycle) {
  for (int i = 0; i < kBorrowsPerTask; ++i) {
    absl::StatusOr<modref::object_pool<long>::lease> lease = cycle->pool.acquire();
    if (!lease.ok()) continue;  // counted as missing by the host
    ++**lease;
    ::SwitchToThread();
  }
}

}  // namespace

extern "C" __declspec(dllexport) DWORD contended_locks_start(contended_locks_io* io) {
  auto* cycle = new cycle_state(io);
  const absl::Status started = modref::start_detached([cycle] {
    for (int i = 0; i < kFirstLevelTasks; ++i) {
      // Each callback borrows, then submits one more callback into the same group (the group's
      // mutex is contended by the worker's submissions, the callbacks' and wait()).
      (void)cycle->group.submit([cycle] {
        borrow(cycle);
        (void)cycle->group.submit([cycle] { borrow(cycle); });
      });
    }
    borrow(cycle);
    (void)cycle->group.wait();  // blocks while callbacks borrow: a contended wait on this worker
    long borrows = -1;
    if (absl::StatusOr<modref::object_pool<long>::lease> lease = cycle->pool.try_acquire();
        lease.ok()) {
      borrows = **lease;
    }
    contended_locks_io* out = cycle->io;
    delete cycle;  // the pool's lease above has ended: the pool may go
    out->borrows = borrows;
    ::SetEvent(out->done);
  });
  return started.ok() ? 0 : modref::win32_error_code(started).value_or(ERROR_GEN_FAILURE);
}
