// Tests for <modref/threadpool_io.h> under Wine, with real named pipes and files: completions and
// their buffers, the StartThreadpoolIo/CancelThreadpoolIo pairing (synchronous failure,
// synchronous success without a packet), cancel one / cancel all waiting for the completions,
// every destruction policy, the own-completion and loader-lock refusals, process termination
// (simulated) and every bad input. The coroutine awaitables of <modref/coroutine_io.h> have their
// own tests (coroutine_io_test.cc).
//
// Rendezvous use events; every wait is bounded (kBoundMs). The fixed waits (kQuietMs) assert that
// something does NOT happen and are commented.
#include <modref/threadpool_io.h>

#include <windows.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "../support/test_support.h"
#include "io_test_support.h"
#include "pool_test_support.h"

namespace {

using modref::on_destroy;
using modref_io_test::bytes;
using modref_io_test::make_io;
using modref_io_test::open_temp_file;
using modref_io_test::pipe_pair;
using modref_io_test::to_bytes;
using modref_io_test::to_string;
using modref_pool_test::event;
using modref_pool_test::eventually;
using modref_pool_test::kBoundMs;
using modref_pool_test::kQuietMs;
using modref_pool_test::seams;
using modref_pool_test::settles_at_end;

auto& io_seams() { return modref::detail::g_io_test_seams; }

// What a completion saw.
struct outcome {
  event ran;
  std::optional<absl::StatusOr<size_t>> result;
  bytes buffer;
  std::atomic<int> calls{0};

  auto callback() {
    return [this](absl::StatusOr<size_t> r, bytes b) {
      result = std::move(r);
      buffer = std::move(b);
      calls.fetch_add(1);
      ran.set();
    };
  }
};

// ---------------------------------------------------------------------------------------------
// Completions

TEST(ThreadpoolIo, PipeReadCompletesWithTheBytesAndTheBufferBack) {
  settles_at_end settles;
  pipe_pair pipe;
  ASSERT_NE(pipe.server, INVALID_HANDLE_VALUE);
  ASSERT_NE(pipe.client, INVALID_HANDLE_VALUE);
  auto io = make_io<on_destroy::wait>(pipe.server);
  const long pins_before = modref::activity().live_pins;
  outcome got;
  absl::StatusOr<modref::io_operation> op = io.read(0, bytes(64), got.callback());
  ASSERT_TRUE(op.ok()) << op.status();
  EXPECT_TRUE(*op);
  EXPECT_EQ(io.pending(), 1u);
  EXPECT_FALSE(got.ran.is_set());
  ASSERT_TRUE(pipe.write_client("hello"));
  ASSERT_TRUE(got.ran.wait());
  ASSERT_TRUE(got.result->ok()) << got.result->status();
  EXPECT_EQ(**got.result, 5u);
  EXPECT_EQ(got.buffer.size(), 64u);
  EXPECT_EQ(to_string(got.buffer, 5), "hello");
  EXPECT_TRUE(eventually([&] { return io.pending() == 0; }));
  EXPECT_EQ(modref::activity().live_pins, pins_before);  // operations do not pin: the object does
}

TEST(ThreadpoolIo, PipeWriteAndCompletionTakesCallbackInstance) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  event ran;
  std::atomic<size_t> written{0};
  auto shared = std::make_shared<const std::string>("shared bytes");
  ASSERT_TRUE(io.write(0, shared,
                       [&](modref::callback_instance, absl::StatusOr<size_t> r,
                           std::shared_ptr<const std::string> back) {
                         written = r.ok() ? *r : 0;
                         EXPECT_EQ(back.get(), shared.get());
                         ran.set();
                       })
                  .ok());
  ASSERT_TRUE(ran.wait());
  EXPECT_EQ(written.load(), shared->size());
  EXPECT_EQ(pipe.read_client(shared->size()), *shared);
}

