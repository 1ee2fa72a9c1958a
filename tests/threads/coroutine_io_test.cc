// Tests for <modref/coroutine_io.h> under Wine, with real named pipes: co_await async_read /
// async_write return the completion's byte count; a stop request cancels the pending I/O and the
// coroutine resumes only after its completion ran; every documented refusal (empty object, empty
// buffer, synchronous failure, token already stopped) comes back from the co_await with nothing
// started or leaked; an object destroyed from elsewhere during the await resumes the coroutine
// with kCancelled; a coroutine may destroy its own I/O object right after an await (it continues
// on a pool callback of its own, not inside the completion, so the destructor's wait ends).
//
// Rendezvous use events; every wait is bounded (kBoundMs).
#include <modref/coroutine_io.h>
#include <modref/coroutine_task.h>
#include <modref/threadpool_io.h>

#include <windows.h>

#include <array>
#include <cstddef>
#include <cstring>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "io_test_support.h"
#include "pool_test_support.h"

namespace {

using modref::on_destroy;
using modref_io_test::make_io;
using modref_io_test::pipe_pair;
using modref_pool_test::event;
using modref_pool_test::eventually;
using modref_pool_test::settles_at_end;

auto& io_seams() { return modref::detail::g_io_test_seams; }

template <on_destroy P>
modref::task<absl::StatusOr<size_t>> read_once(modref::threadpool_io<P>& io,
                                               std::span<std::byte> buffer, std::stop_token stop) {
  co_return co_await modref::async_read(io, 0, buffer, stop);
}

// Runs `t` to completion on a thread of its own, so that the test thread can act meanwhile.
class task_runner {
 public:
  explicit task_runner(modref::task<absl::StatusOr<size_t>> t)
      : thread_([this, t = std::move(t)]() mutable {
          result_ = std::move(t).get();
          finished_.set();
        }) {}
  ~task_runner() { thread_.join(); }
  task_runner(const task_runner&) = delete;
  task_runner& operator=(const task_runner&) = delete;

  bool finished() { return finished_.wait(); }
  bool finished_already() const { return finished_.is_set(); }
  const absl::StatusOr<size_t>& result() const { return *result_; }

 private:
  std::optional<absl::StatusOr<size_t>> result_;
  event finished_;
  std::thread thread_;
};

// ---------------------------------------------------------------------------------------------
// Results

TEST(CoroutineIo, AsyncReadReturnsTheByteCount) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  std::array<std::byte, 16> buffer{};
  ASSERT_TRUE(pipe.write_client("coro"));
  absl::StatusOr<size_t> got = read_once(io, buffer, {}).get();
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(*got, 4u);
  EXPECT_EQ(std::memcmp(buffer.data(), "coro", 4), 0);
}

TEST(CoroutineIo, AsyncWriteReturnsTheByteCount) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  auto write_once = [&]() -> modref::task<absl::StatusOr<size_t>> {
    const std::string text = "written by a coroutine";
    co_return co_await modref::async_write(io, 0, text);
  };
  absl::StatusOr<size_t> put = write_once().get();
  ASSERT_TRUE(put.ok()) << put.status();
  EXPECT_EQ(pipe.read_client(*put), "written by a coroutine");
}

// The header's example: read, write back, three times, in one coroutine.
TEST(CoroutineIo, EchoLoopReadsAndWritesBackInOneFrame) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::cancel>(pipe.server);
  auto echo = [&](int rounds) -> modref::task<absl::StatusOr<size_t>> {
    std::array<std::byte, 32> buffer{};
    size_t total = 0;
    for (int i = 0; i < rounds; ++i) {
      absl::StatusOr<size_t> got = co_await modref::async_read(io, 0, buffer);
      if (!got.ok()) co_return got;
      absl::StatusOr<size_t> put =
          co_await modref::async_write(io, 0, std::span(buffer).first(*got));
      if (!put.ok()) co_return put;
      total += *put;
    }
    co_return total;
  };
  task_runner runner(echo(3));
  for (const char* word : {"one", "two", "three"}) {
    ASSERT_TRUE(pipe.write_client(word));
    EXPECT_EQ(pipe.read_client(std::strlen(word)), word);
  }
  ASSERT_TRUE(runner.finished());
  ASSERT_TRUE(runner.result().ok()) << runner.result().status();
  EXPECT_EQ(*runner.result(), 11u);
}

// ---------------------------------------------------------------------------------------------
// Cancellation

