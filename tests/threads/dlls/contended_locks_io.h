// Shared between contended_locks_host.exe and contended_locks_*.dll.
#ifndef MODREF_TESTS_THREADS_DLLS_CONTENDED_LOCKS_IO_H_
#define MODREF_TESTS_THREADS_DLLS_CONTENDED_LOCKS_IO_H_

#include <windows.h>

inline constexpr int kFirstLevelTasks = 16;  // callbacks the worker submits; each submits one more
inline constexpr int kBorrowsPerTask = 32;   // leases taken by each callback and by the worker
// Every borrow of a cycle: two callbacks per first-level task, plus the worker.
inline constexpr long kBorrowsPerCycle = (2L * kFirstLevelTasks + 1) * kBorrowsPerTask;

struct contended_locks_io {
  HANDLE done = nullptr;      // set by the worker once every callback of the cycle is done
  volatile long borrows = 0;  // how many leases the cycle's borrowers took in all
};

#endif  // MODREF_TESTS_THREADS_DLLS_CONTENDED_LOCKS_IO_H_