// Callbacks that wait for each other on a pool that must grow, two of them completions of one
// object (a read and a write the client completes back to back): a callback that is queued with
// no thread to run it gets one only when a running callback calls CallbackMayRunLong, so each of
// them first calls callback_instance::may_run_long() (which checks that modref hands a completion
// the pool's own instance); then all four run at once in every round. Under load Wine 8 gets
// there by itself: it counts an object with two callbacks queued as one busy thread, so the
// callback queued next takes the thread the second completion needed (the race lab's stress loop
// hung at its first modref cycle this way: docs/racelab.md, "Pipe I/O in the stress loop"). Here
// the pool is held at one thread while the completions are queued, which gets there every time:
// without the calls, 5 of 5 rounds left a callback queued, in each of 5 runs (without the
// one-thread window, 3 of 5 rounds in 1 of 3 runs).
struct waiting_callbacks {
  static constexpr int kCallbacks = 4;  // a callback already blocked, the read, the write, one more
  static constexpr ULONGLONG kGiveUpMs = 5000;
  std::atomic<int> arrived{0};
  std::atomic<int> gave_up{0};
  std::atomic<int> returned{0};
  void wait(bool may_run_long) {
    EXPECT_TRUE(may_run_long);  // a new pool has threads to spare (its maximum is 500)
    arrived.fetch_add(1);
    const ULONGLONG start = ::GetTickCount64();
    while (arrived.load() < kCallbacks) {
      if (::GetTickCount64() - start > kGiveUpMs) {
        gave_up.fetch_add(1);
        break;
      }
      ::Sleep(1);
    }
    returned.fetch_add(1);
  }
  static void CALLBACK raw_wait(PTP_CALLBACK_INSTANCE instance, void* context) {
    static_cast<waiting_callbacks*>(context)->wait(::CallbackMayRunLong(instance) != FALSE);
  }
  // The first callback: the pool is held at one thread while it runs, so CallbackMayRunLong
  // could only say no; it waits without asking.
  static void CALLBACK first_wait(PTP_CALLBACK_INSTANCE, void* context) {
    static_cast<waiting_callbacks*>(context)->wait(true);
  }
};

TEST(ThreadpoolIo, CompletionsThatWaitForEachOtherGetThreadsThroughMayRunLong) {
  settles_at_end settles;
  constexpr int kRounds = 5;
  constexpr int kCallbacks = waiting_callbacks::kCallbacks;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE(round);
    // A new pool each round, so that each round starts with no idle threads.
    PTP_POOL pool = ::CreateThreadpool(nullptr);
    ASSERT_NE(pool, nullptr);
    TP_CALLBACK_ENVIRON env;
    ::InitializeThreadpoolEnvironment(&env);
    ::SetThreadpoolCallbackPool(&env, pool);
    // On the heap and left behind if an assertion ends the round early: callbacks may still
    // run.
    auto* at = new waiting_callbacks;
    {
      pipe_pair pipe(/*connect_client=*/true, /*buffer=*/0);
      ASSERT_NE(pipe.client, INVALID_HANDLE_VALUE);
      auto io = make_io<on_destroy::wait>(pipe.server, {.pool = {.pool = pool}});
      // The first callback blocks the pool's one thread. The pool may not add another until both
      // completions are queued: without that, whether they are queued together (one object with
      // two callbacks queued, which Wine counts as one busy thread) depends on timing.
      ::SetThreadpoolThreadMaximum(pool, 1);
      ASSERT_TRUE(::TrySubmitThreadpoolCallback(waiting_callbacks::first_wait, at, &env));
      ASSERT_TRUE(eventually([&] { return at->arrived.load() == 1; }));
      auto completion = [at](modref::callback_instance instance, absl::StatusOr<size_t> r, bytes) {
        EXPECT_TRUE(r.ok()) << r.status();
        at->wait(instance.may_run_long());
      };
      ASSERT_TRUE(io.read(0, bytes(64), completion).ok());
      ASSERT_TRUE(io.write(0, bytes(64), completion).ok());
      ASSERT_TRUE(pipe.write_client(std::string(64, 'c')));  // completes the read
      ASSERT_EQ(pipe.read_client(64).size(), 64u);           // completes the write
      // A fixed wait: the packets reach the pool's queue through Wine's I/O thread. It cannot
      // make the test fail, and if it is too short the second completion is queued with the
      // object already taken, which strands a callback just the same without may_run_long.
      ::Sleep(100);
      ::SetThreadpoolThreadMaximum(pool, 500);
      ASSERT_TRUE(::TrySubmitThreadpoolCallback(waiting_callbacks::raw_wait, at, &env));
      EXPECT_TRUE(eventually([&] { return at->returned.load() == kCallbacks; },
                             std::chrono::milliseconds(kBoundMs)));
      EXPECT_EQ(at->gave_up.load(), 0) << "a callback waited " << waiting_callbacks::kGiveUpMs
                                       << " ms for the others: one was queued with no thread";
    }  // on_destroy::wait: both completions have returned
    ::DestroyThreadpoolEnvironment(&env);
    ASSERT_TRUE(eventually([&] { return at->returned.load() == kCallbacks; }));
    ::CloseThreadpool(pool);
    delete at;
  }
}

