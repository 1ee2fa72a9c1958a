// The contract between the race-lab host (racelab_host.exe) and its two scenario DLLs:
// racelab_raw.dll, which writes each scenario the way the seeds and real projects wrote it, and
// racelab_modref.dll, which writes the same scenario with modref. Both export the same names.
//
// The host owns a lab_io for the whole process (it lives in the executable, so it stays valid
// after the DLL is unloaded) and controls the interleaving with its events, the way seed 002
// freezes threads in a debugger: workers wait on `go`, which the host sets only once it has put
// the process in the dangerous state (the DLL freed, the globals destroyed, ...).
#ifndef MODREF_TESTS_RACELAB_LAB_IO_H_
#define MODREF_TESTS_RACELAB_LAB_IO_H_

#include <windows.h>

// Exit codes of racelab_host.exe: what happened in one run of one scenario.
enum lab_outcome : DWORD {
  lab_passed = 0,           // survived, and every check held
  lab_setup_error = 2,      // the scenario could not be set up (a bug in the lab)
  lab_corrupted = 10,       // a worker read destroyed or freed data
  lab_hang = 11,            // a wait that can never end, broken by a bounded timeout
  lab_leak = 12,            // a reference, object or pin was never given back
  lab_unsafe_at_exit = 13,  // the thread pool was used during process termination
  lab_freed_written = 14,   // memory was written after it was freed (a late I/O completion)
  lab_no_completion = 15,   // waited for a completion that never comes (bounded by the lab)
  lab_crash = 0xC0000005u,  // access violation: e.g. code executed after its module was unmapped
};

struct lab_io {
  HANDLE go = nullptr;           // manual-reset: the host lets the worker continue
  HANDLE done = nullptr;         // manual-reset: the worker finished its work
  volatile LONG result = 0;      // scenario-specific outcome written by DLL code (a lab_outcome)
  HANDLE held_thread = nullptr;  // a worker held before its first instruction; the host resumes it
  HANDLE worker = nullptr;       // optional: a worker the host waits for before it exits
  DWORD inject_error = 0;        // a thread-creation failure to inject, where the scenario uses one
  const char* exe_message = nullptr;  // scenario 7: text owned by an EXE global
};

// Every scenario entry point: returns 0 when the asynchronous operation was started.
using lab_entry = DWORD (*)(lab_io*);

// The text a correct worker reads in the freed-parameter scenarios.
inline constexpr char kLabMessage[] = "Hello World!";

#endif  // MODREF_TESTS_RACELAB_LAB_IO_H_
