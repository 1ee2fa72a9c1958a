// The C interface between thread_linux_test and thread_probe_so (a .so that starts modref
// threads and that the test dlcloses under them).
#ifndef MODREF_TESTS_THREADS_SOS_THREAD_PROBE_H_
#define MODREF_TESTS_THREADS_SOS_THREAD_PROBE_H_

#include <pthread.h>
#include <semaphore.h>
#include <sys/types.h>

#include <atomic>

// Host-owned rendezvous for one worker: the worker posts `started` (with its kernel thread id in
// `tid`) and waits on `release`; results come back in the atomics.
struct probe_gate {
  sem_t started;
  sem_t release;
  std::atomic<pid_t> tid{0};
  std::atomic<int> result{0};
  std::atomic<bool> argument_destroyed{false};
};

// Every starter returns an absl::StatusCode as int (0: started) and, for joinable starts, the
// thread in *out (the host joins it with pthread_join).
extern "C" {
using probe_start_fn = int (*)(probe_gate*);
using probe_start_joinable_fn = int (*)(probe_gate*, pthread_t*);
using probe_arm_fn = void (*)(int);
using probe_activity_fn = void (*)(long*, long*);
using probe_int_fn = int (*)();
}

#endif  // MODREF_TESTS_THREADS_SOS_THREAD_PROBE_H_