TEST(ThreadpoolIo, FileWriteThenReadAtOffsets) {
  settles_at_end settles;
  HANDLE file = open_temp_file();
  ASSERT_NE(file, INVALID_HANDLE_VALUE);
  auto io = make_io<on_destroy::cancel>(file, {.own_handle = true});
  outcome w;
  ASSERT_TRUE(io.write(4096, to_bytes("at 4096"), w.callback()).ok());
  ASSERT_TRUE(w.ran.wait());
  ASSERT_TRUE(w.result->ok()) << w.result->status();
  EXPECT_EQ(**w.result, 7u);
  outcome r;
  ASSERT_TRUE(io.read(4096, bytes(16), r.callback()).ok());
  ASSERT_TRUE(r.ran.wait());
  ASSERT_TRUE(r.result->ok()) << r.result->status();
  EXPECT_EQ(to_string(r.buffer, **r.result), "at 4096");
}

TEST(ThreadpoolIo, StartRunsAnyOverlappedCallConnectNamedPipe) {
  settles_at_end settles;
  pipe_pair pipe(/*connect_client=*/false);
  auto io = make_io<on_destroy::wait>(pipe.server);
  outcome connected;
  event ran;
  std::optional<absl::StatusOr<size_t>> result;
  absl::StatusOr<modref::io_operation> op =
      io.start([](HANDLE h, OVERLAPPED* o) { return modref::io_call(::ConnectNamedPipe(h, o)); },
               [&](absl::StatusOr<size_t> r) {
                 result = std::move(r);
                 ran.set();
               });
  ASSERT_TRUE(op.ok()) << op.status();
  pipe.open_client();
  ASSERT_TRUE(ran.wait());
  EXPECT_TRUE(result->ok()) << result->status();
}

// ConnectNamedPipe after the client connected: FALSE with ERROR_PIPE_CONNECTED and no packet.
// Without the pairing CancelThreadpoolIo the destructor would wait for a packet for ever.
TEST(ThreadpoolIo, PipeAlreadyConnectedIsPairedAndCompletes) {
  settles_at_end settles;
  pipe_pair pipe;  // client already connected
  event destroyed;
  {
    auto io = make_io<on_destroy::wait>(pipe.server);
    event ran;
    std::optional<absl::StatusOr<size_t>> result;
    ASSERT_TRUE(
        io.start([](HANDLE h, OVERLAPPED* o) { return modref::io_call(::ConnectNamedPipe(h, o)); },
                 [&](absl::StatusOr<size_t> r) {
                   result = std::move(r);
                   ran.set();
                 })
            .ok());
    ASSERT_TRUE(ran.wait());
    EXPECT_TRUE(result->ok()) << result->status();
  }
}

// ---------------------------------------------------------------------------------------------
// The Start/Cancel pairing

// A read on a pipe whose client is gone fails synchronously (ERROR_BROKEN_PIPE): read() returns
// it, the completion is never called, nothing stays pending and the destructor returns at once.
TEST(ThreadpoolIo, SynchronousFailureIsReturnedAndPaired) {
  settles_at_end settles;
  const long live_ops = io_seams().live_operations.load();
  pipe_pair pipe;
  pipe.close_client();
  auto io = make_io<on_destroy::wait>(pipe.server);
  outcome got;
  absl::StatusOr<modref::io_operation> op = io.read(0, bytes(16), got.callback());
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(modref::win32_error_code(op.status()), std::optional<DWORD>(ERROR_BROKEN_PIPE))
      << op.status();
  EXPECT_EQ(io.pending(), 0u);
  EXPECT_EQ(io_seams().live_operations.load(), live_ops);  // the context is gone already
  EXPECT_TRUE(io.wait_for_callbacks().ok());               // returns: the pool expects no packet
  EXPECT_FALSE(got.ran.is_set());
}

