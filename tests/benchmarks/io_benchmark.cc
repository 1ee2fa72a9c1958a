// Benchmarks for <modref/threadpool_io.h> against the raw thread-pool I/O pattern (run under Wine
// here: compare the printed ratios, not absolute times; see docs/benchmarks.md).
//
//   - 4 KiB pipe read round trip: the server end of a named pipe (overlapped) has a read pending,
//     the benchmark thread writes 4 KiB into the client end and waits for the completion's event.
//     Raw: StartThreadpoolIo + ReadFile on a static OVERLAPPED and buffer, a completion callback
//     that sets the event (no pin, no context, no pairing). modref: threadpool_io::read with a
//     std::vector buffer moved in and handed back to the completion (one context allocation,
//     the arm lock and the pending list).
//   - 10,000 reads in flight on one object: 10,000 16-byte reads are started, then the client
//     writes 160,000 bytes and the benchmark waits until every completion has run. Raw: one
//     heap context per read (OVERLAPPED + 16-byte buffer), freed by its completion, as raw code
//     that keeps several reads in flight must. modref: threadpool_io::read with a
//     std::array<std::byte, 16> buffer (stored in the operation's context). Reported: time per
//     read, and the heap bytes per pending read (operator new is replaced in this executable to
//     count live bytes; measured between starting the 10,000 reads and writing the data; Wine
//     reports no PrivateUsage, so the process counters cannot be used).
#include <windows.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include <modref/threadpool_io.h>

#include "ratio_report.h"

namespace {

constexpr size_t kRoundTripBytes = 4096;
constexpr int kInFlight = 10'000;
constexpr size_t kSmallRead = 16;

struct bench_pipe {
  HANDLE server = INVALID_HANDLE_VALUE;
  HANDLE client = INVALID_HANDLE_VALUE;
  explicit bench_pipe(const wchar_t* tag) {
    const std::wstring name = std::wstring(L"\\\\.\\pipe\\modref_io_bench_") + tag + L"_" +
                              std::to_wstring(::GetCurrentProcessId());
    server = ::CreateNamedPipeW(name.c_str(), PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED,
                                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT, 1, 1 << 20,
                                1 << 20, 0, nullptr);
    client = ::CreateFileW(name.c_str(), GENERIC_READ | GENERIC_WRITE, 0, nullptr, OPEN_EXISTING, 0,
                           nullptr);
  }
  ~bench_pipe() {
    ::CloseHandle(client);
    ::CloseHandle(server);
  }
  bench_pipe(const bench_pipe&) = delete;
  bench_pipe& operator=(const bench_pipe&) = delete;
  bool ok() const { return server != INVALID_HANDLE_VALUE && client != INVALID_HANDLE_VALUE; }
  bool write(const void* data, size_t n) const {
    DWORD written = 0;
    return ::WriteFile(client, data, static_cast<DWORD>(n), &written, nullptr) && written == n;
  }
};

// Live bytes allocated through operator new in this executable (see the replacements below).
std::atomic<long long> g_live_heap_bytes{0};

long long heap_bytes() { return g_live_heap_bytes.load(std::memory_order_relaxed); }

// ---------------------------------------------------------------------------------------------
// Round trip

struct raw_round_trip {
  OVERLAPPED overlapped{};
  std::array<std::byte, kRoundTripBytes> buffer{};
  HANDLE done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  std::atomic<ULONG_PTR> bytes{0};
  ~raw_round_trip() { ::CloseHandle(done); }
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE, void* context, void*, ULONG,
                             ULONG_PTR transferred, PTP_IO) noexcept {
    auto* self = static_cast<raw_round_trip*>(context);
    self->bytes.store(transferred, std::memory_order_relaxed);
    ::SetEvent(self->done);
  }
};

