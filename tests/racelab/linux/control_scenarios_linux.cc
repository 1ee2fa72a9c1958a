// racelab_control.so — the same scenarios as racelab_raw.so with the verified fix written by hand
// (pin_by_hand_linux.h): pin before returning, give the pin back from glibc's thread-exit code,
// own what the worker reads. No modref here: the column shows that the harness tells a correct
// .so from a raw one, and what modref's column has to match.
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>

#include "lab_io_linux.h"
#include "pin_by_hand_linux.h"

namespace {

lab_io* g_io = nullptr;

// What a pinned worker gets: its pin, its own copy of what it reads, the host's events.
struct worker_start {
  void* pin = nullptr;
  lab_io* io = nullptr;
  std::string message;
  void (*body)(worker_start&) = nullptr;
};

// Every control worker's entry: hand the pin to glibc's thread-exit code first, then run.
void* pinned_entry(void* raw) {
  std::unique_ptr<worker_start> start(static_cast<worker_start*>(raw));
  if (!lab_pin::release_at_thread_exit(start->pin)) ::_exit(lab_setup_error);
  start->body(*start);
  return nullptr;
}

// Pins this .so on the calling thread, then starts `body` on a new thread (through the host's
// held creator when `held`). On failure the pin and the start block are given back at once.
int start_pinned(lab_io* io, void (*body)(worker_start&), std::string message = {},
                 bool held = false) {
  auto start = std::make_unique<worker_start>();
  start->pin = lab_pin::pin_this_module(reinterpret_cast<const void*>(&pinned_entry));
  if (start->pin == nullptr) return ENOENT;
  start->io = io;
  start->message = std::move(message);
  start->body = body;
  int error = io->inject_error;
  if (error == 0 && held) {
    error = io->create_held_thread(pinned_entry, start.get());
  } else if (error == 0) {
    pthread_t thread{};
    error = ::pthread_create(&thread, nullptr, pinned_entry, start.get());
    if (error == 0) ::pthread_detach(thread);
  }
  if (error != 0) {
    ::dlclose(start->pin);  // the thread never ran: the pin is ours to give back
    return error;
  }
  start.release();  // the worker owns it now
  return 0;
}

void wait_then_signal(worker_start& s) {
  s.io->go.wait();
  s.io->done.set();
}

void read_own_copy(worker_start& s) {
  s.io->go.wait();
  s.io->result = s.message == kLabMessage ? lab_passed : lab_corrupted;
  s.io->done.set();
}

// exit_with_running_worker: a wrong read ends the process at once (the host is already in exit()).
void read_own_copy_at_exit(worker_start& s) {
  s.io->go.wait();  // set by ~lab_plugin_state, during exit()
  if (s.message != kLabMessage) ::_exit(lab_corrupted);
  s.io->done.set();
}

// join_in_destructor: the worker is pinned, so the host's dlclose runs no destructor. The last
// reference is the worker's own, given back by its thread-exit dlclose: the destructors then run
// on the worker itself, where a join would wait for itself (EDEADLK). So they detach instead.
pthread_t g_worker{};
std::atomic<bool> g_worker_started{false};
struct worker_owner {
  ~worker_owner() {
    if (!g_worker_started.load(std::memory_order_acquire)) return;
    if (::pthread_equal(::pthread_self(), g_worker)) {
      ::pthread_detach(g_worker);
      g_io->result = lab_passed;
    } else {
      g_io->result = lab_setup_error;  // run by someone else: the pin did not hold
    }
  }
} g_owner;

// exit_with_running_worker: the same plugin state as the raw .so; the worker reads its own copy.
lab_plugin_state g_state;

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int scenario_unload_while_running(lab_io* io) {
  return start_pinned(io, wait_then_signal);
}

__attribute__((visibility("default"))) int scenario_pin_inside_worker(lab_io* io) {
  return start_pinned(io, wait_then_signal, {}, /*held=*/true);
}

__attribute__((visibility("default"))) int scenario_freed_parameter(lab_io* io) {
  return start_pinned(io, read_own_copy, kLabMessage);
}

__attribute__((visibility("default"))) int scenario_creation_fails(lab_io* io) {
  return start_pinned(io, [](worker_start&) {});
}
__attribute__((visibility("default"))) int live_objects() { return 0; }

__attribute__((visibility("default"))) int scenario_join_in_destructor(lab_io* io) {
  g_io = io;
  io->result = lab_leak;  // until the destructor reports
  auto* start = new worker_start;
  start->pin = lab_pin::pin_this_module(reinterpret_cast<const void*>(&pinned_entry));
  start->io = io;
  start->body = wait_then_signal;
  const int error = ::pthread_create(&g_worker, nullptr, pinned_entry, start);
  if (error != 0) {
    ::dlclose(start->pin);
    delete start;
    return error;
  }
  g_worker_started.store(true, std::memory_order_release);
  return 0;
}

__attribute__((visibility("default"))) int scenario_exit_with_running_worker(lab_io* io) {
  g_io = io;
  g_state.arm(io);
  return start_pinned(io, read_own_copy_at_exit, g_state.message);
}

}  // extern "C"