// The raw pattern (StartThreadpoolIo, the call fails synchronously, no CancelThreadpoolIo): the
// pool keeps expecting a completion, so WaitForThreadpoolIoCallbacks (hence any close) hangs. The
// seam removes modref's CancelThreadpoolIo to show the hang is real in this harness; modref's
// path (previous test) returns at once.
TEST(ThreadpoolIo, RawStartWithoutCancelHangsTheClose) {
  settles_at_end settles;  // the dont_wait object's closing callback finishes before the next test
  pipe_pair pipe;
  pipe.close_client();
  auto* io =
      new modref::threadpool_io<on_destroy::dont_wait>(make_io<on_destroy::dont_wait>(pipe.server));
  io_seams().skip_cancel_threadpool_io = true;
  outcome got;
  EXPECT_FALSE(io->read(0, bytes(16), got.callback()).ok());
  io_seams().skip_cancel_threadpool_io = false;
  PTP_IO raw = io->get();
  event returned;
  std::thread waiter([&] {
    ::WaitForThreadpoolIoCallbacks(raw, FALSE);
    returned.set();
  });
  // kQuietMs: long enough for a wait that has nothing to wait for to return many times over.
  const bool hung = !returned.wait(kQuietMs);
  // Pair the start by hand now, which releases the wait (and lets the object close).
  ::CancelThreadpoolIo(raw);
  EXPECT_TRUE(returned.wait());
  waiter.join();
  delete io;
  if (!hung) {
    GTEST_SKIP() << "this Wine's WaitForThreadpoolIoCallbacks does not wait for an unpaired "
                    "StartThreadpoolIo (see docs/testing.md)";
  }
  EXPECT_TRUE(hung);
}

// FILE_SKIP_COMPLETION_PORT_ON_SUCCESS set through io_options: a synchronous success queues no
// packet; modref pairs it and still runs the completion on a pool thread.
TEST(ThreadpoolIo, SkipCompletionPortOnSuccessPairsSynchronousSuccess) {
  settles_at_end settles;
  pipe_pair pipe;
  {
    auto io = make_io<on_destroy::wait>(pipe.server, {.skip_completion_port_on_success = true});
    ASSERT_TRUE(io);
    // Data already in the pipe: the read completes synchronously.
    ASSERT_TRUE(pipe.write_client("ready"));
    outcome got;
    const DWORD caller = ::GetCurrentThreadId();
    std::atomic<DWORD> ran_on{0};
    ASSERT_TRUE(io.read(0, bytes(5), [&](absl::StatusOr<size_t> r, bytes b) {
                    ran_on = ::GetCurrentThreadId();
                    got.callback()(std::move(r), std::move(b));
                  }).ok());
    ASSERT_TRUE(got.ran.wait());
    ASSERT_TRUE(got.result->ok()) << got.result->status();
    EXPECT_EQ(to_string(got.buffer, **got.result), "ready");
    EXPECT_NE(ran_on.load(), caller);
    // And a pending one still gets its packet.
    outcome later;
    ASSERT_TRUE(io.read(0, bytes(5), later.callback()).ok());
    ASSERT_TRUE(pipe.write_client("again"));
    ASSERT_TRUE(later.ran.wait());
    EXPECT_EQ(to_string(later.buffer, **later.result), "again");
  }  // the destructor returns: nothing expected that will not come
}

