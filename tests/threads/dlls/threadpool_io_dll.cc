// A test DLL with an asynchronous read built on <modref/threadpool_io.h>: start_pending_read()
// binds the host's pipe handle, starts a read and returns; the host FreeLibrary's the DLL while the
// read is pending and writes into the pipe only afterwards. The completion (DLL code) runs after
// the host's FreeLibrary: it must find the DLL still mapped. It signals the host when it read
// data, and deletes its own object (on_destroy::dont_wait: the closing callback releases the pin
// once the completion has returned, and only then can the DLL unload).
#include <windows.h>

#include <cstddef>
#include <vector>

#include <modref/dll_main.h>
#include <modref/threadpool_io.h>

MODREF_DEFINE_DLLMAIN();

namespace {
using io_type = modref::threadpool_io<modref::on_destroy::dont_wait>;
constexpr size_t kReadBytes = 16;
}  // namespace

extern "C" {

// Starts a 16-byte read on `pipe` (overlapped, not owned); `completed` is set by the completion.
// Returns 0, or the Win32 error (or 0xE0000000 | status code) of create() or read().
__declspec(dllexport) DWORD start_pending_read(HANDLE pipe, HANDLE completed) {
  absl::StatusOr<io_type> io = io_type::create(pipe);
  if (!io.ok()) return modref::win32_error_code(io.status()).value_or(0xE0000000u);
  auto* self = new io_type(*std::move(io));
  absl::StatusOr<modref::io_operation> op = self->read(
      0, std::vector<std::byte>(kReadBytes), [self, completed](absl::StatusOr<size_t> got) {
        if (got.ok() && *got > 0) ::SetEvent(completed);  // only real data signals
        delete self;  // its own completion: closes as dont_wait, the closer unpins
      });
  if (!op.ok()) {
    delete self;
    return modref::win32_error_code(op.status()).value_or(0xE0000001u);
  }
  return 0;
}

}  // extern "C"
