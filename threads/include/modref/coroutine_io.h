// <modref/coroutine_io.h> — co_await overlapped reads and writes on a modref::threadpool_io.
//
// `co_await modref::async_read(io, offset, buffer, stop)` starts a read on `io`
// (<modref/threadpool_io.h>) into `buffer` and continues the coroutine once the completion has
// run, with the absl::StatusOr<size_t> the completion received; async_write likewise. The
// awaiting frame owns the bytes (a std::span into it is enough: the coroutine cannot continue,
// so the frame cannot release them, before the completion ran). A stop request on `stop` cancels
// the pending I/O (CancelIoEx on its OVERLAPPED); the coroutine still resumes only after that
// operation's completion has run, with kCancelled (or the real result when the I/O won the race).
// The coroutine continues on a modref pool callback in an environment naming the calling module,
// inside a coroutine resume scope (<modref/detail/coroutine_frame.h>), never inside the I/O
// completion itself: a coroutine that destroys `io` after the await does not wait for its own
// callback.
//
// Example:
//
//   modref::fire_and_forget echo(modref::threadpool_io<modref::on_destroy::cancel>& pipe,
//                                std::stop_token stop) {
//     std::array<std::byte, 4096> buffer;  // in the frame
//     for (;;) {
//       absl::StatusOr<size_t> got = co_await modref::async_read(pipe, 0, buffer, stop);
//       if (!got.ok()) co_return;  // cancelled by stop, broken pipe, ...
//       absl::StatusOr<size_t> put =
//           co_await modref::async_write(pipe, 0, std::span(buffer).first(*got), stop);
//       if (!put.ok()) co_return;
//     }
//   }
//
// Errors (the co_await returns them; nothing is started, pinned or leaked): every refusal of
// threadpool_io::read / write (empty object, empty buffer, closing object, synchronous failure);
// kFailedPrecondition during process termination or under the loader lock (a coroutine may not
// suspend there); the Win32 error when the resumption cannot be queued (the coroutine then
// continues inside the completion). A token already stopped when the co_await starts: kCancelled
// without starting anything.
//
// Lifetime: the awaiter lives in the awaiting frame; `io` must outlive the co_await (destroying it
// meanwhile from elsewhere is allowed under every policy: its destructor cancels the read, the
// coroutine resumes with kCancelled -- also where on_destroy::cancel drops the completion
// without calling it -- and must not touch `io` afterwards).
//
// Thread safety / memory ordering: one atomic count of two shares (the starting thread's and the
// completion's) decides who continues the coroutine (acq_rel: the last one sees the other's
// writes). The completion destroys the stop callback before anything else (std::stop_callback's
// destructor waits for one running on another thread), so no stop callback touches `io` after
// the completion ran.
#ifndef MODREF_COROUTINE_IO_H_
#define MODREF_COROUTINE_IO_H_

#ifndef _WIN32
#error "<modref/coroutine_io.h> is Windows-only"
#endif

#include <windows.h>

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <ranges>
#include <span>
#include <stop_token>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "modref/detail/coroutine_frame.h"
#include "modref/threadpool_io.h"

namespace modref {
namespace detail {

// detail::io_awaiter<Policy, Write>
// What async_read (Write false) and async_write (true) return.
template <on_destroy Policy, bool Write>
class io_awaiter {
 public:
  io_awaiter(threadpool_io<Policy>& io, std::uint64_t offset, std::span<std::byte> bytes,
             std::stop_token stop) noexcept
      : io_(io), offset_(offset), bytes_(bytes), stop_(std::move(stop)) {}
  io_awaiter(const io_awaiter&) = delete;  // the completion knows its address
  io_awaiter& operator=(const io_awaiter&) = delete;

  bool await_ready() noexcept {
    if (stop_.stop_requested()) {
      result_ = absl::CancelledError(
          absl::StrCat(what(), ": stop was requested before the operation started"));
      return true;
    }
    return false;
  }

  bool await_suspend(std::coroutine_handle<> awaiting) noexcept {
    switch (coro_may_suspend()) {
      case coro_refusal::terminating:
        result_ = tp_termination_refusal(what());
        return false;
      case coro_refusal::loader_lock:
        result_ = absl::FailedPreconditionError(
            absl::StrCat(what(),
                         ": refused under the loader lock (inside DllMain): the coroutine could "
                         "never be resumed"));
        return false;
      default:
        break;
    }
    frame_ = awaiting;
    completion done(this);
    absl::StatusOr<io_operation> started =
        Write ? io_.write(offset_, io_borrowed_bytes{bytes_}, std::move(done))
              : io_.read(offset_, io_borrowed_bytes{bytes_}, std::move(done));
    if (!started.ok()) {
      done.disarm();  // refused before taking it: `done` must not end the await a second time
      result_ = started.status();
      return false;
    }
    op_ = *started;
    if (stop_.stop_possible()) {
      // May run the request right here if a stop was requested meanwhile.
      on_stop_.emplace(stop_, stop_request{this});
    }
    // acq_rel: the last of the two shares sees the other's writes.
    if (shares_.fetch_sub(1, std::memory_order_acq_rel) != 1) return true;
    on_stop_.reset();  // the completion already ran: continue here
    return false;
  }

