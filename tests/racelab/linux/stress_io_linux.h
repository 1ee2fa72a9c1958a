// Shared between racelab_stress_linux and its stress .so files (stress_linux.cc built three
// times: raw, control, modref). The Linux counterpart of ../stress_io.h.
#ifndef MODREF_TESTS_RACELAB_LINUX_STRESS_IO_LINUX_H_
#define MODREF_TESTS_RACELAB_LINUX_STRESS_IO_LINUX_H_

#include <atomic>

#include "lab_io_linux.h"

constexpr int kStressOperations = 8;

struct stress_io {
  lab_event go;        // set by the host after its dlclose: the operations may finish
  lab_event all_done;  // set by the operation that completes the cycle
  // Operations finished in this cycle; acq_rel: the last one's increment orders every earlier
  // operation's work before all_done.
  std::atomic<int> completed{0};
  bool leak_fd_on_purpose = false;  // the check's own test: each cycle leaks one fd
};

// Called by each operation: the last of the cycle wakes the host.
inline void complete_one(stress_io* io) {
  if (io->completed.fetch_add(1, std::memory_order_acq_rel) + 1 == kStressOperations)
    io->all_done.set();
}

// Every stress .so exports this: starts kStressOperations operations that wait for `go`; returns
// 0, or an errno when one could not be started (then nothing is pending).
using stress_start_fn = int (*)(stress_io*);

#endif  // MODREF_TESTS_RACELAB_LINUX_STRESS_IO_LINUX_H_
