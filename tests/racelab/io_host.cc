// The overlapped-I/O rows of the race lab, host side (linked into racelab_host.exe):
//   racelab_host.exe <io_pending_at_unload|overlapped_freed_while_pending|start_without_cancel>
//                    <raw|modref>
// Each run loads racelab_io_raw.dll or racelab_io_modref.dll, gives it the server end of a fresh
// named pipe (lab_pipe.h) and then does, with the client end, what completes the DLL's I/O at the
// moment that hurts: after FreeLibrary, after the DLL's close, or never. Exits with a lab_outcome.
#include <windows.h>

#include <cstdio>
#include <string>
#include <utility>

#include "../support/test_support.h"
#include "io_lab.h"
#include "lab_io.h"
#include "lab_pipe.h"

namespace {

// Bounds for waits that only a broken scenario reaches. Generous: Wine routes every pipe
// operation through wineserver, and CI runs the lab beside other jobs on 2 cores.
constexpr DWORD kIoBoundMs = 15000;
// How long a close may take before it counts as hung. A correct close of an object with nothing
// pending returns in microseconds; 5 s is far beyond what a loaded machine adds to that.
constexpr DWORD kCloseBoundMs = 5000;

const wchar_t* dll_name(const std::wstring& variant) {
  return variant == L"raw" ? L"racelab_io_raw.dll" : L"racelab_io_modref.dll";
}

HANDLE new_event() { return ::CreateEventW(nullptr, TRUE, FALSE, nullptr); }

// A pipe read is pending in the DLL when the host frees it; the client writes only afterwards.
DWORD pending_at_unload(HMODULE dll, io_entry entry, io_lab& io, const wchar_t* name) {
  lab_pipe pipe;
  if (!pipe.open(0)) return lab_setup_error;
  io.server = pipe.server;
  if (entry(&io) != 0) return lab_setup_error;
  ::FreeLibrary(dll);  // while the read is pending
  if (pipe.client_write(kIoMessage, sizeof kIoMessage, kIoBoundMs) != sizeof kIoMessage)
    return lab_setup_error;
  // raw: the completion callback is this DLL's code, unmapped by now: the process faults here.
  if (::WaitForSingleObject(io.done, kIoBoundMs) != WAIT_OBJECT_0) return lab_hang;
  if (!modref_test::wait_until_unloaded(name)) return lab_leak;
  return io.result;
}

// The DLL starts a read into memory it owns, closes its I/O object and frees that memory (the
// arena, scrubbed with kFreedByte) before returning; only then does the client write.
DWORD freed_while_pending(HMODULE dll, io_entry entry, io_lab& io, const wchar_t* name) {
  static unsigned char arena[512];
  io.arena = arena;
  io.arena_size = sizeof arena;
  lab_pipe pipe;
  if (!pipe.open(4096)) return lab_setup_error;  // buffered: the client's write never waits
  io.server = pipe.server;
  if (entry(&io) != 0) return lab_setup_error;
  for (unsigned char byte : arena) {
    if (byte != kFreedByte) return lab_setup_error;  // the DLL did not free (scrub) its memory
  }
  if (pipe.client_write(kIoMessage, sizeof kIoMessage, kIoBoundMs) != sizeof kIoMessage)
    return lab_setup_error;
  // raw: the read's OVERLAPPED names `landed` as its event, so the kernel sets it once it has
  // written the data and the status into the freed memory. modref: the DLL sets it itself: the
  // read was cancelled and its completion ran before the close returned, so nothing can land.
  if (::WaitForSingleObject(io.landed, kIoBoundMs) != WAIT_OBJECT_0) return lab_hang;
  int changed = 0;
  for (unsigned char byte : arena) changed += byte != kFreedByte;
  if (changed != 0) {
    std::printf("%d bytes of the freed memory were written after the free\n", changed);
    return lab_freed_written;
  }
  DWORD unread = 0;  // the late data is still in the pipe: no read of the DLL took it
  if (!::PeekNamedPipe(pipe.server, nullptr, 0, nullptr, &unread, nullptr) ||
      unread != sizeof kIoMessage) {
    std::printf("the late data was taken by a read (%lu bytes left in the pipe)\n",
                static_cast<unsigned long>(unread));
    return lab_corrupted;
  }
  ::FreeLibrary(dll);
  if (!modref_test::wait_until_unloaded(name)) return lab_leak;
  return io.result;
}

DWORD WINAPI call_entry(void* raw) {
  auto* args = static_cast<std::pair<io_entry, io_lab*>*>(raw);
  return args->first(args->second);
}

// The pipe is broken before the DLL reads from it, so ReadFile fails at once; the DLL then
// closes its I/O object. The close runs on a thread of the host's so that a hang is bounded.
DWORD start_without_cancel(HMODULE dll, io_entry entry, io_lab& io, const wchar_t* name) {
  lab_pipe pipe;
  if (!pipe.open(0)) return lab_setup_error;
  pipe.close_client();  // the server's next ReadFile fails with ERROR_BROKEN_PIPE
  io.server = pipe.server;
  std::pair<io_entry, io_lab*> args{entry, &io};
  HANDLE caller = ::CreateThread(nullptr, 0, call_entry, &args, 0, nullptr);
  if (caller == nullptr) return lab_setup_error;
  if (::WaitForSingleObject(caller, kCloseBoundMs) != WAIT_OBJECT_0) {
    std::printf("the DLL's close did not return within %lu s\n",
                static_cast<unsigned long>(kCloseBoundMs / 1000));
    return lab_no_completion;  // the process exits with the caller still blocked in it
  }
  DWORD started = lab_setup_error;
  ::GetExitCodeThread(caller, &started);
  ::CloseHandle(caller);
  if (started != 0) return lab_setup_error;
  ::FreeLibrary(dll);
  if (!modref_test::wait_until_unloaded(name)) return lab_leak;
  return io.result;
}

}  // namespace

bool is_io_scenario(const std::wstring& scenario) {
  return scenario == L"io_pending_at_unload" || scenario == L"overlapped_freed_while_pending" ||
         scenario == L"start_without_cancel";
}

int run_io_scenario(const std::wstring& scenario, const std::wstring& variant) {
  const wchar_t* name = dll_name(variant);
  static io_lab io;  // in the executable: valid after the DLL is gone
  io.done = new_event();
  io.landed = new_event();
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(name).c_str());
  if (dll == nullptr) return lab_setup_error;
  const std::string export_name = "scenario_" + std::string(scenario.begin(), scenario.end());
  auto entry = reinterpret_cast<io_entry>(
      reinterpret_cast<void*>(::GetProcAddress(dll, export_name.c_str())));
  if (entry == nullptr) return lab_setup_error;
  if (scenario == L"io_pending_at_unload") return pending_at_unload(dll, entry, io, name);
  if (scenario == L"overlapped_freed_while_pending")
    return freed_while_pending(dll, entry, io, name);
  return start_without_cancel(dll, entry, io, name);
}
