// racelab_modref.dll — the same scenarios as racelab_raw.dll, written with modref. The code is as
// plain as the raw version: the library carries the pin, the count and the exit.
#include <windows.h>

#include <atomic>
#include <cstring>
#include <string>

#include <modref/dll_main.h>
#include <modref/termination_safe.h>
#include <modref/thread.h>
#if __has_include(<modref/threadpool.h>)
#include <modref/threadpool.h>
#define MODREF_LAB_HAS_THREADPOOL 1
#endif

#include "lab_io.h"

namespace {

lab_io* g_io = nullptr;

void wait_then_signal(lab_io* io) {
  ::WaitForSingleObject(io->go, INFINITE);
  ::SetEvent(io->done);
}

DWORD code_of(const absl::Status& status) {
  return status.ok() ? 0 : modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE);
}

struct thread_params : modref::ref_counted<thread_params> {
  char message[32] = {};
  thread_params() { std::strcpy(message, kLabMessage); }
  ~thread_params() { std::memset(message, 0xDD, sizeof message); }
};

// Scenario 9: a global worker object; its destructor runs inside DllMain.
modref::jthread g_worker;

// Scenario 10: the same, at process exit: ~jthread does nothing during termination.
modref::jthread g_exit_worker;

// Scenario 11: a thread_local with a destructor, used by a modref worker.
struct tls_probe {
  bool used = false;
  ~tls_probe() {
    if (used && g_io != nullptr) g_io->result = 1;
  }
};
thread_local tls_probe t_probe;

#if defined(MODREF_LAB_HAS_THREADPOOL)
// Scenario 8: a pool user whose destructor would touch the pool, held in termination_safe; and a
// plain global whose destructor calls modref::submit at exit, which must be refused.
struct pool_user {
  ~pool_user() {
    (void)modref::submit([] {});
  }
};
modref::termination_safe<pool_user> g_pool_user;
struct late_submitter {
  bool armed = false;
  ~late_submitter() {
    if (armed && modref::submit([] {}).ok())
      ::TerminateProcess(::GetCurrentProcess(), lab_unsafe_at_exit);
  }
} g_late_submitter;
#endif

}  // namespace

extern "C" {

__declspec(dllexport) DWORD scenario_unload_while_running(lab_io* io) {
  return code_of(modref::start_detached(wait_then_signal, io));
}

__declspec(dllexport) DWORD scenario_pin_inside_worker(lab_io* io) {
  // The lab holds the new thread before its first instruction, exactly as in the raw version.
  modref::detail::g_test_seams.hold_next_thread = true;
  const DWORD started = code_of(modref::start_detached(wait_then_signal, io));
  io->held_thread = modref::detail::g_test_seams.held_thread.exchange(nullptr);
  return started;
}

__declspec(dllexport) DWORD scenario_free_then_exit_thread(lab_io* io) {
  absl::StatusOr<modref::thread> worker = modref::thread::start(wait_then_signal, io);
  if (!worker.ok()) return code_of(worker.status());
  ::DuplicateHandle(::GetCurrentProcess(), worker->native_handle(), ::GetCurrentProcess(),
                    &io->worker, 0, FALSE, DUPLICATE_SAME_ACCESS);
  worker->detach();
  return 0;
}

#if defined(MODREF_LAB_HAS_THREADPOOL)
__declspec(dllexport) DWORD scenario_pool_without_library(lab_io* io) {
  return code_of(modref::submit([io] { wait_then_signal(io); }));
}
#endif

__declspec(dllexport) DWORD scenario_freed_parameter(lab_io* io) {
  auto params = modref::make_ref<thread_params>();
  return code_of(modref::start_detached(
      [io](modref::ref_ptr<thread_params> p) {
        ::WaitForSingleObject(io->go, INFINITE);
        io->result = std::memcmp(p->message, kLabMessage, sizeof kLabMessage) == 0 ? lab_passed
                                                                                   : lab_corrupted;
        ::SetEvent(io->done);
      },
      params));  // the context holds its own reference; ours dies on return, harmlessly
}

__declspec(dllexport) DWORD scenario_creation_fails(lab_io* io) {
  modref::detail::g_test_seams.fail_next_thread_create = io->inject_error;
  auto params = modref::make_ref<thread_params>();
  return code_of(modref::start_detached([](modref::ref_ptr<thread_params>) {}, params));
}
__declspec(dllexport) LONG live_objects() {
  return modref::activity().live_contexts + modref::activity().live_pins;
}

__declspec(dllexport) DWORD scenario_exe_global_at_exit(lab_io* io) {
  // The worker's state is its own: a copy owned by the refcounted context, not the EXE's global.
  return code_of(modref::start_detached(
      [io](std::string message) {
        ::WaitForSingleObject(io->go, INFINITE);
        if (message != kLabMessage) ::TerminateProcess(::GetCurrentProcess(), lab_corrupted);
        ::SetEvent(io->done);
      },
      std::string(io->exe_message)));
}

#if defined(MODREF_LAB_HAS_THREADPOOL)
__declspec(dllexport) DWORD scenario_pool_in_global_dtor_at_exit(lab_io*) {
  g_late_submitter.armed = true;
  return 0;
}
#endif

__declspec(dllexport) DWORD scenario_join_in_dllmain(lab_io* io) {
  g_io = io;
  absl::StatusOr<modref::jthread> worker = modref::jthread::start([io](std::stop_token stop) {
    while (!stop.stop_requested() && ::WaitForSingleObject(io->go, 1) == WAIT_TIMEOUT) {
    }
  });
  if (!worker.ok()) return code_of(worker.status());
  g_worker = *std::move(worker);
  return 0;
}

__declspec(dllexport) DWORD scenario_global_thread_at_exit(lab_io*) {
  absl::StatusOr<modref::jthread> worker = modref::jthread::start([](std::stop_token stop) {
    while (!stop.stop_requested()) ::Sleep(1);
  });
  if (!worker.ok()) return code_of(worker.status());
  g_exit_worker = *std::move(worker);
  return 0;
}

__declspec(dllexport) DWORD scenario_thread_local_in_worker(lab_io* io) {
  g_io = io;
  return code_of(modref::start_detached([io] {
    t_probe.used = true;
    wait_then_signal(io);
  }));
}

BOOL WINAPI DllMain(HINSTANCE instance, DWORD reason, void* reserved) {
  if (reason == DLL_PROCESS_DETACH && reserved == nullptr && g_io != nullptr &&
      g_worker.joinable()) {
    // The last worker's FreeLibraryAndExitThread brought us here, on that worker's own thread and
    // under the loader lock: ~jthread refuses to join (it would deadlock) and detaches instead.
    g_io->result =
        g_worker.get_id().value() == ::GetCurrentThreadId() ? lab_passed : lab_setup_error;
  }
  return modref::dll_main(instance, reason, reserved);
}

}  // extern "C"
