// racelab_raw.so — each Linux race-lab scenario written the way the field writes it. These are
// the bugs: every function here is wrong on purpose, and the comment on each says how.
#include <dlfcn.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <memory>
#include <thread>

#include "lab_io_linux.h"
#include "pin_by_hand_linux.h"

namespace {

lab_io* g_io = nullptr;  // host memory; valid for the host's whole life

// The worker body of the unload scenarios: wait for the host's go-ahead (given after dlclose),
// then report. Returning from lab_event::wait lands in this .so's code.
void wait_then_signal(lab_io* io) {
  io->go.wait();
  io->done.set();
}

// The freed parameter: its destructor scrubs the text, as a debug allocator fills freed memory.
struct thread_params {
  char message[32] = {};
  thread_params() { std::strcpy(message, kLabMessage); }
  ~thread_params() { std::memset(message, 0xDD, sizeof message); }
};

// A reference-counted parameter, with the classic slip of creation_fails.
std::atomic<int> g_live_params{0};
struct counted_params {
  std::atomic<int> refs{1};
  counted_params() { g_live_params.fetch_add(1, std::memory_order_relaxed); }
  ~counted_params() { g_live_params.fetch_sub(1, std::memory_order_relaxed); }
  void add_ref() { refs.fetch_add(1, std::memory_order_relaxed); }
  void release() {
    if (refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }
};

// join_in_destructor: the worker, asked to stop, flushes through a thread_local with a destructor.
// Its first use registers that destructor with __cxa_thread_atexit, which takes glibc's loader
// lock (dl_load_lock) — held by the dlclose that is running our destructor and joining us.
struct flush_buffer {
  char bytes[64] = {};
  ~flush_buffer() { bytes[0] = 0; }
};
thread_local flush_buffer t_flush;
std::atomic<bool> g_stop{false};
pthread_t g_worker{};
bool g_worker_started = false;

void* loop_until_stopped(void*) {
  g_io->go.wait();  // set by our own destructor: "stop"
  while (!g_stop.load(std::memory_order_acquire)) {
  }
  t_flush.bytes[0] = 1;  // blocks on dl_load_lock: the deadlock
  return nullptr;
}

// A global that stops its worker and joins it, destroyed by dlclose under the loader lock.
struct worker_owner {
  ~worker_owner() {
    if (!g_worker_started) return;
    g_stop.store(true, std::memory_order_release);
    g_io->go.set();
    timespec deadline{};
    ::clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += kLabDeadlockBound.count() / 1000;
    // The field's code joins without a bound; the bound lets the lab report the deadlock. On a
    // timeout the process ends here: the worker would otherwise run on into unmapped code as
    // soon as dlclose lets the lock go, and the row would show that crash instead of the hang.
    if (::pthread_timedjoin_np(g_worker, nullptr, &deadline) == ETIMEDOUT) ::_exit(lab_hang);
  }
} g_owner;

// exit_with_running_worker: plugin state that exit() destroys while the worker still reads it.
// The destructor scrubs the text, then lets the worker look (bounded).
lab_plugin_state g_state;

void* pin_then_work(void* raw);

}  // namespace

extern "C" {

// 1. Unload while running: start a thread and return; nothing keeps the .so loaded.
__attribute__((visibility("default"))) int scenario_unload_while_running(lab_io* io) {
  std::thread(wait_then_signal, io).detach();
  return 0;
}

// 2. Pin taken inside the worker: too late. The pin is the worker's first statement, but the host
//    holds the thread before it (create_held_thread: the thread exists, the scheduler has not run
//    it yet) and dlcloses meanwhile, so the first instruction is already unmapped.
__attribute__((visibility("default"))) int scenario_pin_inside_worker(lab_io* io) {
  return io->create_held_thread(pin_then_work, io);
}

// 3. Freed parameter: the creator's smart pointer frees it when the call returns.
__attribute__((visibility("default"))) int scenario_freed_parameter(lab_io* io) {
  auto params = std::make_unique<thread_params>();
  std::thread(
      [io](thread_params* p) {
        io->go.wait();
        io->result = std::memcmp(p->message, kLabMessage, sizeof kLabMessage) == 0 ? lab_passed
                                                                                   : lab_corrupted;
        io->done.set();
      },
      params.get())
      .detach();
  return 0;  // ~unique_ptr: the worker's parameter dies here
}

// 4. Thread creation fails: the pin and the reference taken for the worker are never given back.
__attribute__((visibility("default"))) int scenario_creation_fails(lab_io* io) {
  void* pin = lab_pin::pin_this_module(reinterpret_cast<const void*>(&scenario_creation_fails));
  if (pin == nullptr) return ENOENT;
  auto* params = new counted_params;
  params->add_ref();  // the worker's reference
  pthread_t thread{};
  const int error = io->inject_error != 0 ? io->inject_error
                                          : ::pthread_create(
                                                &thread, nullptr,
                                                [](void* p) -> void* {
                                                  static_cast<counted_params*>(p)->release();
                                                  return nullptr;
                                                },
                                                params);
  if (error != 0) {
    params->release();  // ours; the worker's reference and the pin leak (the slip)
    return error;
  }
  ::pthread_detach(thread);
  params->release();
  return 0;
}
__attribute__((visibility("default"))) int live_objects() { return g_live_params.load(); }

// 5. The .so's static destructor (run by dlclose, under the loader lock) stops its worker and
//    joins it; the worker needs the loader lock to finish.
__attribute__((visibility("default"))) int scenario_join_in_destructor(lab_io* io) {
  g_io = io;
  const int error = ::pthread_create(&g_worker, nullptr, loop_until_stopped, nullptr);
  g_worker_started = error == 0;
  return error;
}

// 6. exit() while the worker runs: the .so's globals are destroyed under it.
__attribute__((visibility("default"))) int scenario_exit_with_running_worker(lab_io* io) {
  g_io = io;
  g_state.arm(io);
  std::thread([io] {
    io->go.wait();  // set by ~lab_plugin_state
    if (std::memcmp(g_state.message, kLabMessage, sizeof kLabMessage) != 0) ::_exit(lab_corrupted);
    io->done.set();
  }).detach();
  return 0;
}

}  // extern "C"

namespace {

void* pin_then_work(void* raw) {
  void* pin = lab_pin::pin_this_module(reinterpret_cast<const void*>(&pin_then_work));
  if (pin != nullptr) lab_pin::release_at_thread_exit(pin);
  wait_then_signal(static_cast<lab_io*>(raw));
  return nullptr;
}

}  // namespace
