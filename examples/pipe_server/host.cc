// pipe_server.exe — connects clients to pipe_echo_server.dll's named pipe, then unloads the DLL
// while its reads are pending.
//
// Steps, each checked:
//   1. serve_pipe_async() starts two pipe instances and returns at once;
//   2. two clients connect; each sends a message and gets it back in capitals;
//   3. the host FreeLibrary()s the DLL while both instances have a read pending on their client:
//      the DLL stays loaded (each pending operation pins it), and it still answers: a message
//      sent after FreeLibrary comes back in capitals;
//   4. the first client leaves: its instance's read completes with ERROR_BROKEN_PIPE and that
//      connection ends; the DLL stays, the other read is still pending;
//   5. the second client leaves: the last connection ends and the DLL unloads (its globals are
//      destroyed in DLL_PROCESS_DETACH), with no call from the host.
// With the raw thread-pool API the same server crashes in step 3 or 4: a completion callback of
// an unmapped DLL (see tests/racelab, row io_pending_at_unload).
#include <windows.h>

#include <cstdio>
#include <optional>
#include <string>

#include "example_support.h"
#include "pipe_echo_server.h"

namespace {

constexpr const char* kName = "pipe_server";
constexpr const wchar_t* kServerName = L"pipe_echo_server.dll";

// Bound for each rendezvous with the server. Every step takes milliseconds; the bound only turns
// a broken build into a failure instead of a hang (Wine routes pipe I/O through wineserver, and CI
// machines are small and busy).
constexpr DWORD kBoundMs = 30'000;

// One client of the pipe: message mode, overlapped so that every call is bounded.
class client {
 public:
  explicit client(const std::wstring& pipe_name)
      : pipe_(::CreateFileW(pipe_name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr,
                            OPEN_EXISTING, FILE_FLAG_OVERLAPPED, nullptr)) {
    DWORD mode = PIPE_READMODE_MESSAGE;
    if (pipe_ != INVALID_HANDLE_VALUE) ::SetNamedPipeHandleState(pipe_, &mode, nullptr, nullptr);
  }
  client(const client&) = delete;  // one pipe handle, one owner
  client& operator=(const client&) = delete;
  ~client() { leave(); }

  bool connected() const { return pipe_ != INVALID_HANDLE_VALUE; }

  // Sends `message` and returns the server's answer, or nothing when a step failed or took
  // longer than the bound.
  std::optional<std::string> ask(const std::string& message) {
    if (!call(true, const_cast<char*>(message.data()), static_cast<DWORD>(message.size())))
      return std::nullopt;
    char answer[kPipeServerMessageBytes];
    const std::optional<DWORD> got = call(false, answer, sizeof answer);
    if (!got) return std::nullopt;
    return std::string(answer, *got);
  }

  // Closes the client end: the server's pending read fails with ERROR_BROKEN_PIPE.
  void leave() {
    if (pipe_ != INVALID_HANDLE_VALUE) ::CloseHandle(pipe_);
    pipe_ = INVALID_HANDLE_VALUE;
  }

 private:
  std::optional<DWORD> call(bool write, char* data, DWORD bytes) {
    example::event done;
    OVERLAPPED overlapped{};
    overlapped.hEvent = done.get();
    const BOOL ok = write ? ::WriteFile(pipe_, data, bytes, nullptr, &overlapped)
                          : ::ReadFile(pipe_, data, bytes, nullptr, &overlapped);
    if (!ok && ::GetLastError() != ERROR_IO_PENDING) return std::nullopt;
    if (!done.wait(kBoundMs)) ::CancelIoEx(pipe_, &overlapped);
    DWORD transferred = 0;  // waits for the cancellation too: `overlapped` lives on this stack
    if (!::GetOverlappedResult(pipe_, &overlapped, &transferred, TRUE)) return std::nullopt;
    return transferred;
  }

  HANDLE pipe_;
};

}  // namespace