// What the system does with FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, observed on a raw port (no
// modref): a synchronous success queues no packet when the mode is set, one packet otherwise.
// modref's pairing relies on exactly this; Wine 8 behaves as Windows documents.
TEST(ThreadpoolIo, SystemSkipsThePacketOnlyInSkipMode) {
  for (const bool skip : {false, true}) {
    pipe_pair pipe;
    HANDLE port = ::CreateIoCompletionPort(pipe.server, nullptr, 7, 1);
    ASSERT_NE(port, nullptr);
    if (skip) {
      ASSERT_TRUE(
          ::SetFileCompletionNotificationModes(pipe.server, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS));
    }
    ASSERT_TRUE(pipe.write_client("sync"));
    OVERLAPPED overlapped{};
    char buffer[4];
    const BOOL ok = ::ReadFile(pipe.server, buffer, sizeof(buffer), nullptr, &overlapped);
    const DWORD read_error = ok ? ERROR_SUCCESS : ::GetLastError();
    DWORD bytes = 0;
    ULONG_PTR key = 0;
    OVERLAPPED* got = nullptr;
    // kQuietMs: a packet already queued is dequeued at once; this only bounds the "none" case.
    const BOOL packet = ::GetQueuedCompletionStatus(port, &bytes, &key, &got, kQuietMs);
    if (!ok) {
      EXPECT_EQ(read_error, static_cast<DWORD>(ERROR_IO_PENDING));
      EXPECT_TRUE(packet);  // the pending read completes with the data already there
    } else {
      EXPECT_EQ(packet != FALSE, !skip)
          << (skip ? "skip mode still queued a packet" : "no packet for a synchronous success");
    }
    ::CloseHandle(port);
  }
}

// ---------------------------------------------------------------------------------------------
// Cancellation

TEST(ThreadpoolIo, CancelOneWaitsForItsCompletion) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  outcome first;
  outcome second;
  absl::StatusOr<modref::io_operation> a = io.read(0, bytes(8), first.callback());
  absl::StatusOr<modref::io_operation> b = io.read(0, bytes(8), second.callback());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(a->id(), b->id());
  ASSERT_TRUE(io.cancel(*a).ok());
  // cancel() returned only after the completion ran: no event wait needed.
  EXPECT_TRUE(first.ran.is_set());
  EXPECT_EQ(first.result->status().code(), absl::StatusCode::kCancelled) << first.result->status();
  EXPECT_FALSE(second.ran.is_set());
  EXPECT_EQ(io.pending(), 1u);
  EXPECT_TRUE(io.cancel(*a).ok());  // already completed: OK at once
  ASSERT_TRUE(pipe.write_client("x"));
  ASSERT_TRUE(second.ran.wait());
  EXPECT_TRUE(second.result->ok());
}

TEST(ThreadpoolIo, CancelAndWaitCancelsAllAndWaits) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  std::array<outcome, 4> got;
  for (outcome& o : got) ASSERT_TRUE(io.read(0, bytes(8), o.callback()).ok());
  EXPECT_EQ(io.pending(), 4u);
  ASSERT_TRUE(io.cancel_and_wait().ok());
  for (outcome& o : got) {
    EXPECT_TRUE(o.ran.is_set());
    EXPECT_EQ(o.result->status().code(), absl::StatusCode::kCancelled);
  }
  EXPECT_EQ(io.pending(), 0u);
  // The owner may start again.
  outcome again;
  ASSERT_TRUE(io.read(0, bytes(8), again.callback()).ok());
  ASSERT_TRUE(pipe.write_client("y"));
  ASSERT_TRUE(again.ran.wait());
}

TEST(ThreadpoolIo, RequestCancelDoesNotWait) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  outcome got;
  absl::StatusOr<modref::io_operation> op = io.read(0, bytes(8), got.callback());
  ASSERT_TRUE(op.ok());
  ASSERT_TRUE(io.request_cancel(*op).ok());
  ASSERT_TRUE(got.ran.wait());
  EXPECT_EQ(got.result->status().code(), absl::StatusCode::kCancelled);
}

// ---------------------------------------------------------------------------------------------
// Destruction policies

// wait: pending reads are cancelled and their completions have run when the destructor returns;
// the buffers went back to the completions, nothing is left.
TEST(ThreadpoolIo, DestroyWaitRunsEveryCompletion) {
  settles_at_end settles;
  const long live_ops = io_seams().live_operations.load();
  pipe_pair pipe;
  std::array<outcome, 3> got;
  {
    auto io = make_io<on_destroy::wait>(pipe.server);
    for (outcome& o : got) ASSERT_TRUE(io.read(0, bytes(8), o.callback()).ok());
  }
  for (outcome& o : got) {
    EXPECT_TRUE(o.ran.is_set());
    EXPECT_EQ(o.result->status().code(), absl::StatusCode::kCancelled);
  }
  EXPECT_EQ(io_seams().live_operations.load(), live_ops);
}