void raw_pipe_read_round_trip(benchmark::State& state) {
  bench_pipe pipe(L"raw_rt");
  raw_round_trip rt;
  PTP_IO io = ::CreateThreadpoolIo(pipe.server, &raw_round_trip::entry, &rt, nullptr);
  if (!pipe.ok() || io == nullptr) {
    state.SkipWithError("pipe or CreateThreadpoolIo failed");
    return;
  }
  const std::vector<std::byte> payload(kRoundTripBytes, std::byte{0x5a});
  for (auto _ : state) {
    rt.overlapped = OVERLAPPED{};
    ::StartThreadpoolIo(io);
    if (!::ReadFile(pipe.server, rt.buffer.data(), kRoundTripBytes, nullptr, &rt.overlapped) &&
        ::GetLastError() != ERROR_IO_PENDING) {
      ::CancelThreadpoolIo(io);
      state.SkipWithError("ReadFile failed");
      break;
    }
    pipe.write(payload.data(), payload.size());
    ::WaitForSingleObject(rt.done, INFINITE);
  }
  ::WaitForThreadpoolIoCallbacks(io, FALSE);
  ::CloseThreadpoolIo(io);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kRoundTripBytes);
}
BENCHMARK(raw_pipe_read_round_trip)->UseRealTime();

void modref_pipe_read_round_trip(benchmark::State& state) {
  bench_pipe pipe(L"modref_rt");
  auto io = modref::threadpool_io<modref::on_destroy::cancel>::create(pipe.server);
  if (!pipe.ok() || !io.ok()) {
    state.SkipWithError("pipe or threadpool_io::create failed");
    return;
  }
  HANDLE done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  std::vector<std::byte> buffer(kRoundTripBytes);
  const std::vector<std::byte> payload(kRoundTripBytes, std::byte{0x5a});
  for (auto _ : state) {
    absl::StatusOr<modref::io_operation> op = io->read(
        0, std::move(buffer), [&buffer, done](absl::StatusOr<size_t>, std::vector<std::byte> back) {
          buffer = std::move(back);  // the benchmark thread waits for `done`
          ::SetEvent(done);
        });
    if (!op.ok()) {
      state.SkipWithError("read failed");
      break;
    }
    pipe.write(payload.data(), payload.size());
    ::WaitForSingleObject(done, INFINITE);
  }
  io->reset();
  ::CloseHandle(done);
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * kRoundTripBytes);
}
BENCHMARK(modref_pipe_read_round_trip)->UseRealTime();

[[maybe_unused]] const bool round_trip_declared = modref_bench::declare_ratio({
    .label = "threadpool_io 4 KiB pipe read round trip / raw StartThreadpoolIo+ReadFile",
    .numerator = "modref_pipe_read_round_trip/real_time",
    .denominator = "raw_pipe_read_round_trip/real_time",
    .target_at_most = 1.05,
    .basis = modref_bench::time_basis::real_time,
});

// ---------------------------------------------------------------------------------------------
// 10,000 in flight

struct raw_small_read {
  OVERLAPPED overlapped{};
  std::array<std::byte, kSmallRead> buffer{};
};

struct raw_in_flight {
  std::atomic<int> remaining{0};
  HANDLE done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  ~raw_in_flight() { ::CloseHandle(done); }
  static void CALLBACK entry(PTP_CALLBACK_INSTANCE, void* context, void* overlapped, ULONG,
                             ULONG_PTR, PTP_IO) noexcept {
    delete reinterpret_cast<raw_small_read*>(static_cast<OVERLAPPED*>(overlapped));
    auto* self = static_cast<raw_in_flight*>(context);
    if (self->remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) ::SetEvent(self->done);
  }
};

void write_all(const bench_pipe& pipe) {
  static const std::vector<std::byte> chunk(kSmallRead * 1000, std::byte{1});
  for (int i = 0; i < kInFlight / 1000; ++i) pipe.write(chunk.data(), chunk.size());
}

