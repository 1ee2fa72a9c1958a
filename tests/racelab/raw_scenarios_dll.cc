// racelab_raw.dll — each race-lab scenario written the way the seeds and the field wrote it.
// These are the bugs. Every function here is wrong on purpose; the comment on each says how.
#include <windows.h>

#include <cstring>
#include <memory>

#include "lab_io.h"

namespace {

lab_io* g_io = nullptr;  // host memory; valid for the host's whole life

// The worker body shared by the unload scenarios: wait for the host's go-ahead (given after
// FreeLibrary), then report completion. Returning from WaitForSingleObject lands in this DLL's
// code, which is exactly what must still be mapped.
DWORD WINAPI wait_then_signal(void* raw) {
  auto* io = static_cast<lab_io*>(raw);
  ::WaitForSingleObject(io->go, INFINITE);
  ::SetEvent(io->done);
  return 0;
}

// Seed 002's CThreadParams: the destructor scrubs its text, as the debug CRT fills freed memory.
struct thread_params {
  char message[32] = {};
  thread_params() { std::strcpy(message, kLabMessage); }
  ~thread_params() { std::memset(message, 0xDD, sizeof message); }
};

DWORD WINAPI read_params(void* raw) {
  auto* params = static_cast<thread_params*>(raw);
  ::WaitForSingleObject(g_io->go, INFINITE);
  g_io->result = std::memcmp(params->message, kLabMessage, sizeof kLabMessage) == 0 ? lab_passed
                                                                                    : lab_corrupted;
  ::SetEvent(g_io->done);
  return 0;
}

// Seed 002's reference-counted parameter, with the classic slip of scenario 6.
LONG g_live_params = 0;
struct counted_params {
  LONG refs = 1;
  counted_params() { ::InterlockedIncrement(&g_live_params); }
  ~counted_params() { ::InterlockedDecrement(&g_live_params); }
  void add_ref() { ::InterlockedIncrement(&refs); }
  void release() {
    if (::InterlockedDecrement(&refs) == 0) delete this;
  }
};

DWORD WINAPI use_counted(void* raw) {
  static_cast<counted_params*>(raw)->release();
  return 0;
}

HANDLE g_worker = nullptr;        // scenario 9
HANDLE g_owned_worker = nullptr;  // scenario 10
volatile LONG g_stop = 0;

DWORD WINAPI loop_until_stopped(void*) {
  while (g_stop == 0) ::Sleep(1);
  return 0;
}

// Scenario 10: a global that stops its worker in its destructor and waits for the worker's
// acknowledgement (google/pthreadpool#92). At ExitProcess the worker is already dead.
struct worker_owner {
  HANDLE stopped = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
  ~worker_owner() {
    if (g_owned_worker == nullptr) return;
    g_stop = 1;
    ::WaitForSingleObject(stopped, INFINITE);  // never signalled: the worker was killed
  }
} g_owner;

DWORD WINAPI loop_then_acknowledge(void*) {
  while (g_stop == 0) ::Sleep(1);
  ::SetEvent(g_owner.stopped);
  return 0;
}

void CALLBACK pool_wait_then_signal(PTP_CALLBACK_INSTANCE, void* raw) { wait_then_signal(raw); }

void CALLBACK pool_noop(PTP_CALLBACK_INSTANCE, void*) {}

// Scenario 8: a DLL global whose destructor uses the thread pool (seed 000's WinHTTP close).
struct pool_user {
  bool armed = false;
  ~pool_user() {
    if (!armed) return;
    // At process termination this crashes on Windows (TppRaiseInvalidParameter). Wine does not
    // crash, so the lab reports that the pool was used at all.
    ::TrySubmitThreadpoolCallback(pool_noop, nullptr, nullptr);
    ::TerminateProcess(::GetCurrentProcess(), lab_unsafe_at_exit);
  }
} g_pool_user;

}  // namespace

extern "C" {

// 1. Unload while running: start a thread and return; nothing keeps the DLL loaded.
__declspec(dllexport) DWORD scenario_unload_while_running(lab_io* io) {
  HANDLE h = ::CreateThread(nullptr, 0, wait_then_signal, io, 0, nullptr);
  if (h == nullptr) return ::GetLastError();
  ::CloseHandle(h);
  return 0;
}

// 2. Pin taken inside the worker: too late. The thread is created suspended only so the lab can
//    hold it before its first instruction (seed 002 does the same with a debugger's ~f).
DWORD WINAPI pin_then_work(void* raw) {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&pin_then_work), &self);
  wait_then_signal(raw);
  ::FreeLibraryAndExitThread(self, 0);
}
__declspec(dllexport) DWORD scenario_pin_inside_worker(lab_io* io) {
  HANDLE h = ::CreateThread(nullptr, 0, pin_then_work, io, CREATE_SUSPENDED, nullptr);
  if (h == nullptr) return ::GetLastError();
  io->held_thread = h;
  return 0;
}

// 3. Pinned correctly before returning, but released with FreeLibrary(self) followed by
//    ExitThread: FreeLibrary unmaps the code it must return to.
DWORD WINAPI free_then_exit(void* raw) {
  wait_then_signal(raw);
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&free_then_exit), &self);
  ::FreeLibrary(self);
  ::ExitThread(0);
}
__declspec(dllexport) DWORD scenario_free_then_exit_thread(lab_io* io) {
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&free_then_exit), &self);
  HANDLE h = ::CreateThread(nullptr, 0, free_then_exit, io, 0, nullptr);
  if (h == nullptr) return ::GetLastError();
  io->worker = h;  // the host waits for this thread's end, so a crash in it cannot be missed
  return 0;
}