// cancel: a completion queued behind a blocked one on a one-thread pool is dropped (its
// callable destroyed uncalled); the running one is waited for.
TEST(ThreadpoolIo, DestroyCancelDropsQueuedCompletions) {
  settles_at_end settles;
  const long live_ops = io_seams().live_operations.load();
  modref_pool_test::single_thread_pool pool;
  pipe_pair pipe;
  event blocking;
  event release;
  std::atomic<int> called{0};
  auto destroyed = std::make_shared<std::atomic<int>>(0);
  struct probe {
    std::shared_ptr<std::atomic<int>> count;
    probe(std::shared_ptr<std::atomic<int>> c) : count(std::move(c)) {}
    probe(probe&& o) noexcept : count(std::move(o.count)) {}
    ~probe() {
      if (count) count->fetch_add(1);
    }
  };
  event returned;
  std::thread destroyer;
  {
    auto* io = new modref::threadpool_io<on_destroy::cancel>(
        make_io<on_destroy::cancel>(pipe.server, modref::io_options{.pool = pool.options()}));
    ASSERT_TRUE(io->read(0, bytes(1), [&](absl::StatusOr<size_t>) {
                    called++;
                    blocking.set();
                    release.wait();
                  }).ok());
    ASSERT_TRUE(pipe.write_client("a"));
    ASSERT_TRUE(blocking.wait());  // the one pool thread is busy in this completion
    ASSERT_TRUE(io->read(0, bytes(8), [&, p = probe(destroyed)](absl::StatusOr<size_t>) {
                    called++;
                  }).ok());
    destroyer = std::thread([&] {
      delete io;
      returned.set();
    });
    // kQuietMs: the destructor must still be waiting for the blocked completion.
    EXPECT_FALSE(returned.wait(kQuietMs));
    release.set();
    EXPECT_TRUE(returned.wait());
    destroyer.join();
  }
  EXPECT_EQ(called.load(), 1);  // the queued (cancelled) completion was dropped
  EXPECT_GE(destroyed->load(), 1);
  EXPECT_EQ(io_seams().live_operations.load(), live_ops);
}

// dont_wait: the destructor returns while a completion is blocked; the closing callback finishes
// the job and releases the pin afterwards.
TEST(ThreadpoolIo, DestroyDontWaitReturnsAtOnce) {
  settles_at_end settles;
  pipe_pair pipe;
  event blocking;
  event release;
  {
    auto io = make_io<on_destroy::dont_wait>(pipe.server);
    ASSERT_TRUE(io.read(0, bytes(1), [&](absl::StatusOr<size_t>) {
                    blocking.set();
                    release.wait();
                  }).ok());
    ASSERT_TRUE(pipe.write_client("a"));
    ASSERT_TRUE(blocking.wait());
  }  // returns although the completion is blocked
  release.set();
}

// A completion that destroys its own object (the usual "session deletes itself" pattern): the
// destructor must not wait for the completion it runs in; it closes as dont_wait.
TEST(ThreadpoolIo, DestroyFromOwnCompletionDoesNotWaitForItself) {
  settles_at_end settles;
  pipe_pair pipe;
  const long before = seams().closed_without_waiting.load();
  event done;
  auto* io = new modref::threadpool_io<on_destroy::wait>(make_io<on_destroy::wait>(pipe.server));
  std::optional<absl::Status> wait_in_callback;
  std::optional<absl::Status> read_while_closing;
  ASSERT_TRUE(io->read(0, bytes(4), [&](absl::StatusOr<size_t>) {
                  wait_in_callback = io->cancel_and_wait();
                  delete io;
                  done.set();
                }).ok());
  ASSERT_TRUE(pipe.write_client("bye!"));
  ASSERT_TRUE(done.wait());
  EXPECT_EQ(wait_in_callback->code(), absl::StatusCode::kFailedPrecondition) << *wait_in_callback;
  EXPECT_EQ(seams().closed_without_waiting.load(), before + 1);
}

// An operation started from a completion that runs while the object is destroyed is refused.
TEST(ThreadpoolIo, OperationOnClosingObjectIsRefused) {
  settles_at_end settles;
  pipe_pair pipe;
  std::optional<absl::Status> again;
  {
    auto io = make_io<on_destroy::wait>(pipe.server);
    modref::threadpool_io<on_destroy::wait>* self = &io;
    ASSERT_TRUE(io.read(0, bytes(4), [&, self](absl::StatusOr<size_t>) {
                    again = self->read(0, bytes(4), [](absl::StatusOr<size_t>) {}).status();
                  }).ok());
  }  // cancels the read; its completion tries to read again
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again->code(), absl::StatusCode::kFailedPrecondition) << *again;
  EXPECT_NE(again->message().find("being destroyed"), std::string_view::npos) << *again;
}

