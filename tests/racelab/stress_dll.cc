// racelab_stress_modref.dll / racelab_stress_raw.dll — one source, two builds. stress_start()
// launches kStressOperations (12) asynchronous operations and returns at once; each operation
// bumps a counter in host memory and the last one sets an event. The modref build's operations
// come from one table (kKinds below): modref::thread, start_detached, submit, a one-shot pool
// timer, a fire_and_forget coroutine suspended in resume_background / resume_after, and a read
// and a write on a named pipe through one modref::threadpool_io, both pending
// when the host calls FreeLibrary (the host completes them afterwards from the pipe's client
// end). Every operation first contends for locks (issue 9, item 8): it borrows an
// object_pool<long> of capacity 1 sixteen times, then waits on a modref::mutex until all the
// cycle's operations have arrived (pool callbacks say first that they may run long). So workers and
// pool threads block on modref's locks in every cycle, after the host has freed the DLL; with
// absl::Mutex under object_pool each blocked thread kept an Abseil identity whose cleanup is this
// DLL's code, and the loop failed. The raw build (MODREF_STRESS_RAW) uses plain CreateThread with
// no pin and a thread-pool I/O object with no callback environment, which must crash the stress
// loop sooner or later.
#include <windows.h>

#include "stress_io.h"

// One kind of operation of a cycle: start(io) starts `operations` of them. Each build's table of
// kinds adds up to kStressOperations (checked at compile time).
struct stress_kind {
  const char* what;
  int operations;
  DWORD (*start)(stress_io* io, int operations);
};

template <int N>
constexpr int operations_of(const stress_kind (&kinds)[N]) {
  int total = 0;
  for (const stress_kind& kind : kinds) total += kind.operations;
  return total;
}

template <int N>
DWORD start_all(const stress_kind (&kinds)[N], stress_io* io) {
  for (const stress_kind& kind : kinds) {
    if (DWORD error = kind.start(io, kind.operations)) return error;
  }
  return 0;
}

// A read and a write on the cycle's pipe through one bare thread-pool I/O object (two
// operations). `pinned`: written correctly by hand, for the control (the object's environment
// names this DLL, the DLL pins itself before returning, and the last completion closes the
// object and gives the pin back with FreeLibraryWhenCallbackReturns). Not pinned: the raw pattern
// (no environment, no pin), whose completions run after the host unloaded the DLL.
namespace win32_pipe {

struct pair {
  OVERLAPPED read_overlapped{};  // both OVERLAPPEDs and buffers live until the last completion
  OVERLAPPED write_overlapped{};
  char read_buffer[kStressPipeBytes] = {};
  char write_buffer[kStressPipeBytes] = {};
  stress_io* io = nullptr;
  bool pinned = false;
  volatile LONG left = 2;  // completions still to come
};

void CALLBACK done(PTP_CALLBACK_INSTANCE instance, void* context, void*, ULONG result,
                   ULONG_PTR bytes, PTP_IO tp_io) {
  auto* p = static_cast<pair*>(context);
  if (result == NO_ERROR && bytes == kStressPipeBytes) complete_one(p->io);  // else the cycle hangs
  if (::InterlockedDecrement(&p->left) != 0) return;
  const bool pinned = p->pinned;
  delete p;
  ::CloseThreadpoolIo(tp_io);  // from its own callback: the pool closes it once this returns
  if (!pinned) return;
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&done), &self);
  ::FreeLibraryWhenCallbackReturns(instance, self);
}

// Starts one call, with StartThreadpoolIo given back when the call completes without a packet.
bool issue(PTP_IO tp_io, BOOL call_result) {
  if (call_result || ::GetLastError() == ERROR_IO_PENDING) return true;
  ::CancelThreadpoolIo(tp_io);
  return false;
}