// 4. Thread-pool work without a callback library: the pool does not know the callback's module.
__declspec(dllexport) DWORD scenario_pool_without_library(lab_io* io) {
  return ::TrySubmitThreadpoolCallback(pool_wait_then_signal, io, nullptr) ? 0 : ::GetLastError();
}

// 5. Freed parameter (seed 002's MainHR): the creator's smart pointer frees it on return.
__declspec(dllexport) DWORD scenario_freed_parameter(lab_io* io) {
  g_io = io;
  auto params = std::make_unique<thread_params>();
  HANDLE h = ::CreateThread(nullptr, 0, read_params, params.get(), 0, nullptr);
  if (h == nullptr) return ::GetLastError();
  ::CloseHandle(h);
  return 0;  // ~unique_ptr: the worker's parameter dies here
}

// 6. Thread creation fails: the reference added for the worker is never taken back.
__declspec(dllexport) DWORD scenario_creation_fails(lab_io* io) {
  auto* params = new counted_params;
  params->add_ref();  // the worker's reference
  HANDLE h =
      io->inject_error != 0 ? nullptr : ::CreateThread(nullptr, 0, use_counted, params, 0, nullptr);
  if (h == nullptr) {
    const DWORD error = io->inject_error != 0 ? io->inject_error : ::GetLastError();
    params->release();  // ours; the worker's reference leaks (the slip)
    return error;
  }
  ::CloseHandle(h);
  params->release();
  return 0;
}
__declspec(dllexport) LONG live_objects() { return g_live_params; }

// 7. A worker reads an EXE global that exit() destroys before worker threads are killed.
DWORD WINAPI read_exe_global(void* raw) {
  auto* io = static_cast<lab_io*>(raw);
  ::WaitForSingleObject(io->go, INFINITE);  // set by the EXE global's destructor
  if (std::memcmp(io->exe_message, kLabMessage, sizeof kLabMessage) != 0) {
    ::TerminateProcess(::GetCurrentProcess(), lab_corrupted);
  }
  ::SetEvent(io->done);
  return 0;
}
__declspec(dllexport) DWORD scenario_exe_global_at_exit(lab_io* io) {
  HANDLE h = ::CreateThread(nullptr, 0, read_exe_global, io, 0, nullptr);
  if (h == nullptr) return ::GetLastError();
  ::CloseHandle(h);
  return 0;
}

// 8. A DLL global whose destructor uses the thread pool, destroyed at process termination.
__declspec(dllexport) DWORD scenario_pool_in_global_dtor_at_exit(lab_io*) {
  g_pool_user.armed = true;
  return 0;
}

// 9. DllMain(DLL_PROCESS_DETACH) on FreeLibrary stops its worker and waits for it: the worker
//    needs the loader lock to exit, which the waiter holds (OpenBLAS #2350).
__declspec(dllexport) DWORD scenario_join_in_dllmain(lab_io* io) {
  g_io = io;
  g_worker = ::CreateThread(nullptr, 0, loop_until_stopped, nullptr, 0, nullptr);
  return g_worker != nullptr ? 0 : ::GetLastError();
}

// 10. A DLL global owns a worker and waits for it in its destructor at process exit.
__declspec(dllexport) DWORD scenario_global_thread_at_exit(lab_io*) {
  g_owned_worker = ::CreateThread(nullptr, 0, loop_then_acknowledge, nullptr, 0, nullptr);
  return g_owned_worker != nullptr ? 0 : ::GetLastError();
}

// 11. Control for modref's thread_local finding: the same thread_local used by a correctly pinned
//     raw worker that ends with FreeLibraryAndExitThread. Shows whether what modref's row shows
//     comes from modref or from the toolchain.
struct tls_probe {
  bool used = false;
  ~tls_probe() {
    if (used && g_io != nullptr) g_io->result = 1;
  }
};
thread_local tls_probe t_probe;
DWORD WINAPI use_thread_local(void* raw) {
  t_probe.used = true;
  wait_then_signal(raw);
  HMODULE self = nullptr;
  ::GetModuleHandleExW(
      GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS | GET_MODULE_HANDLE_EX_FLAG_UNCHANGED_REFCOUNT,
      reinterpret_cast<LPCWSTR>(&use_thread_local), &self);
  ::FreeLibraryAndExitThread(self, 0);
}
__declspec(dllexport) DWORD scenario_thread_local_in_worker(lab_io* io) {
  g_io = io;
  HMODULE self = nullptr;
  ::GetModuleHandleExW(GET_MODULE_HANDLE_EX_FLAG_FROM_ADDRESS,
                       reinterpret_cast<LPCWSTR>(&use_thread_local), &self);
  HANDLE h = ::CreateThread(nullptr, 0, use_thread_local, io, 0, nullptr);
  if (h == nullptr) return ::GetLastError();
  ::CloseHandle(h);
  return 0;
}

BOOL WINAPI DllMain(HINSTANCE, DWORD reason, void* reserved) {
  if (reason == DLL_PROCESS_DETACH && reserved == nullptr && g_io != nullptr &&
      g_worker != nullptr) {
    g_stop = 1;
    // 3 s bounds the deadlock so the lab can report it; the real code waited INFINITE.
    if (::WaitForSingleObject(g_worker, 3000) == WAIT_TIMEOUT) g_io->result = lab_hang;
    ::CloseHandle(g_worker);
    g_worker = nullptr;
  }
  return TRUE;
}

}  // extern "C"