// After the owner's cancel_and_wait(), a completion cannot start a new operation (a read loop
// would otherwise re-arm for ever and cancel_and_wait could not end).
TEST(ThreadpoolIo, CancelAndWaitStopsAReadLoop) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  std::atomic<int> refused{0};
  std::function<void()> arm;
  arm = [&] {
    absl::Status s = io.read(0, bytes(4), [&](absl::StatusOr<size_t>) { arm(); }).status();
    if (!s.ok()) refused++;
  };
  arm();
  ASSERT_TRUE(io.cancel_and_wait().ok());
  EXPECT_EQ(refused.load(), 1);
  EXPECT_EQ(io.pending(), 0u);
}

// Destroyed under the loader lock (from another DLL's DllMain): no wait (pool threads may need the
// lock), queued completions dropped, the closing callback finishes.
TEST(ThreadpoolIo, DestroyUnderLoaderLockDoesNotWait) {
  settles_at_end settles;
  pipe_pair pipe;
  const long before = seams().closed_without_waiting.load();
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(L"threadpool_loader_lock_dll.dll").c_str());
  ASSERT_NE(dll, nullptr);
  using set_victim_fn = void (*)(void (*)(void*), void*);
  auto set_victim =
      reinterpret_cast<set_victim_fn>(reinterpret_cast<void*>(::GetProcAddress(dll, "set_victim")));
  ASSERT_NE(set_victim, nullptr);
  auto* io = new modref::threadpool_io<on_destroy::wait>(make_io<on_destroy::wait>(pipe.server));
  ASSERT_TRUE(io->read(0, bytes(4), [](absl::StatusOr<size_t>) {}).ok());
  set_victim([](void* raw) { delete static_cast<modref::threadpool_io<on_destroy::wait>*>(raw); },
             io);
  ASSERT_TRUE(::FreeLibrary(dll));
  EXPECT_EQ(seams().closed_without_waiting.load(), before + 1);
}

// The DLL's read is pending when the host unloads it; the completion (DLL code) runs after the
// FreeLibrary, and the DLL unloads only once it has returned.
TEST(ThreadpoolIo, PendingReadKeepsTheDllLoadedUntilItsCompletionRan) {
  pipe_pair pipe;
  event completed;
  const wchar_t* name = L"threadpool_io_dll.dll";
  HMODULE dll = ::LoadLibraryW(modref_test::sibling(name).c_str());
  ASSERT_NE(dll, nullptr);
  using start_fn = DWORD (*)(HANDLE, HANDLE);
  auto start = reinterpret_cast<start_fn>(
      reinterpret_cast<void*>(::GetProcAddress(dll, "start_pending_read")));
  ASSERT_NE(start, nullptr);
  ASSERT_EQ(start(pipe.server, completed.get()), 0u);
  ASSERT_TRUE(::FreeLibrary(dll));
  // kQuietMs: the DLL must stay mapped while its read is pending, however long we look.
  EXPECT_FALSE(modref_test::wait_until_unloaded(name, std::chrono::milliseconds(kQuietMs)))
      << "the DLL unloaded with its read pending";
  EXPECT_TRUE(modref_test::is_loaded(name));
  ASSERT_TRUE(pipe.write_client("late data"));
  ASSERT_TRUE(completed.wait());
  EXPECT_TRUE(modref_test::wait_until_unloaded(name)) << "the DLL stayed loaded";
}

// ---------------------------------------------------------------------------------------------
// Process termination (simulated)

