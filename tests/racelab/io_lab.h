// The contract between the race-lab host (io_host.cc, part of racelab_host.exe) and the two
// overlapped-I/O scenario DLLs, racelab_io_raw.dll and racelab_io_modref.dll (one source,
// io_scenarios_dll.cc; MODREF_IO_RAW selects the raw pattern). Both export the same names.
//
// The host owns a real named pipe for each run: it creates the server end (FILE_FLAG_OVERLAPPED,
// no buffer, so a write waits for its reader), connects the client end, and hands the server end
// to the DLL, which binds it to a thread-pool I/O object and starts its operations there. The
// host keeps both handles and closes them when the run is over; the DLL never closes them. What
// the host does with the client end afterwards (write, read, close) is what completes the DLL's
// pending I/O, at the moment the scenario needs it: after FreeLibrary, after the DLL's close.
#ifndef MODREF_TESTS_RACELAB_IO_LAB_H_
#define MODREF_TESTS_RACELAB_IO_LAB_H_

#include <windows.h>

#include <cstddef>
#include <string>

struct io_lab {
  HANDLE server = nullptr;         // the pipe's server end (overlapped); the DLL's I/O runs on it
  HANDLE done = nullptr;           // manual-reset: the DLL's completion ran (or its close returned)
  HANDLE landed = nullptr;         // manual-reset: the read's memory cannot change any more
  volatile LONG result = 0;        // a lab_outcome written by DLL code (lab_io.h)
  unsigned char* arena = nullptr;  // host memory standing in for the heap block the DLL frees
  std::size_t arena_size = 0;
};

// Every I/O scenario entry point: returns 0 when the operation was started.
using io_entry = DWORD (*)(io_lab*);

// What the host writes into the pipe; the DLL's read checks it.
inline constexpr char kIoMessage[] = "late pipe data";

// The value the DLL scrubs freed memory with (as the debug CRT fills freed blocks). A byte of
// the arena that differs from it after the scrub was written by someone after the free.
inline constexpr unsigned char kFreedByte = 0xDD;

// Host side (io_host.cc), called from racelab_host.exe's wmain: whether `scenario` is one of these
// rows, and the run of one of them against the raw or the modref DLL (returns a lab_outcome).
bool is_io_scenario(const std::wstring& scenario);
int run_io_scenario(const std::wstring& scenario, const std::wstring& variant);

#endif  // MODREF_TESTS_RACELAB_IO_LAB_H_