int wmain() {
  example::unbuffered_output();
  std::printf("%s: a named-pipe server DLL on modref::threadpool_io, unloaded mid-conversation\n",
              kName);

  // The host owns the events and counters; they outlive the DLL.
  example::event connected(example::event::reset::automatic);
  example::event replied(example::event::reset::automatic);
  example::event connection_ended(example::event::reset::automatic);
  example::event unloaded;
  pipe_server_events events{connected.get(), replied.get(), connection_ended.get(), unloaded.get()};
  const std::wstring pipe_name =
      L"\\\\.\\pipe\\modref-example-pipe-server-" + std::to_wstring(::GetCurrentProcessId());

  const std::wstring path = (example::exe_dir() / kServerName).wstring();
  HMODULE dll = ::LoadLibraryExW(
      path.c_str(), nullptr, LOAD_LIBRARY_SEARCH_DLL_LOAD_DIR | LOAD_LIBRARY_SEARCH_DEFAULT_DIRS);
  if (!example::check(dll != nullptr, "LoadLibraryExW(pipe_echo_server.dll)")) {
    return example::finish(kName);
  }
  const auto serve = reinterpret_cast<serve_pipe_async_fn>(
      reinterpret_cast<void*>(::GetProcAddress(dll, "serve_pipe_async")));
  if (!example::check(serve != nullptr, "found serve_pipe_async")) return example::finish(kName);

  // 1. Start serving.
  std::printf("-- 1. serve_pipe_async(2 instances)\n");
  if (!example::check(SUCCEEDED(serve(pipe_name.c_str(), 2, &events)),
                      "serve_pipe_async returned at once with S_OK")) {
    return example::finish(kName);
  }

  // 2. Two clients, one message each.
  std::printf("-- 2. two clients connect and talk\n");
  // `connected` is auto-reset too: each client waits for its own acceptance.
  client alice(pipe_name);
  if (!example::check(alice.connected() && connected.wait(kBoundMs),
                      "alice connected; an instance accepted her (ConnectNamedPipe completed)")) {
    return example::finish(kName);
  }
  client bob(pipe_name);
  if (!example::check(bob.connected() && connected.wait(kBoundMs),
                      "bob connected; the other instance accepted him")) {
    return example::finish(kName);
  }
  // The answer can reach the client before the server's write completion has started the next
  // read; `replied` is set once it has. It is an auto-reset event, so the host waits for it after
  // each answer: two replies set before one wait would count once.
  example::check(alice.ask("hello from alice") == "HELLO FROM ALICE",
                 "alice: \"hello from alice\" -> \"HELLO FROM ALICE\"");
  example::check(replied.wait(kBoundMs), "alice's instance has its next read pending");
  example::check(bob.ask("hello from bob") == "HELLO FROM BOB",
                 "bob: \"hello from bob\" -> \"HELLO FROM BOB\"");
  example::check(replied.wait(kBoundMs), "bob's instance has its next read pending");

  // 3. Unload under the pending reads.
  std::printf("-- 3. FreeLibrary while both reads are pending\n");
  ::FreeLibrary(dll);
  dll = nullptr;
  std::printf("[host] FreeLibrary(pipe_echo_server.dll) returned; the host holds no reference\n");
  example::check(example::is_loaded(kServerName) && !unloaded.is_set(),
                 "pipe_echo_server.dll is still loaded: its pending I/O pins it");
  example::check(alice.ask("still there?") == "STILL THERE?",
                 "alice, after FreeLibrary: \"still there?\" -> \"STILL THERE?\"");
  example::check(replied.wait(kBoundMs), "alice's instance has its next read pending");

  // 4. The first client leaves.
  std::printf("-- 4. alice leaves\n");
  alice.leave();
  example::check(
      connection_ended.wait(kBoundMs) && events.last_end_error.load() == ERROR_BROKEN_PIPE,
      "alice's connection ended: its read completed with ERROR_BROKEN_PIPE");
  example::check(example::is_loaded(kServerName) && !unloaded.is_set(),
                 "pipe_echo_server.dll is still loaded: bob's read is still pending");

  // 5. The last client leaves.
  std::printf("-- 5. bob leaves\n");
  bob.leave();
  example::check(connection_ended.wait(kBoundMs), "bob's connection ended");
  example::check(unloaded.wait(kBoundMs),
                 "the DLL's globals were destroyed (DLL_PROCESS_DETACH): it unloaded after its "
                 "last connection");
  example::check(!example::is_loaded(kServerName), "pipe_echo_server.dll is no longer mapped");
  example::check(events.replies.load() == 3 && events.connections_ended.load() == 2,
                 "3 replies sent, 2 connections ended, nothing else happened");
  return example::finish(kName);
}