void raw_reads_in_flight(benchmark::State& state) {
  bench_pipe pipe(L"raw_if");
  raw_in_flight ctx;
  PTP_IO io = ::CreateThreadpoolIo(pipe.server, &raw_in_flight::entry, &ctx, nullptr);
  if (!pipe.ok() || io == nullptr) {
    state.SkipWithError("pipe or CreateThreadpoolIo failed");
    return;
  }
  double bytes_per_op = 0;
  for (auto _ : state) {
    ctx.remaining.store(kInFlight, std::memory_order_relaxed);
    const size_t before = heap_bytes();
    for (int i = 0; i < kInFlight; ++i) {
      auto* op = new raw_small_read;
      ::StartThreadpoolIo(io);
      if (!::ReadFile(pipe.server, op->buffer.data(), kSmallRead, nullptr, &op->overlapped) &&
          ::GetLastError() != ERROR_IO_PENDING) {
        ::CancelThreadpoolIo(io);
        delete op;
        ctx.remaining.fetch_sub(1);
      }
    }
    bytes_per_op = static_cast<double>(heap_bytes() - before) / kInFlight;
    write_all(pipe);
    ::WaitForSingleObject(ctx.done, INFINITE);
  }
  ::WaitForThreadpoolIoCallbacks(io, FALSE);
  ::CloseThreadpoolIo(io);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kInFlight);
  state.counters["heap_bytes_per_pending_read"] = bytes_per_op;
}
BENCHMARK(raw_reads_in_flight)->UseRealTime()->Unit(benchmark::kMillisecond);

void modref_reads_in_flight(benchmark::State& state) {
  bench_pipe pipe(L"modref_if");
  auto io = modref::threadpool_io<modref::on_destroy::cancel>::create(pipe.server);
  if (!pipe.ok() || !io.ok()) {
    state.SkipWithError("pipe or threadpool_io::create failed");
    return;
  }
  std::atomic<int> remaining{0};
  HANDLE done = ::CreateEventW(nullptr, FALSE, FALSE, nullptr);
  const auto on_done = [&remaining, done](absl::StatusOr<size_t>) {
    if (remaining.fetch_sub(1, std::memory_order_acq_rel) == 1) ::SetEvent(done);
  };
  double bytes_per_op = 0;
  for (auto _ : state) {
    remaining.store(kInFlight, std::memory_order_relaxed);
    const size_t before = heap_bytes();
    for (int i = 0; i < kInFlight; ++i) {
      if (!io->read(0, std::array<std::byte, kSmallRead>{}, on_done).ok()) {
        remaining.fetch_sub(1);
      }
    }
    bytes_per_op = static_cast<double>(heap_bytes() - before) / kInFlight;
    write_all(pipe);
    ::WaitForSingleObject(done, INFINITE);
  }
  io->reset();
  ::CloseHandle(done);
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * kInFlight);
  state.counters["heap_bytes_per_pending_read"] = bytes_per_op;
  state.counters["context_bytes"] = static_cast<double>(
      sizeof(modref::detail::io_op<std::array<std::byte, kSmallRead>, decltype(on_done)>));
}
BENCHMARK(modref_reads_in_flight)->UseRealTime()->Unit(benchmark::kMillisecond);

[[maybe_unused]] const bool in_flight_declared = modref_bench::declare_ratio({
    .label = "threadpool_io 10,000 reads in flight / raw (heap OVERLAPPED per read)",
    .numerator = "modref_reads_in_flight/real_time",
    .denominator = "raw_reads_in_flight/real_time",
    .target_at_most = 1.10,
    .basis = modref_bench::time_basis::real_time,
});

}  // namespace

// Counting replacements of the global allocation functions: a header before each block holds
// its size. Relaxed: a statistic read by the benchmark thread between phases.
namespace {
constexpr size_t kHeader = alignof(std::max_align_t);
void* counted_alloc(size_t n) {
  void* raw = std::malloc(n + kHeader);
  if (raw == nullptr) throw std::bad_alloc();
  *static_cast<size_t*>(raw) = n;
  g_live_heap_bytes.fetch_add(static_cast<long long>(n), std::memory_order_relaxed);
  return static_cast<char*>(raw) + kHeader;
}
void counted_free(void* p) noexcept {
  if (p == nullptr) return;
  void* raw = static_cast<char*>(p) - kHeader;
  g_live_heap_bytes.fetch_sub(static_cast<long long>(*static_cast<size_t*>(raw)),
                              std::memory_order_relaxed);
  std::free(raw);
}
}  // namespace

void* operator new(size_t n) { return counted_alloc(n); }
void* operator new[](size_t n) { return counted_alloc(n); }
void operator delete(void* p) noexcept { counted_free(p); }
void operator delete[](void* p) noexcept { counted_free(p); }
void operator delete(void* p, size_t) noexcept { counted_free(p); }
void operator delete[](void* p, size_t) noexcept { counted_free(p); }