TEST(CoroutineIo, StopRequestCancelsThePendingRead) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  std::array<std::byte, 16> buffer{};
  std::stop_source stop;
  task_runner runner(read_once(io, buffer, stop.get_token()));
  ASSERT_TRUE(eventually([&] { return io.pending() == 1; }));
  stop.request_stop();
  ASSERT_TRUE(runner.finished());
  EXPECT_EQ(runner.result().status().code(), absl::StatusCode::kCancelled)
      << runner.result().status();
  EXPECT_EQ(io.pending(), 0u);
}

TEST(CoroutineIo, AlreadyStoppedTokenStartsNothing) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  std::array<std::byte, 16> buffer{};
  std::stop_source stop;
  stop.request_stop();
  absl::StatusOr<size_t> got = read_once(io, buffer, stop.get_token()).get();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(io.pending(), 0u);
}

// Destroying the object from another thread while a coroutine awaits on it: the destructor
// cancels the read; under on_destroy::wait its completion runs with kCancelled, under
// on_destroy::cancel the completion is dropped (its callable destroyed without being called) and
// the awaiter's callable ends the await with kCancelled all the same. (Before that callable
// existed the cancel case stranded the frame: the runner never finished.)
template <on_destroy P>
void destroy_during_the_await() {
  settles_at_end settles;
  pipe_pair pipe;
  std::optional<modref::threadpool_io<P>> io(make_io<P>(pipe.server));
  std::array<std::byte, 16> buffer{};
  task_runner runner(read_once(*io, buffer, {}));
  ASSERT_TRUE(eventually([&] { return io->pending() == 1; }));
  EXPECT_FALSE(runner.finished_already());
  io.reset();
  ASSERT_TRUE(runner.finished());
  EXPECT_EQ(runner.result().status().code(), absl::StatusCode::kCancelled)
      << runner.result().status();
}

TEST(CoroutineIo, ObjectDestroyedDuringTheAwaitResumesWithCancelledUnderWait) {
  destroy_during_the_await<on_destroy::wait>();
}

TEST(CoroutineIo, ObjectDestroyedDuringTheAwaitResumesWithCancelledUnderCancel) {
  destroy_during_the_await<on_destroy::cancel>();
}

// A coroutine that owns its I/O object destroys it right after the await. Under on_destroy::wait
// the destructor waits for the object's completions; had the coroutine continued inside its own
// completion, that wait would refuse or never end.
TEST(CoroutineIo, CoroutineDestroysItsOwnObjectAfterTheAwait) {
  settles_at_end settles;
  pipe_pair pipe;
  auto owner = [](HANDLE server) -> modref::task<absl::StatusOr<size_t>> {
    std::optional<modref::threadpool_io<on_destroy::wait>> io(make_io<on_destroy::wait>(server));
    std::array<std::byte, 8> buffer{};
    absl::StatusOr<size_t> got = co_await modref::async_read(*io, 0, buffer);
    io.reset();  // waits for the completion, which has already run
    co_return got;
  };
  task_runner runner(owner(pipe.server));
  ASSERT_TRUE(pipe.write_client("mine"));
  ASSERT_TRUE(runner.finished());
  ASSERT_TRUE(runner.result().ok()) << runner.result().status();
  EXPECT_EQ(*runner.result(), 4u);
}

// ---------------------------------------------------------------------------------------------
// Refusals: returned by the co_await, nothing started or leaked

TEST(CoroutineIo, EmptyObjectIsRefused) {
  settles_at_end settles;
  modref::threadpool_io<on_destroy::wait> empty;
  std::array<std::byte, 4> buffer{};
  absl::StatusOr<size_t> got = read_once(empty, buffer, {}).get();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kFailedPrecondition) << got.status();
}

TEST(CoroutineIo, EmptyBufferIsRefused) {
  settles_at_end settles;
  const long live_ops = io_seams().live_operations.load();
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  absl::StatusOr<size_t> got = read_once(io, std::span<std::byte>(), {}).get();
  EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument) << got.status();
  EXPECT_EQ(io.pending(), 0u);
  EXPECT_EQ(io_seams().live_operations.load(), live_ops);
}

TEST(CoroutineIo, SynchronousFailureIsReturned) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  pipe.close_client();  // the read fails at once: ERROR_BROKEN_PIPE
  std::array<std::byte, 4> buffer{};
  absl::StatusOr<size_t> got = read_once(io, buffer, {}).get();
  ASSERT_FALSE(got.ok());
  EXPECT_EQ(modref::win32_error_code(got.status()), std::optional<DWORD>(ERROR_BROKEN_PIPE))
      << got.status();
  EXPECT_EQ(io.pending(), 0u);
}

}  // namespace