  absl::StatusOr<size_t> await_resume() noexcept { return std::move(result_); }

 private:
  static constexpr std::string_view what() noexcept {
    return Write ? "co_await modref::async_write" : "co_await modref::async_read";
  }

  struct stop_request {
    io_awaiter* self;
    void operator()() const noexcept { (void)self->io_.request_cancel(self->op_); }
  };

  // The operation's completion callable. Destroyed without being called -- threadpool_io drops
  // completions that have not started when it is destroyed under on_destroy::cancel or under the
  // loader lock -- it still ends the await, with kCancelled: a suspended frame is never stranded
  // (it would keep its pin, and the module loaded, for ever). When read() or write() refuses the
  // operation it is either still here (refused before taking it: disarmed) or destroyed before
  // they return (a synchronous failure of the call); the result it then sets is overwritten with
  // the refusal, and its share is not the last (await_suspend still holds its own).
  class completion {
   public:
    explicit completion(io_awaiter* self) noexcept : self_(self) {}
    completion(completion&& other) noexcept : self_(std::exchange(other.self_, nullptr)) {}
    completion& operator=(completion&&) = delete;
    ~completion() {
      if (self_ != nullptr) {
        self_->completed(absl::CancelledError(
            absl::StrCat(what(),
                         ": the I/O object was destroyed before the operation's completion "
                         "ran (on_destroy::cancel drops completions that have not started)")));
      }
    }
    void operator()(absl::StatusOr<size_t> result) noexcept {
      std::exchange(self_, nullptr)->completed(std::move(result));
    }
    void disarm() noexcept { self_ = nullptr; }

   private:
    io_awaiter* self_;
  };

  // The operation's completion (a pool thread, inside the I/O callback).
  void completed(absl::StatusOr<size_t> result) noexcept {
    result_ = std::move(result);
    // acq_rel: see the header comment. Not last: await_suspend is still arming and continues.
    if (shares_.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
    on_stop_.reset();  // waits for a stop request running on another thread
    TP_CALLBACK_ENVIRON env;
    tp_build_environment(env, threadpool_options{});
    const BOOL queued = ::TrySubmitThreadpoolCallback(&resume_entry, this, &env);
    ::DestroyThreadpoolEnvironment(&env);
    if (queued) return;
    // No pool callback: continue inside the completion rather than never.
    coro_resume_scope scope(nullptr, current_module());
    frame_.resume();
  }

  static void CALLBACK resume_entry(PTP_CALLBACK_INSTANCE instance, void* raw) noexcept {
    coro_resume_scope scope(instance, current_module());  // first object: its destructor is last
    static_cast<io_awaiter*>(raw)->frame_.resume();
  }

  threadpool_io<Policy>& io_;
  std::uint64_t offset_;
  std::span<std::byte> bytes_;
  std::stop_token stop_;
  std::optional<std::stop_callback<stop_request>> on_stop_;
  std::coroutine_handle<> frame_;
  io_operation op_;
  std::atomic<int> shares_{2};  // the starting thread's and the completion's
  absl::StatusOr<size_t> result_ = absl::UnknownError("not completed");
};

template <class Bytes>
std::span<std::byte> io_awaited_bytes(Bytes&& bytes) noexcept {
  return std::as_writable_bytes(std::span(std::ranges::data(bytes), std::ranges::size(bytes)));
}

}  // namespace detail

// modref::async_read(io, offset, buffer, stop)
// `co_await modref::async_read(io, offset, buffer)` reads up to size(buffer) bytes at `offset`
// (ignored by pipes) and returns absl::StatusOr<size_t>; see the header comment. `buffer` is any
// contiguous range of writable bytes the frame keeps alive (std::array, std::vector, a span of
// one).
template <on_destroy Policy, class Bytes>
[[nodiscard]] detail::io_awaiter<Policy, false> async_read(threadpool_io<Policy>& io,
                                                           std::uint64_t offset, Bytes&& buffer,
                                                           std::stop_token stop = {}) noexcept {
  return detail::io_awaiter<Policy, false>(io, offset, detail::io_awaited_bytes(buffer),
                                           std::move(stop));
}

// modref::async_write(io, offset, buffer, stop)
// `co_await modref::async_write(io, offset, buffer)` writes `buffer` at `offset` and returns the
// number of bytes written as absl::StatusOr<size_t>; as async_read otherwise.
template <on_destroy Policy, class Bytes>
[[nodiscard]] detail::io_awaiter<Policy, true> async_write(threadpool_io<Policy>& io,
                                                           std::uint64_t offset, Bytes&& buffer,
                                                           std::stop_token stop = {}) noexcept {
  auto bytes = std::as_bytes(std::span(std::ranges::data(buffer), std::ranges::size(buffer)));
  return detail::io_awaiter<Policy, true>(
      io, offset, std::span<std::byte>(const_cast<std::byte*>(bytes.data()), bytes.size()),
      std::move(stop));
}

}  // namespace modref

#endif  // MODREF_COROUTINE_IO_H_