TEST(ThreadpoolIo, ProcessTerminationRefusesAndLeaks) {
  pipe_pair pipe;
  auto* io = new modref::threadpool_io<on_destroy::wait>(make_io<on_destroy::wait>(pipe.server));
  pipe_pair other;
  seams().simulate_process_terminating = true;
  const long abandoned = seams().abandoned_for_termination.load();
  EXPECT_EQ(modref::threadpool_io<on_destroy::wait>::create(other.server).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(io->read(0, bytes(4), [](absl::StatusOr<size_t>) {}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(io->cancel_and_wait().code(), absl::StatusCode::kFailedPrecondition);
  delete io;  // touches nothing
  EXPECT_EQ(seams().abandoned_for_termination.load(), abandoned + 1);
  seams().simulate_process_terminating = false;
}

// ---------------------------------------------------------------------------------------------
// Bad input

TEST(ThreadpoolIo, BadHandlesAreRefusedWithNothingPinned) {
  settles_at_end settles;
  using io_t = modref::threadpool_io<on_destroy::wait>;
  const long pins = modref::activity().live_pins;
  EXPECT_EQ(io_t::create(nullptr).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(io_t::create(INVALID_HANDLE_VALUE).status().code(), absl::StatusCode::kInvalidArgument);
  // Closed handle.
  HANDLE closed = open_temp_file();
  ASSERT_NE(closed, INVALID_HANDLE_VALUE);
  ::CloseHandle(closed);
  absl::Status s = io_t::create(closed).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  // Opened for synchronous I/O.
  HANDLE sync = open_temp_file(/*overlapped=*/false);
  ASSERT_NE(sync, INVALID_HANDLE_VALUE);
  s = io_t::create(sync, {.own_handle = true}).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("synchronous I/O"), std::string_view::npos) << s;
  EXPECT_TRUE(::CloseHandle(sync));  // not closed by the failed create, despite own_handle
  EXPECT_EQ(modref::activity().live_pins, pins);
  // Throwing constructor.
  EXPECT_THROW(io_t(INVALID_HANDLE_VALUE), std::system_error);
}

TEST(ThreadpoolIo, HandleAlreadyBoundToAPortIsRefused) {
  settles_at_end settles;
  pipe_pair pipe;
  auto first = make_io<on_destroy::wait>(pipe.server);
  absl::Status s = modref::threadpool_io<on_destroy::wait>::create(pipe.server).status();
  if (s.ok()) {
    GTEST_SKIP() << "this Wine binds a handle to a second completion port (see docs/testing.md)";
  }
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("already bound"), std::string_view::npos) << s;
}

TEST(ThreadpoolIo, BadBuffersAndCallablesAreRefused) {
  settles_at_end settles;
  const long live_ops = io_seams().live_operations.load();
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  auto ignore = [](absl::StatusOr<size_t>) {};
  EXPECT_EQ(io.read(0, bytes(), ignore).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(io.write(0, std::string(), ignore).status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(io.read(0, std::unique_ptr<bytes>(), ignore).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(io.write(0, std::shared_ptr<const std::string>(), ignore).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(io.read(0, bytes(4), std::function<void(absl::StatusOr<size_t>)>()).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(io.pending(), 0u);
  EXPECT_EQ(io_seams().live_operations.load(), live_ops);
  // An empty object.
  modref::threadpool_io<on_destroy::wait> empty;
  EXPECT_EQ(empty.read(0, bytes(4), ignore).status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(empty.cancel_and_wait().code(), absl::StatusCode::kFailedPrecondition);
}

// The handle closed behind the object's back: the call fails synchronously, reported, paired.
TEST(ThreadpoolIo, HandleClosedBehindTheObjectFailsTheCall) {
  settles_at_end settles;
  pipe_pair pipe;
  auto io = make_io<on_destroy::wait>(pipe.server);
  pipe.close_server();
  outcome got;
  absl::StatusOr<modref::io_operation> op = io.read(0, bytes(4), got.callback());
  ASSERT_FALSE(op.ok());
  EXPECT_EQ(modref::win32_error_code(op.status()), std::optional<DWORD>(ERROR_INVALID_HANDLE))
      << op.status();
  EXPECT_EQ(io.pending(), 0u);
}

TEST(ThreadpoolIo, InjectedCreateFailureGivesEverythingBack) {
  settles_at_end settles;
  pipe_pair pipe;
  seams().fail_next_create = ERROR_NOT_ENOUGH_MEMORY;
  absl::Status s = modref::threadpool_io<on_destroy::wait>::create(pipe.server).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  // The handle was not bound: a real create still works.
  EXPECT_TRUE(modref::threadpool_io<on_destroy::wait>::create(pipe.server).ok());
}

}  // namespace