DWORD start(stress_io* io, bool pinned) {
  auto* p = new pair;
  p->io = io;
  p->pinned = pinned;
  TP_CALLBACK_ENVIRON environment;
  ::InitializeThreadpoolEnvironment(&environment);
  HMODULE self = nullptr;
  if (pinned) {
    ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS, reinterpret_cast<LPCWSTR>(&done),
                         &self);
    ::SetThreadpoolCallbackLibrary(&environment, self);
  }
  PTP_IO tp_io = ::CreateThreadpoolIo(io->pipe, done, p, pinned ? &environment : nullptr);
  ::DestroyThreadpoolEnvironment(&environment);
  if (tp_io == nullptr) {
    const DWORD error = ::GetLastError();
    delete p;
    if (self != nullptr) ::FreeLibrary(self);
    return error;
  }
  ::StartThreadpoolIo(tp_io);
  if (!issue(tp_io,
             ::ReadFile(io->pipe, p->read_buffer, kStressPipeBytes, nullptr, &p->read_overlapped)))
    return ::GetLastError();  // the run fails; what was started is left behind
  ::StartThreadpoolIo(tp_io);
  if (!issue(tp_io, ::WriteFile(io->pipe, p->write_buffer, kStressPipeBytes, nullptr,
                                &p->write_overlapped)))
    return ::GetLastError();
  return 0;
}

}  // namespace win32_pipe

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

}  // namespace control

namespace control {

// One pinned thread that ends with FreeLibraryAndExitThread (as modref::thread, start_detached).
DWORD start_thread(stress_io* io) {
  pin_self();
  HANDLE h = ::CreateThread(nullptr, 0, thread_operation, io, 0, nullptr);
  if (h == nullptr) return ::GetLastError();
  ::CloseHandle(h);
  return 0;
}

// One pinned pool callback that ends with FreeLibraryWhenCallbackReturns (as modref::submit).
DWORD start_pool(stress_io* io) {
  pin_self();
  return ::TrySubmitThreadpoolCallback(pool_operation, io, nullptr) ? 0 : ::GetLastError();
}

// One pinned self-closing one-shot timer, due in 1 ms (as the one-shot threadpool_timer).
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

}  // namespace control

extern "C" __declspec(dllexport) DWORD stress_start_control(stress_io* io) {
  // The modref build's kinds, in its order, each written by hand. The coroutines' counterpart (a
  // pool callback hop, then a timer) is one more timer each: the control measures loader cost,
  // not the coroutine. With --no-pipe-io the pipe kind is two pool callbacks (stress_io::pipe_io).
  using starter = DWORD (*)(stress_io*);
  const starter starters[] = {control::start_thread, control::start_thread, control::start_thread,
                              control::start_thread, control::start_pool,   control::start_pool,
                              control::start_timer,  control::start_timer,  control::start_timer,
                              control::start_timer};
  for (auto start : starters) {
    if (DWORD e = start(io)) return e;
  }
  if (!io->pipe_io) {
    for (int i = 0; i < 2; ++i) {
      if (DWORD e = control::start_pool(io)) return e;
    }
    return 0;
  }
  return win32_pipe::start(io, true);  // 2 more: the pipe's read and write
}

#if defined(MODREF_STRESS_RAW)

namespace {
DWORD WINAPI raw_operation(void* raw) {
  complete_one(static_cast<stress_io*>(raw));
  return 0;  // returns into this DLL's code, which the host may have unmapped already
}

DWORD start_threads(stress_io* io, int operations) {
  for (int i = 0; i < operations; ++i) {
    HANDLE h = ::CreateThread(nullptr, 0, raw_operation, io, 0, nullptr);
    if (h == nullptr) return ::GetLastError();
    ::CloseHandle(h);
  }
  return 0;
}

DWORD start_pipe(stress_io* io, int operations) {
  if (!io->pipe_io) return start_threads(io, operations);  // see stress_io::pipe_io
  return win32_pipe::start(io, false);
}

constexpr stress_kind kKinds[] = {
    {"CreateThread, no pin", kStressOperations - 2, start_threads},
    {"pipe read + write, thread-pool I/O with no environment", 2, start_pipe},
};
static_assert(operations_of(kKinds) == kStressOperations);

}  // namespace

extern "C" __declspec(dllexport) DWORD stress_start(stress_io* io) { return start_all(kKinds, io); }

#else

#include <atomic>
#include <cstdio>
#include <iterator>
#include <memory>
#include <system_error>
#include <vector>

#include <modref/coroutine.h>
#include <modref/mutex.h>
#include <modref/object_pool.h>
#include <modref/thread.h>
#include <modref/threadpool.h>
#include <modref/threadpool_io.h>

