// Shared between racelab_stress.exe and its two stress DLLs.
#ifndef MODREF_TESTS_RACELAB_STRESS_IO_H_
#define MODREF_TESTS_RACELAB_STRESS_IO_H_

#include <windows.h>

inline constexpr int kStressOperations = 8;

struct stress_io {
  volatile LONG completed = 0;  // operations finished in this cycle
  HANDLE all_done = nullptr;    // auto-reset: set by the operation that completes the cycle
};

// Called by each operation: the last of the cycle wakes the host.
inline void complete_one(stress_io* io) {
  if (::InterlockedIncrement(&io->completed) == kStressOperations) ::SetEvent(io->all_done);
}

#endif  // MODREF_TESTS_RACELAB_STRESS_IO_H_
