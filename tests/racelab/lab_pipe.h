// A real named pipe for the race lab's overlapped-I/O rows and the stress loop (host side): the
// server end goes to the DLL under test, the client end stays with the host, which completes the
// DLL's pending reads and writes with bounded overlapped calls of its own.
#ifndef MODREF_TESTS_RACELAB_LAB_PIPE_H_
#define MODREF_TESTS_RACELAB_LAB_PIPE_H_

#include <windows.h>

#include <cstdio>

struct lab_pipe {
  HANDLE server = INVALID_HANDLE_VALUE;  // FILE_FLAG_OVERLAPPED; handed to the DLL
  HANDLE client = INVALID_HANDLE_VALUE;  // FILE_FLAG_OVERLAPPED; the host's end

  lab_pipe() = default;
  lab_pipe(const lab_pipe&) = delete;  // two handles, one owner
  lab_pipe& operator=(const lab_pipe&) = delete;
  ~lab_pipe() {
    close_client();
    if (server != INVALID_HANDLE_VALUE) ::CloseHandle(server);
  }
  void close_client() {
    if (client != INVALID_HANDLE_VALUE) ::CloseHandle(client);
    client = INVALID_HANDLE_VALUE;
  }

  // lab_pipe::open(buffer_bytes)
  // Creates a fresh pipe instance with a name unique in this process and connects its client.
  // buffer_bytes 0: a write waits until the other end reads it (Wine 8 and Windows both keep such
  // a write pending), which is how the stress loop keeps a DLL's write pending at FreeLibrary.
  bool open(DWORD buffer_bytes) {
    static LONG counter = 0;
    wchar_t name[96];
    std::swprintf(name, sizeof name / sizeof name[0], L"\\\\.\\pipe\\modref-racelab-%lu-%ld",
                  ::GetCurrentProcessId(), ::InterlockedIncrement(&counter));
    server = ::CreateNamedPipeW(
        name, PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED | FILE_FLAG_FIRST_PIPE_INSTANCE,
        PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS, 1,
        buffer_bytes, buffer_bytes, 0, nullptr);
    if (server == INVALID_HANDLE_VALUE) return false;
    client = ::CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING,
                           FILE_FLAG_OVERLAPPED, nullptr);
    return client != INVALID_HANDLE_VALUE;
  }

  // lab_pipe::client_write / client_read(data, bytes, bound_ms)
  // One overlapped call on the client end, waited for at most bound_ms. Its OVERLAPPED has its
  // own event and the client end is bound to no completion port, so nothing else sees it. On
  // timeout the call is cancelled and waited for (its OVERLAPPED lives on this stack). Returns
  // the bytes transferred, or -1.
  long client_write(const void* data, DWORD bytes, DWORD bound_ms) {
    return client_call(true, const_cast<void*>(data), bytes, bound_ms);
  }
  long client_read(void* data, DWORD bytes, DWORD bound_ms) {
    return client_call(false, data, bytes, bound_ms);
  }

 private:
  long client_call(bool write, void* data, DWORD bytes, DWORD bound_ms) {
    OVERLAPPED ov{};
    ov.hEvent = ::CreateEventW(nullptr, TRUE, FALSE, nullptr);
    if (ov.hEvent == nullptr) return -1;
    const BOOL started = write ? ::WriteFile(client, data, bytes, nullptr, &ov)
                               : ::ReadFile(client, data, bytes, nullptr, &ov);
    DWORD done = 0;
    long result = -1;
    if (started || ::GetLastError() == ERROR_IO_PENDING) {
      if (::WaitForSingleObject(ov.hEvent, bound_ms) != WAIT_OBJECT_0) ::CancelIoEx(client, &ov);
      if (::GetOverlappedResult(client, &ov, &done, TRUE)) result = static_cast<long>(done);
    }
    ::CloseHandle(ov.hEvent);
    return result;
  }
};

#endif  // MODREF_TESTS_RACELAB_LAB_PIPE_H_
