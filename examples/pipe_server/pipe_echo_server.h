// pipe_echo_server.h — the interface of pipe_echo_server.dll, shared by the DLL and its host.
//
// The DLL serves a named pipe asynchronously: serve_pipe_async() creates `instances` pipe
// instances and returns at once. Each instance waits for one client (ConnectNamedPipe), then
// answers every message it reads with the same text in capitals, until its client goes away. All
// of it is overlapped I/O on the thread pool through modref::threadpool_io: no thread of the
// DLL's waits for anything, and the host may FreeLibrary the DLL at any moment after the call.
// Each pending operation keeps the DLL loaded; it unloads after the last client has left.
//
// The events and counters belong to the host and must outlive the DLL.
#ifndef MODREF_EXAMPLES_PIPE_SERVER_PIPE_ECHO_SERVER_H_
#define MODREF_EXAMPLES_PIPE_SERVER_PIPE_ECHO_SERVER_H_

#include <windows.h>

#include <atomic>

struct pipe_server_events {
  HANDLE connected;              // auto-reset: set each time an instance has accepted a client
  HANDLE replied;                // auto-reset: set after each answer, once the next read is pending
  HANDLE connection_ended;       // auto-reset: set each time an instance's client has gone
  HANDLE unloaded;               // set when the DLL's globals are destroyed (DLL_PROCESS_DETACH)
  std::atomic<long> replies{0};  // messages answered
  std::atomic<long> connections_ended{0};
  std::atomic<unsigned long> last_end_error{0};  // the Win32 error that ended the last connection
};

extern "C" {

// Starts serving `pipe_name` with `instances` pipe instances (1 to 16) and returns at once:
// S_OK, or the failure of the first instance that could not be created (the ones created before
// it keep serving). `events` must outlive the DLL.
using serve_pipe_async_fn = HRESULT (*)(const wchar_t* pipe_name, unsigned instances,
                                        pipe_server_events* events);

}  // extern "C"

// The longest message the server reads in one piece; longer messages end the connection
// (ERROR_MORE_DATA).
inline constexpr unsigned kPipeServerMessageBytes = 256;

#endif  // MODREF_EXAMPLES_PIPE_SERVER_PIPE_ECHO_SERVER_H_
