// racelab_io_raw.dll / racelab_io_modref.dll — the overlapped-I/O rows of the race lab, one source
// built twice (MODREF_IO_RAW selects the raw pattern). The host (io_host.cc) hands each scenario
// the server end of a fresh named pipe and completes the I/O from the client end later.
//
// Raw: thread-pool I/O written the way public wrappers and samples write it: CreateThreadpoolIo
// with no callback environment, a per-reader OVERLAPPED and buffer that the reader's destructor
// frees after WaitForThreadpoolIoCallbacks(io, TRUE) (microsoft/STL#1632, microsoft/wil#326), and
// a StartThreadpoolIo that is not taken back when the read fails at once. Modref: the same reads
// with modref::threadpool_io.
#include <windows.h>

#include <cstring>
#include <new>

#include "io_lab.h"
#include "lab_io.h"

namespace {

// Checks what a completed read delivered and reports it to the host.
[[maybe_unused]] void report_read(io_lab* io, ULONG result, ULONG_PTR bytes, const char* buffer) {
  const bool ok = result == NO_ERROR && bytes == sizeof kIoMessage &&
                  std::memcmp(buffer, kIoMessage, sizeof kIoMessage) == 0;
  io->result = ok ? lab_passed : lab_corrupted;
  ::SetEvent(io->done);
}

}  // namespace

#if defined(MODREF_IO_RAW)

namespace {

// One read: the OVERLAPPED and the buffer the kernel writes into, owned by the reader.
struct raw_reader {
  OVERLAPPED overlapped{};
  char buffer[32] = {};
  io_lab* io = nullptr;
};

void CALLBACK raw_read_done(PTP_CALLBACK_INSTANCE, void* context, void*, ULONG result,
                            ULONG_PTR bytes, PTP_IO tp_io) {
  auto* reader = static_cast<raw_reader*>(context);
  report_read(reader->io, result, bytes, reader->buffer);
  delete reader;
  ::CloseThreadpoolIo(tp_io);  // from its own callback: no wait, the pool closes it afterwards
}

// Starts one read with the Start/Cancel pairing done right (the pairing is not what the first two
// scenarios get wrong).
DWORD start_read(PTP_IO tp_io, HANDLE file, raw_reader* reader) {
  ::StartThreadpoolIo(tp_io);
  if (::ReadFile(file, reader->buffer, sizeof reader->buffer, nullptr, &reader->overlapped) ||
      ::GetLastError() == ERROR_IO_PENDING) {
    return 0;
  }
  const DWORD error = ::GetLastError();
  ::CancelThreadpoolIo(tp_io);
  return error;
}

void CALLBACK ignore_completion(PTP_CALLBACK_INSTANCE, void*, void*, ULONG, ULONG_PTR, PTP_IO) {}

}  // namespace

extern "C" {

// 1. io_pending_at_unload: a read is pending and nothing keeps the DLL loaded: no callback
//    environment, so the pool does not know which module raw_read_done belongs to (WIL's
//    unique_threadpool_io and most samples create the object this way).
__declspec(dllexport) DWORD scenario_io_pending_at_unload(io_lab* io) {
  auto* reader = new raw_reader;
  reader->io = io;
  PTP_IO tp_io = ::CreateThreadpoolIo(io->server, raw_read_done, reader, nullptr);
  if (tp_io == nullptr) return ::GetLastError();
  const DWORD error = start_read(tp_io, io->server, reader);
  if (error != 0) {
    ::CloseThreadpoolIo(tp_io);
    delete reader;
  }
  return error;  // the host FreeLibrary()s now; the completion arrives after that
}

// 2. overlapped_freed_while_pending: the reader's destructor waits for the I/O object's callbacks
//    with fCancelPendingCallbacks = TRUE, closes it, and frees the reader. That cancels callbacks
//    already queued, not the read the kernel still holds: its completion later writes the data
//    and the status into the freed OVERLAPPED and buffer. The reader lives in the host's arena so
//    that "freed" can be checked: the free scrubs it with kFreedByte. Its OVERLAPPED names the
//    host's `landed` event only to tell the host when the kernel has written; the bug does not
//    depend on it.
__declspec(dllexport) DWORD scenario_overlapped_freed_while_pending(io_lab* io) {
  if (io->arena_size < sizeof(raw_reader)) return ERROR_INSUFFICIENT_BUFFER;
  auto* reader = new (io->arena) raw_reader;
  reader->io = io;
  reader->overlapped.hEvent = io->landed;
  PTP_IO tp_io = ::CreateThreadpoolIo(io->server, ignore_completion, nullptr, nullptr);
  if (tp_io == nullptr) return ::GetLastError();
  if (DWORD error = start_read(tp_io, io->server, reader)) {
    ::CloseThreadpoolIo(tp_io);
    return error;
  }
  // ~reader, as the STL and WIL readers wrote it:
  ::WaitForThreadpoolIoCallbacks(tp_io, TRUE);
  ::CloseThreadpoolIo(tp_io);
  reader->~raw_reader();
  std::memset(io->arena, kFreedByte, io->arena_size);  // operator delete
  return 0;
}

// 3. start_without_cancel: the read fails at once (the pipe is broken) and the StartThreadpoolIo
//    before it is not taken back with CancelThreadpoolIo. The pool now expects a completion that
//    will never come: the close below (WaitForThreadpoolIoCallbacks, then CloseThreadpoolIo, as
//    WIL's unique_threadpool_io closes) waits for it for ever, under Wine 8 as on Windows
//    (measured here: WaitForThreadpoolIoCallbacks(io, FALSE) never returns); Microsoft documents
//    the missing CancelThreadpoolIo as a leak.
__declspec(dllexport) DWORD scenario_start_without_cancel(io_lab* io) {
  PTP_IO tp_io = ::CreateThreadpoolIo(io->server, ignore_completion, nullptr, nullptr);
  if (tp_io == nullptr) return ::GetLastError();
  char buffer[32];
  OVERLAPPED overlapped{};
  ::StartThreadpoolIo(tp_io);
  const bool failed_at_once =
      !::ReadFile(io->server, buffer, sizeof buffer, nullptr, &overlapped) &&
      ::GetLastError() != ERROR_IO_PENDING;
  if (!failed_at_once) return ERROR_INVALID_STATE;  // the pipe should have been broken
  // (the slip: no CancelThreadpoolIo here)
  ::WaitForThreadpoolIoCallbacks(tp_io, FALSE);
  ::CloseThreadpoolIo(tp_io);
  io->result = lab_passed;
  return 0;
}

}  // extern "C"

#else  // modref

#endif
