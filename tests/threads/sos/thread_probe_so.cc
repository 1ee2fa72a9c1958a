// thread_probe_so: a .so that starts modref threads, for thread_linux_test. Built with
// MODREF_TEST_SEAMS. The host dlcloses it while its workers still run; every worker here touches
// the .so's code and data after that, so a missing pin is a crash, not a flake.
#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <unistd.h>

#include <cstdint>
#include <string>
#include <utility>

#include "modref/thread.h"
#include "thread_probe.h"

namespace {

void wait_on(sem_t* semaphore) {
  while (::sem_wait(semaphore) != 0 && errno == EINTR) {
  }
}

// The worker body: announce itself, wait for the host. Code and data of this .so.
int announce_and_wait(probe_gate* gate) {
  gate->tid.store(::gettid());
  ::sem_post(&gate->started);
  wait_on(&gate->release);
  return 42;
}

// An argument whose destruction the host can see (it must happen on the worker, before exit).
struct watched_argument {
  explicit watched_argument(probe_gate* g) : gate(g) {}
  watched_argument(watched_argument&& other) noexcept : gate(std::exchange(other.gate, nullptr)) {}
  watched_argument(const watched_argument&) = delete;
  watched_argument& operator=(const watched_argument&) = delete;
  ~watched_argument() {
    if (gate != nullptr) gate->argument_destroyed.store(true);
  }
  probe_gate* gate;
};

int code_of(const absl::Status& status) { return static_cast<int>(status.code()); }

// The test joins the thread by its pthread_t (detail::native_thread has no destructor: letting
// it go leaves the thread joinable).
int started_joinable(absl::StatusOr<modref::detail::native_thread> started, pthread_t* out) {
  if (!started.ok()) return code_of(started.status());
  *out = started->handle();
  return 0;
}

modref::jthread g_global_worker;  // destroyed by the .so's teardown, on whichever thread runs it

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int probe_start_detached(probe_gate* gate) {
  return code_of(modref::start_detached(&announce_and_wait, gate));
}

// Joinable: the same start path as modref::thread, but the host joins the pthread_t itself.
__attribute__((visibility("default"))) int probe_start_joinable(probe_gate* gate, pthread_t* out) {
  return started_joinable(modref::detail::start_thread({}, &announce_and_wait, gate), out);
}

// The worker leaves through pthread_exit(7) holding an argument that must still be destroyed.
__attribute__((visibility("default"))) int probe_start_pthread_exit(probe_gate* gate,
                                                                    pthread_t* out) {
  return started_joinable(modref::detail::start_thread(
                              {},
                              [](watched_argument argument) {
                                announce_and_wait(argument.gate);
                                ::pthread_exit(reinterpret_cast<void*>(std::uintptr_t{7}));
                              },
                              watched_argument(gate)),
                          out);
}

// The creator's local dies when this returns; the worker reads its copy after that.
__attribute__((visibility("default"))) int probe_start_freed_parameter(probe_gate* gate,
                                                                       pthread_t* out) {
  std::string local(200, 'x');
  local += "payload";
  return started_joinable(modref::detail::start_thread(
                              {},
                              [gate](const std::string& text) {
                                announce_and_wait(gate);
                                std::string expected(200, 'x');
                                expected += "payload";
                                gate->result.store(text == expected ? 1 : -1);
                              },
                              local),
                          out);
}

// Failure seams: the next pin or thread creation fails.
__attribute__((visibility("default"))) void probe_fail_next_create(int error) {
  modref::detail::g_test_seams.fail_next_thread_create.store(error);
}
__attribute__((visibility("default"))) void probe_fail_next_pin(int error) {
  modref::detail::g_test_seams.fail_next_pin.store(error);
}
// A start that is expected to fail: its status code, and its errno payload in gate->result.
__attribute__((visibility("default"))) int probe_start_expecting_failure(probe_gate* gate) {
  absl::Status status = modref::start_detached([] {});
  gate->result.store(modref::posix_error_code(status).value_or(-1));
  return code_of(status);
}
// The next worker is held before its first action until probe_release_held().
__attribute__((visibility("default"))) void probe_hold_next(int) {
  modref::detail::hold_next_thread();
}
__attribute__((visibility("default"))) void probe_release_held(int) {
  modref::detail::release_held_thread();
}

__attribute__((visibility("default"))) void probe_activity(long* contexts, long* pins) {
  const modref::activity_snapshot now = modref::activity();
  *contexts = now.live_contexts;
  *pins = now.live_pins;
}
__attribute__((visibility("default"))) int probe_can_unload_now() {
  return modref::can_unload_now() ? 1 : 0;
}

// A global modref::jthread. When the host has dlclosed the .so, its worker holds the last
// reference: its final dlclose runs this .so's destructors on the worker itself, and ~jthread
// must not join (it would wait for itself): it detaches.
__attribute__((visibility("default"))) int probe_start_global_jthread(probe_gate* gate) {
  absl::StatusOr<modref::jthread> started =
      modref::jthread::start([](std::stop_token, probe_gate* g) { announce_and_wait(g); }, gate);
  if (!started.ok()) return code_of(started.status());
  g_global_worker = *std::move(started);
  return 0;
}

// The teardown refusal: a join from this module's teardown (simulated: the state the ELF
// destructor sets during dlclose) while the thread still runs is refused, not a hang. Returns
// try_join's status code; the worker is then released and joined normally.
__attribute__((visibility("default"))) int probe_join_refused_in_teardown(probe_gate* gate) {
  absl::StatusOr<modref::thread> started = modref::thread::start(&announce_and_wait, gate);
  if (!started.ok()) return -1;
  wait_on(&gate->started);
  modref::detail::g_module_state.teardown_thread.store(::gettid());
  absl::StatusOr<std::uint32_t> refused = started->try_join();
  modref::detail::g_module_state.teardown_thread.store(0);
  const bool still_joinable = started->joinable();
  ::sem_post(&gate->release);
  absl::StatusOr<std::uint32_t> joined = started->try_join();
  gate->result.store(still_joinable && joined.ok() && *joined == 42 ? 1 : -1);
  return code_of(refused.status());
}

// A thread that joins itself: refused with kFailedPrecondition instead of EDEADLK's hang.
__attribute__((visibility("default"))) int probe_self_join(probe_gate* gate) {
  struct shared {
    modref::thread self;
    sem_t ready;
  } state;
  ::sem_init(&state.ready, 0, 0);
  absl::StatusOr<modref::thread> started = modref::thread::start(
      [](shared* s, probe_gate* g) {
        wait_on(&s->ready);
        g->result.store(static_cast<int>(s->self.try_join().status().code()));
      },
      &state, gate);
  if (!started.ok()) return -1;
  state.self = *std::move(started);
  ::sem_post(&state.ready);
  state.self.join();
  ::sem_destroy(&state.ready);
  return 0;
}

__attribute__((visibility("default"))) const void* probe_code_address() {
  return reinterpret_cast<const void*>(&probe_start_detached);
}

}  // extern "C"
