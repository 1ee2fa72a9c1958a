// Shared between racelab_stress.exe and its two stress DLLs.
#ifndef MODREF_TESTS_RACELAB_STRESS_IO_H_
#define MODREF_TESTS_RACELAB_STRESS_IO_H_

#include <windows.h>

// The operations of one cycle: stress_dll.cc's table of operation kinds adds up to this.
inline constexpr int kStressOperations = 12;

// The bytes of each pipe read and write (the host writes what the DLL reads and reads what the
// DLL writes).
inline constexpr DWORD kStressPipeBytes = 64;

struct stress_io {
  volatile LONG completed = 0;  // operations finished in this cycle
  HANDLE all_done = nullptr;    // auto-reset: set by the operation that completes the cycle
  // The server end of this cycle's named pipe (overlapped, no buffer, owned by the host): the DLL
  // starts a read and a write on it, which stay pending until the host, after FreeLibrary, writes
  // and reads kStressPipeBytes at the client end.
  HANDLE pipe = nullptr;
  // Whether the pipe kind really does pipe I/O (the default; racelab_stress --no-pipe-io turns it
  // off, to measure what the pipe operations cost): without it, the kind's two operations are
  // ordinary ones of the same build (submit in modref's, CreateThread in the raw one, a pool
  // callback in the control) and the host does not touch the pipe.
  bool pipe_io = true;
};

// Called by each operation: the last of the cycle wakes the host.
inline void complete_one(stress_io* io) {
  if (::InterlockedIncrement(&io->completed) == kStressOperations) ::SetEvent(io->all_done);
}

#endif  // MODREF_TESTS_RACELAB_STRESS_IO_H_
