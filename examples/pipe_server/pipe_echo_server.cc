// pipe_echo_server.dll — a named-pipe server written with modref::threadpool_io (see
// pipe_echo_server.h).
//
// One `connection` object per pipe instance, on the heap. It owns its pipe handle through a
// threadpool_io (io_options::own_handle) and always has exactly one operation pending:
//
//   ConnectNamedPipe --> ReadFile --> WriteFile (the reply) --> ReadFile --> ...
//                           |
//                           +-- fails (the client left: ERROR_BROKEN_PIPE) --> the connection ends
//
// Each step is started from the completion of the one before. What the raw thread-pool API
// leaves to the author, modref does in every one of them:
//   - the DLL cannot be unmapped while an operation is pending: the object pins the module, and
//     its pool object names the module as its callback library;
//   - the OVERLAPPED and the buffer live in modref's per-operation context until the completion
//     has run (the buffer is moved in and handed back to the completion);
//   - StartThreadpoolIo is paired with CancelThreadpoolIo whenever a call completes without a
//     completion packet (ConnectNamedPipe's ERROR_PIPE_CONNECTED: the client was faster);
//   - the completion gets absl::StatusOr<size_t>, never an OVERLAPPED to cast.
// The connection ends by deleting itself from its last completion. on_destroy::dont_wait makes
// that legal: the object is handed to the module's closing callback, which closes the pool
// object and the pipe handle and releases the pin once the completion has returned. The last
// connection to end therefore unloads the DLL, if the host has freed it by then.
#include <windows.h>

#include <cctype>
#include <string>
#include <vector>

#include <modref/dll_main.h>
#include <modref/threadpool_io.h>

#include "pipe_echo_server.h"

namespace {

// Sets the host's "unloaded" event when the DLL's globals are destroyed: in its
// DLL_PROCESS_DETACH, which FreeLibrary runs only once the last pending operation has released
// its pin. (SetEvent is harmless at process exit too, so the destructor needs no guard.)
struct unload_signal {
  HANDLE event = nullptr;
  ~unload_signal() {
    if (event != nullptr) ::SetEvent(event);
  }
} g_unloaded;

HRESULT hresult_of(const absl::Status& status) {
  if (status.ok()) return S_OK;
  return HRESULT_FROM_WIN32(modref::win32_error_code(status).value_or(ERROR_GEN_FAILURE));
}

class connection {
 public:
  // Creates one pipe instance and starts waiting for its client.
  static HRESULT open(const wchar_t* pipe_name, unsigned instances, pipe_server_events* events) {
    HANDLE pipe = ::CreateNamedPipeW(
        pipe_name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
        PIPE_TYPE_MESSAGE | PIPE_READMODE_MESSAGE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
        instances, kPipeServerMessageBytes, kPipeServerMessageBytes, 0, nullptr);
    if (pipe == INVALID_HANDLE_VALUE) return HRESULT_FROM_WIN32(::GetLastError());
    absl::StatusOr<modref::threadpool_io<modref::on_destroy::dont_wait>> io =
        modref::threadpool_io<modref::on_destroy::dont_wait>::create(
            pipe, modref::io_options{.own_handle = true});
    if (!io.ok()) {
      ::CloseHandle(pipe);  // not taken on failure, even with own_handle
      return hresult_of(io.status());
    }
    auto* c = new connection(*std::move(io), events);
    // ConnectNamedPipe through start(): modref gives the OVERLAPPED and pairs the pool's
    // StartThreadpoolIo with CancelThreadpoolIo when the client had connected already.
    absl::StatusOr<modref::io_operation> connecting = c->io_.start(
        [](HANDLE h, OVERLAPPED* o) { return modref::io_call(::ConnectNamedPipe(h, o)); },
        [c](absl::StatusOr<size_t> result) { c->on_connected(result.status()); });
    if (!connecting.ok()) {
      delete c;  // nothing pending: closes the pool object and the pipe, unpins
      return hresult_of(connecting.status());
    }
    return S_OK;
  }

  connection(const connection&) = delete;  // the pending completions hold `this`
  connection& operator=(const connection&) = delete;

 private:
  connection(modref::threadpool_io<modref::on_destroy::dont_wait> io, pipe_server_events* events)
      : events_(events), io_(std::move(io)) {}

  void on_connected(const absl::Status& status) {
    if (!status.ok()) return end(status);
    ::SetEvent(events_->connected);
    (void)read_next(std::vector<char>(kPipeServerMessageBytes));
  }

  // Starts the one pending read; its buffer comes back to on_request and goes to the next read.
  // Returns false when the connection has ended instead. Either way `this` must not be touched
  // afterwards: once the read is pending, its completion may already be running (and end the
  // connection) on another pool thread.
  bool read_next(std::vector<char> buffer) {
    buffer.resize(kPipeServerMessageBytes);
    absl::StatusOr<modref::io_operation> read =
        io_.read(0, std::move(buffer), [this](absl::StatusOr<size_t> got, std::vector<char> bytes) {
          on_request(std::move(got), std::move(bytes));
        });
    if (read.ok()) return true;
    end(read.status());
    return false;
  }

  void on_request(absl::StatusOr<size_t> got, std::vector<char> buffer) {
    if (!got.ok()) return end(got.status());  // the client left, or the message was too long
    std::string reply(buffer.data(), *got);
    for (char& ch : reply) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    absl::StatusOr<modref::io_operation> write = io_.write(
        0, std::move(reply),
        [this, buffer = std::move(buffer)](absl::StatusOr<size_t> sent, std::string) mutable {
          if (!sent.ok()) return end(sent.status());
          pipe_server_events* events = events_;  // read_next() hands `this` to the next read
          if (!read_next(std::move(buffer))) return;
          events->replies.fetch_add(1, std::memory_order_relaxed);
          ::SetEvent(events->replied);
        });
    if (!write.ok()) end(write.status());
  }

  // Called from this connection's last completion (or where nothing is pending): reports, then
  // destroys the object. Nothing may touch `this` afterwards.
  void end(const absl::Status& why) {
    events_->last_end_error.store(modref::win32_error_code(why).value_or(ERROR_GEN_FAILURE),
                                  std::memory_order_relaxed);
    events_->connections_ended.fetch_add(1, std::memory_order_relaxed);
    HANDLE ended = events_->connection_ended;
    delete this;  // ~threadpool_io<dont_wait>: the closing callback finishes the job
    ::SetEvent(ended);
  }

  pipe_server_events* events_;
  modref::threadpool_io<modref::on_destroy::dont_wait> io_;  // last member: destroyed first
};

}  // namespace

extern "C" {

__declspec(dllexport) HRESULT
    serve_pipe_async(const wchar_t* pipe_name, unsigned instances, pipe_server_events* events) {
  if (pipe_name == nullptr || events == nullptr || instances == 0 || instances > 16) {
    return E_INVALIDARG;
  }
  g_unloaded.event = events->unloaded;
  for (unsigned i = 0; i < instances; ++i) {
    if (HRESULT hr = connection::open(pipe_name, instances, events); FAILED(hr)) return hr;
  }
  return S_OK;
}

}  // extern "C"

MODREF_DEFINE_DLLMAIN();
