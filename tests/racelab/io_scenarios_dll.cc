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
void report_read(io_lab* io, bool completed, std::size_t bytes, const char* buffer) {
  const bool ok = completed && bytes == sizeof kIoMessage &&
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
  report_read(reader->io, result == NO_ERROR, bytes, reader->buffer);
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

#include <array>
#include <memory>
#include <vector>

#include <modref/dll_main.h>
#include <modref/threadpool_io.h>

MODREF_DEFINE_DLLMAIN();

namespace {

DWORD code_of(const absl::Status& status) {
  return status.ok() ? 0 : modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE);
}

// io_pending_at_unload: the object lives on the heap and ends from its own completion, like a
// connection object of a server; until then it pins the DLL.
struct pending_reader {
  modref::threadpool_io<modref::on_destroy::dont_wait> io;
};

// overlapped_freed_while_pending: the read's buffer lives in the host's arena, owned by a
// std::unique_ptr whose deleter frees it the way the raw reader's delete does (scrubs the arena).
// modref keeps the owner in the operation until its completion has run, so the free comes after.
using arena_bytes = std::array<char, 32>;
struct arena_free {
  io_lab* io;
  void operator()(arena_bytes* bytes) const noexcept {
    bytes->~arena_bytes();
    std::memset(io->arena, kFreedByte, io->arena_size);
  }
};

}  // namespace

extern "C" {

__declspec(dllexport) DWORD scenario_io_pending_at_unload(io_lab* io) {
  auto* reader = new pending_reader;
  absl::StatusOr<modref::threadpool_io<modref::on_destroy::dont_wait> > created =
      modref::threadpool_io<modref::on_destroy::dont_wait>::create(io->server);
  if (!created.ok()) {
    delete reader;
    return code_of(created.status());
  }
  reader->io = *std::move(created);
  absl::StatusOr<modref::io_operation> read = reader->io.read(
      0, std::vector<char>(32), [io, reader](absl::StatusOr<size_t> got, std::vector<char> buffer) {
        report_read(io, got.ok(), got.value_or(0), buffer.data());
        delete reader;  // from its own completion: modref closes the object after this returns
      });
  if (!read.ok()) {
    delete reader;
    return code_of(read.status());
  }
  return 0;  // the host FreeLibrary()s now: the object's pin keeps the DLL until it is gone
}

__declspec(dllexport) DWORD scenario_overlapped_freed_while_pending(io_lab* io) {
  if (io->arena_size < sizeof(arena_bytes)) return ERROR_INSUFFICIENT_BUFFER;
  bool completed = false;
  {
    absl::StatusOr<modref::threadpool_io<modref::on_destroy::wait> > reader =
        modref::threadpool_io<modref::on_destroy::wait>::create(io->server);
    if (!reader.ok()) return code_of(reader.status());
    std::unique_ptr<arena_bytes, arena_free> buffer(new (io->arena) arena_bytes{}, arena_free{io});
    absl::StatusOr<modref::io_operation> read = reader->read(
        0, std::move(buffer),
        [io, &completed](absl::StatusOr<size_t> got, std::unique_ptr<arena_bytes, arena_free>) {
          // The destructor below cancelled the read: the completion says so.
          io->result = absl::IsCancelled(got.status()) ? lab_passed : lab_corrupted;
          completed = true;
        });  // the buffer's owner is freed when this callable's parameter goes
    if (!read.ok()) return code_of(read.status());
  }  // ~threadpool_io: CancelIoEx on the pending read, then waits for its completion
  if (!completed) io->result = lab_corrupted;  // the destructor returned before the completion
  ::SetEvent(io->landed);                      // nothing of this read can land any more
  return 0;
}

__declspec(dllexport) DWORD scenario_start_without_cancel(io_lab* io) {
  absl::StatusOr<modref::threadpool_io<modref::on_destroy::wait> > reader =
      modref::threadpool_io<modref::on_destroy::wait>::create(io->server);
  if (!reader.ok()) return code_of(reader.status());
  absl::StatusOr<modref::io_operation> read =
      reader->read(0, std::vector<char>(32), [](absl::StatusOr<size_t>, std::vector<char>) {});
  // The read fails at once; modref gave the StartThreadpoolIo back, so the same close as the raw
  // DLL's (wait for the callbacks, then close) returns at once.
  const bool broken = !read.ok() && modref::win32_error_code(read.status()) == ERROR_BROKEN_PIPE;
  if (!broken) return ERROR_INVALID_STATE;  // the pipe should have been broken
  if (!reader->wait_for_callbacks().ok()) return ERROR_INVALID_STATE;
  io->result = lab_passed;
  return 0;  // ~threadpool_io: nothing pending, closes at once
}

}  // extern "C"

#endif
