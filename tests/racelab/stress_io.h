// Shared between racelab_stress.exe and its two stress DLLs.
#ifndef MODREF_TESTS_RACELAB_STRESS_IO_H_
#define MODREF_TESTS_RACELAB_STRESS_IO_H_

#include <windows.h>

// The kinds of operation every cycle starts, kStressRounds of each; stress_dll.cc keeps one table
// of starters per build in this order (a new kind: one line here, one entry in each table).
enum class stress_kind { thread, detached, submit, timer, coroutine, count };
inline constexpr int kStressRounds = 2;
inline constexpr int kStressOperations = kStressRounds * static_cast<int>(stress_kind::count);

struct stress_io {
  volatile LONG completed = 0;  // operations finished in this cycle
  HANDLE all_done = nullptr;    // auto-reset: set by the operation that completes the cycle
};

// Called by each operation: the last of the cycle wakes the host.
inline void complete_one(stress_io* io) {
  if (::InterlockedIncrement(&io->completed) == kStressOperations) ::SetEvent(io->all_done);
}

#endif  // MODREF_TESTS_RACELAB_STRESS_IO_H_
