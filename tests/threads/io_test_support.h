// Helpers shared by the thread-pool I/O tests (threadpool_io_test.cc, coroutine_io_test.cc): a
// connected named pipe whose server end is overlapped, a temporary file opened for overlapped
// I/O, byte-buffer conversions, and a threadpool_io made for a test (failing the test, not
// crashing it, when the create fails).
//
// Example:
//
//   modref_io_test::pipe_pair pipe;  // server end overlapped, client end synchronous
//   auto io = modref_io_test::make_io<modref::on_destroy::wait>(pipe.server);
//   pipe.write_client("hello");       // completes a read pending on `io`
#ifndef MODREF_TESTS_THREADS_IO_TEST_SUPPORT_H_
#define MODREF_TESTS_THREADS_IO_TEST_SUPPORT_H_

#include <modref/threadpool_io.h>

#include <windows.h>

#include <atomic>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "../support/test_support.h"

namespace modref_io_test {

using bytes = std::vector<std::byte>;

inline bytes to_bytes(std::string_view text) {
  bytes out(text.size());
  std::memcpy(out.data(), text.data(), text.size());
  return out;
}
inline std::string to_string(const bytes& b, size_t n) {
  return std::string(reinterpret_cast<const char*>(b.data()), n);
}

// A connected named pipe: the server end overlapped (bound to the threadpool_io under test), the
// client end synchronous (the test writes and reads it directly).
struct pipe_pair {
  HANDLE server = INVALID_HANDLE_VALUE;
  HANDLE client = INVALID_HANDLE_VALUE;
  std::wstring name;

  // buffer: the pipe's in and out buffer sizes; 0: a write completes only when the client reads.
  explicit pipe_pair(bool connect_client = true, DWORD buffer = 65536) {
    static std::atomic<int> counter{0};
    name = L"\\\\.\\pipe\\modref_io_test_" + std::to_wstring(::GetCurrentProcessId()) + L"_" +
           std::to_wstring(counter.fetch_add(1));
    server = ::CreateNamedPipeW(name.c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, buffer, buffer,
                                0, nullptr);
    if (connect_client) open_client();
  }
  void open_client() {
    client = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0,
                           nullptr);
  }
  void close_client() {
    if (client != INVALID_HANDLE_VALUE) ::CloseHandle(client);
    client = INVALID_HANDLE_VALUE;
  }
  void close_server() {
    if (server != INVALID_HANDLE_VALUE) ::CloseHandle(server);
    server = INVALID_HANDLE_VALUE;
  }
  bool write_client(std::string_view text) const {
    DWORD written = 0;
    return ::WriteFile(client, text.data(), static_cast<DWORD>(text.size()), &written, nullptr) &&
           written == text.size();
  }
  std::string read_client(size_t n) const {
    std::string out(n, '\0');
    DWORD got = 0;
    if (!::ReadFile(client, out.data(), static_cast<DWORD>(n), &got, nullptr)) return {};
    out.resize(got);
    return out;
  }
  ~pipe_pair() {
    close_client();
    close_server();
  }
  pipe_pair(const pipe_pair&) = delete;
  pipe_pair& operator=(const pipe_pair&) = delete;
};

// A temporary file opened for overlapped I/O, deleted on close.
inline HANDLE open_temp_file(bool overlapped = true) {
  const std::filesystem::path path = modref_test::temp_file(L"modref_io");
  return ::CreateFileW(path.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, CREATE_ALWAYS,
                       FILE_FLAG_DELETE_ON_CLOSE | (overlapped ? FILE_FLAG_OVERLAPPED : 0),
                       nullptr);
}

template <modref::on_destroy P>
modref::threadpool_io<P> make_io(HANDLE h, const modref::io_options& options = {}) {
  absl::StatusOr<modref::threadpool_io<P>> io = modref::threadpool_io<P>::create(h, options);
  EXPECT_TRUE(io.ok()) << io.status();
  return io.ok() ? *std::move(io) : modref::threadpool_io<P>();
}

}  // namespace modref_io_test

#endif  // MODREF_TESTS_THREADS_IO_TEST_SUPPORT_H_