namespace {

// Lock contention inside every operation. DLL globals: the DLL is loaded afresh for each cycle.
constexpr int kContendedBorrows = 16;
modref::object_pool<long> g_pool{1};  // one object: all but one borrower wait
modref::mutex g_arrival_mutex;
int g_arrived ABSL_GUARDED_BY(g_arrival_mutex) = 0;

// For the loop's report of a cycle that hangs (stress_explain): arrivals at the barrier by kind
// (the index of the kind in kKinds), and what each pipe completion got (-1: none yet; else the
// byte count, or 100000 + the Win32 error). Relaxed: read only for the report, after a bound.
constexpr int kMaxKinds = 8;
std::atomic<long> g_arrivals[kMaxKinds] = {};
std::atomic<long> g_pipe_result[2] = {-1, -1};  // read, write

// Borrows the pool's one object kContendedBorrows times (holding it across a yield), then waits
// until every operation of the cycle has done the same, then completes the operation.
void contend_then_complete(stress_io* io, int kind) {
  g_arrivals[kind].fetch_add(1, std::memory_order_relaxed);
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

// The same, from a pool callback: it first tells the pool that it will block
// (callback_instance::may_run_long, CallbackMayRunLong), as a pool callback that waits for other
// callbacks must. The barrier needs all of the cycle's pool callbacks running at once; a pool may
// run queued callbacks only as its threads come free, and CallbackMayRunLong is how a callback
// asks for another thread. Wine 8 needs it here: it counts a pool object with two callbacks
// queued (the pipe's read and write completions, which the host completes back to back) as one
// busy thread, so a callback queued meanwhile (a timer, a submit) takes the thread that the second
// completion needed, and it adds threads only when work is queued or a callback calls
// CallbackMayRunLong, never because queued work waits. Without this call the loop's first modref
// cycle, which must grow the pool from the control's few threads, sometimes left the pipe read's
// completion queued for good behind callbacks blocked at the barrier (docs/racelab.md, "Pipe I/O
// in the stress loop").
void contend_then_complete_on_pool(modref::callback_instance instance, stress_io* io, int kind) {
  (void)instance.may_run_long();  // false only at the pool's thread maximum: then block anyway
  contend_then_complete(io, kind);
}

DWORD code_of(const absl::Status& status) {
  return status.ok() ? 0 : modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE);
}

// A fire-and-forget one-shot timer: the heap-held object destroys itself from its own callback,
// which on_destroy::dont_wait allows (the closing is handed to the pool; the module stays pinned).
struct one_shot_timer {
  modref::threadpool_timer<modref::on_destroy::dont_wait> timer;
};

DWORD start_timers(stress_io* io, int operations) {
  for (int i = 0; i < operations; ++i) {
    auto* holder = new one_shot_timer;
    absl::StatusOr<modref::threadpool_timer<modref::on_destroy::dont_wait> > timer =
        modref::threadpool_timer<modref::on_destroy::dont_wait>::create(
            [io, holder](modref::callback_instance instance) {
              contend_then_complete_on_pool(instance, io, 3);
              delete holder;
            });
    if (!timer.ok()) {
      delete holder;
      return code_of(timer.status());
    }
    holder->timer = *std::move(timer);
    if (DWORD e = code_of(holder->timer.set(std::chrono::milliseconds(1)))) return e;
  }
  return 0;
}

DWORD start_threads(stress_io* io, int operations) {
  for (int i = 0; i < operations; ++i) {
    absl::StatusOr<modref::thread> t = modref::thread::start(contend_then_complete, io, 0);
    if (!t.ok()) return code_of(t.status());
    t->detach();
  }
  return 0;
}

DWORD start_detached(stress_io* io, int operations) {
  for (int i = 0; i < operations; ++i) {
    if (DWORD e = code_of(modref::start_detached(contend_then_complete, io, 1))) return e;
  }
  return 0;
}

DWORD start_submits(stress_io* io, int operations) {
  for (int i = 0; i < operations; ++i) {
    if (DWORD e = code_of(modref::submit([io](modref::callback_instance instance) {
          contend_then_complete_on_pool(instance, io, 2);
        })))
      return e;
  }
  return 0;
}

// A read and a write on the cycle's pipe through one threadpool_io, both pending at FreeLibrary.
// The heap-held object ends from the second completion (on_destroy::dont_wait hands the closing
// to the pool; the module stays pinned until it is done).
struct pipe_pair {
  modref::threadpool_io<modref::on_destroy::dont_wait> io;
  std::atomic<int> left{2};  // completions still to come
};

DWORD start_pipe(stress_io* io, int operations) {
  if (!io->pipe_io) return start_submits(io, operations);  // see stress_io::pipe_io
  auto* p = new pipe_pair;
  absl::StatusOr<modref::threadpool_io<modref::on_destroy::dont_wait> > created =
      modref::threadpool_io<modref::on_destroy::dont_wait>::create(io->pipe);
  if (!created.ok()) {
    delete p;
    return code_of(created.status());
  }
  p->io = *std::move(created);
  auto done = [io, p](int which) {
    return [io, p, which](modref::callback_instance instance, absl::StatusOr<size_t> bytes,
                          std::vector<char>) {
      g_pipe_result[which].store(
          bytes.ok()
              ? static_cast<long>(*bytes)
              : 100000 + static_cast<long>(modref::win32_error_code(bytes.status()).value_or(0)),
          std::memory_order_relaxed);
      if (bytes.ok() && *bytes == kStressPipeBytes) {
        contend_then_complete_on_pool(instance, io, 4);
      }  // else: the cycle hangs
      // acq_rel: the last completion sees everything the other one did before it deletes.
      if (p->left.fetch_sub(1, std::memory_order_acq_rel) == 1) delete p;
    };
  };
  if (DWORD e = code_of(p->io.read(0, std::vector<char>(kStressPipeBytes), done(0)).status()))
    return e;  // the run fails; the object stays with its read pending
  return code_of(p->io.write(0, std::vector<char>(kStressPipeBytes, 'w'), done(1)).status());
}

// Suspended in one of the two awaits when the host frees the DLL: only the frame's pin and the
// awaitables' callback environments keep the DLL loaded until the coroutine has finished.
modref::fire_and_forget coroutine_operation(stress_io* io) {
  co_await modref::resume_background();
  (void)co_await modref::resume_after(std::chrono::milliseconds(1));
  // On a pool thread, but a coroutine has no callback instance to call may_run_long with; each
  // await is its own pool object with one callback, which Wine counts right.
  contend_then_complete(io, 5);  // kKinds[5]
}

DWORD start_coroutines(stress_io* io, int operations) {
  for (int i = 0; i < operations; ++i) {
    try {
      coroutine_operation(io);  // pins before it returns, or throws
    } catch (const std::system_error& e) {
      return static_cast<DWORD>(e.code().value());
    }
  }
  return 0;
}

constexpr stress_kind kKinds[] = {
    {"modref::thread", 2, start_threads},
    {"modref::start_detached", 2, start_detached},
    {"modref::submit", 2, start_submits},
    {"one-shot threadpool_timer", 2, start_timers},
    {"threadpool_io: pipe read + write pending at FreeLibrary", 2, start_pipe},
    {"fire_and_forget: resume_background, then resume_after(1 ms)", 2, start_coroutines},
};
static_assert(operations_of(kKinds) == kStressOperations);
static_assert(std::size(kKinds) <= kMaxKinds);

}  // namespace

