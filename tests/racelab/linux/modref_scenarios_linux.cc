// racelab_modref.so — the same scenarios as racelab_raw.so, written with modref. The code is as
// plain as the raw version: the library carries the pin, the count and the release.
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include <modref/thread.h>

#include "lab_io_linux.h"

namespace {

lab_io* g_io = nullptr;

int code_of(const absl::Status& status) {
  return status.ok() ? 0 : modref::posix_error_code(status).value_or(EINVAL);
}

void wait_then_signal(lab_io* io) {
  io->go.wait();
  io->done.set();
}

struct thread_params : modref::ref_counted<thread_params> {
  char message[32] = {};
  thread_params() { std::strcpy(message, kLabMessage); }
  ~thread_params() { std::memset(message, 0xDD, sizeof message); }
};

// join_in_destructor: the destructors run by the worker's own final dlclose, on the worker.
// `reporter` is declared before `g_worker`, so it is destroyed after it: it sees that ~jthread
// came back (it refused to join itself instead of deadlocking) and on which thread it ran.
pthread_t g_worker_id{};
struct reporter {
  bool armed = false;
  ~reporter() {
    if (armed) {
      g_io->result = ::pthread_equal(::pthread_self(), g_worker_id) ? lab_passed : lab_setup_error;
    }
  }
} g_reporter;
modref::jthread g_worker;

// exit_with_running_worker: the same plugin state as the raw .so; the worker reads its own copy.
lab_plugin_state g_state;
// And a global worker owner at exit(): on Linux the threads still run while exit() destroys
// globals, so ~jthread requests stop and joins as usual (on Windows it does nothing then).
modref::jthread g_exit_worker;

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int scenario_unload_while_running(lab_io* io) {
  return code_of(modref::start_detached(wait_then_signal, io));
}

__attribute__((visibility("default"))) int scenario_pin_inside_worker(lab_io* io) {
  // modref's seam holds the new thread before its first action, as the host holds the raw one;
  // the host's hold hook (lab_io::hold) is not needed: the seam waits on its own gate, which
  // `release_held` opens once the host has set `resume`.
  modref::detail::hold_next_thread();
  const int started = code_of(modref::start_detached(wait_then_signal, io));
  if (started != 0) return started;
  // A modref thread that waits for the host's `resume`, then opens the seam's gate (it runs in
  // this .so, which its own pin keeps mapped).
  return code_of(modref::start_detached([io] {
    io->resume.wait();
    modref::detail::release_held_thread();
  }));
}

__attribute__((visibility("default"))) int scenario_freed_parameter(lab_io* io) {
  auto params = modref::make_ref<thread_params>();
  return code_of(modref::start_detached(
      [io](modref::ref_ptr<thread_params> p) {
        io->go.wait();
        io->result = std::memcmp(p->message, kLabMessage, sizeof kLabMessage) == 0 ? lab_passed
                                                                                   : lab_corrupted;
        io->done.set();
      },
      params));  // the context holds its own reference; ours dies on return, harmlessly
}

__attribute__((visibility("default"))) int scenario_creation_fails(lab_io* io) {
  modref::detail::g_test_seams.fail_next_thread_create = io->inject_error;
  auto params = modref::make_ref<thread_params>();
  return code_of(modref::start_detached([](modref::ref_ptr<thread_params>) {}, params));
}
__attribute__((visibility("default"))) int live_objects() {
  const modref::activity_snapshot now = modref::activity();
  return static_cast<int>(now.live_contexts + now.live_pins);
}

__attribute__((visibility("default"))) int scenario_join_in_destructor(lab_io* io) {
  g_io = io;
  io->result = lab_leak;  // until the reporter runs
  absl::StatusOr<modref::jthread> worker =
      modref::jthread::start([io](std::stop_token) { io->go.wait(); });
  if (!worker.ok()) return code_of(worker.status());
  g_worker_id = worker->native_handle();
  g_worker = *std::move(worker);
  g_reporter.armed = true;
  return 0;
}

__attribute__((visibility("default"))) int scenario_exit_with_running_worker(lab_io* io) {
  g_io = io;
  g_state.arm(io);
  absl::StatusOr<modref::jthread> looper = modref::jthread::start([io](std::stop_token stop) {
    while (!stop.stop_requested()) {
      if (io->go.wait_for(std::chrono::milliseconds(1))) break;
    }
  });
  if (!looper.ok()) return code_of(looper.status());
  g_exit_worker = *std::move(looper);
  return code_of(modref::start_detached(
      [io](std::string message) {
        io->go.wait();  // set by ~lab_plugin_state, during exit()
        if (message != kLabMessage) ::_exit(lab_corrupted);
        io->done.set();
      },
      std::string(g_state.message)));
}

}  // extern "C"
