// The stress loop's .so, built three times from this source (tests/racelab/linux/CMakeLists.txt):
//   racelab_stress_raw.so      (LAB_STRESS_RAW)      detached threads, nothing pinned: the bug;
//   racelab_stress_control.so  (LAB_STRESS_CONTROL)  each thread pinned by hand
//                                                     (pin_by_hand_linux.h);
//   racelab_stress_modref.so   (neither)             modref's thread, jthread and start_detached.
// stress_start() starts kStressOperations operations that each wait for the host's `go` (set
// after the host's dlclose), so every operation runs in a .so its host has already let go of.
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

#include <cerrno>

#include "stress_io_linux.h"
#if defined(LAB_STRESS_RAW)
#include <thread>
#elif defined(LAB_STRESS_CONTROL)
#include "pin_by_hand_linux.h"
#else
#include <modref/thread.h>
#endif

namespace {

// One operation's work: wait until the host has dlclose'd, then report. The first operation of
// a cycle leaks an fd when the host asks for it (the fd check's own test).
void operation(stress_io* io, int index) {
  io->go.wait();
  if (index == 0 && io->leak_fd_on_purpose) (void)::open("/dev/null", O_RDONLY | O_CLOEXEC);
  complete_one(io);
}

#if defined(LAB_STRESS_CONTROL)
struct pinned_start {
  void* pin;
  stress_io* io;
  int index;
};
void* pinned_entry(void* raw) {
  const pinned_start start = *static_cast<pinned_start*>(raw);
  delete static_cast<pinned_start*>(raw);
  if (!lab_pin::release_at_thread_exit(start.pin)) ::_exit(lab_setup_error);
  operation(start.io, start.index);
  return nullptr;
}
#endif

int start_one(stress_io* io, int index) {
#if defined(LAB_STRESS_RAW)
  std::thread(operation, io, index).detach();
  return 0;
#elif defined(LAB_STRESS_CONTROL)
  auto* start = new pinned_start{
      lab_pin::pin_this_module(reinterpret_cast<const void*>(&pinned_entry)), io, index};
  if (start->pin == nullptr) {
    delete start;
    return ENOENT;
  }
  pthread_t thread{};
  const int error = ::pthread_create(&thread, nullptr, pinned_entry, start);
  if (error != 0) {
    ::dlclose(start->pin);
    delete start;
    return error;
  }
  ::pthread_detach(thread);
  return 0;
#else
  // Three ways to start the same operation: thread (detached), jthread (detached), start_detached.
  absl::Status started;
  if (index % 3 == 0) {
    absl::StatusOr<modref::thread> t = modref::thread::start(operation, io, index);
    started = t.status();
    if (t.ok()) t->detach();
  } else if (index % 3 == 1) {
    absl::StatusOr<modref::jthread> t =
        modref::jthread::start([io, index](std::stop_token) { operation(io, index); });
    started = t.status();
    if (t.ok()) t->detach();
  } else {
    started = modref::start_detached(operation, io, index);
  }
  return started.ok() ? 0 : modref::posix_error_code(started).value_or(EINVAL);
#endif
}

}  // namespace

extern "C" __attribute__((visibility("default"))) int stress_start(stress_io* io) {
  for (int i = 0; i < kStressOperations; ++i) {
    if (const int error = start_one(io, i); error != 0) return error;
  }
  return 0;
}