// For a cycle whose operations did not all finish: which kinds reached the barrier, and what the
// pipe completions got. Called by the host while the DLL is still loaded (its operations pin it).
extern "C" __declspec(dllexport) void stress_explain(char* text, int size) {
  int used = 0;
  for (std::size_t k = 0; k < std::size(kKinds) && used < size; ++k) {
    used += std::snprintf(text + used, static_cast<std::size_t>(size - used), "%s%s %ld/%d",
                          k == 0 ? "" : ", ", kKinds[k].what,
                          g_arrivals[k].load(std::memory_order_relaxed), kKinds[k].operations);
  }
  if (used < size) {
    std::snprintf(text + used, static_cast<std::size_t>(size - used),
                  "; pipe read got %ld, write got %ld (-1: no completion; 100000+: Win32 error)",
                  g_pipe_result[0].load(std::memory_order_relaxed),
                  g_pipe_result[1].load(std::memory_order_relaxed));
  }
}

// What modref still holds in this module, for the stress loop's report when a cycle does not
// unload in time: contexts not yet destroyed and module_ref objects alive.
extern "C" __declspec(dllexport) void stress_activity(long* contexts, long* pins) {
  const modref::activity_snapshot now = modref::activity();
  *contexts = now.live_contexts;
  *pins = now.live_pins;
}

extern "C" __declspec(dllexport) DWORD stress_start(stress_io* io) { return start_all(kKinds, io); }

#endif
