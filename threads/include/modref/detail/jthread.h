// <modref/detail/jthread.h> — modref::jthread, written once for both platforms on top of
// modref::thread. Include <modref/thread.h>, not this file: it includes this one after defining
// modref::thread.
//
// jthread is std::jthread's interface over modref::thread: callables whose first parameter is a
// std::stop_token get one; destruction requests stop and joins. What differs by platform is only
// what finish_() must do where joining cannot work, and modref::thread provides it (from the
// platform's detail::native_thread):
//   - thread::exit_code_type: DWORD on Windows, std::uint32_t on Linux;
//   - thread::abandon_if_process_ending_(): on Windows during process termination (the system
//     already ended the thread) it forgets the handle and returns true; on Linux exit() leaves
//     threads running, so it always returns false;
//   - thread::report_detached_instead_of_joining_(): OutputDebugString on Windows, stderr on Linux.
//
// Example:
//
//   modref::jthread poller([](std::stop_token stop) {
//     while (!stop.stop_requested()) poll_once();
//   });  // ~jthread: request_stop(), then join()
#ifndef MODREF_DETAIL_JTHREAD_H_
#define MODREF_DETAIL_JTHREAD_H_

#if !defined(MODREF_DETAIL_THREAD_WIN32_H_) && !defined(MODREF_DETAIL_THREAD_LINUX_H_)
#error "include <modref/thread.h>, not <modref/detail/jthread.h>"
#endif

#include <concepts>
#include <stop_token>
#include <type_traits>
#include <utility>

#include "absl/status/statusor.h"

namespace modref {

// modref::jthread
// std::jthread's interface on top of modref::thread: a std::stop_token is passed to callables that
// take one as their first parameter; destruction requests stop and joins.
class jthread {
 public:
  using id = thread::id;
  using native_handle_type = thread::native_handle_type;

  jthread() noexcept : stop_(std::nostopstate) {}

  template <class F, class... Args>
  requires(!std::same_as<std::remove_cvref_t<F>, jthread>) &&
      detail::not_thread_options<F> explicit jthread(F&& f, Args&&... args)
      : jthread(thread_options{}, std::forward<F>(f), std::forward<Args>(args)...) {}

  template <class F, class... Args>
  jthread(const thread_options& options, F&& f, Args&&... args) {
    thread_ = start_(options, stop_, std::forward<F>(f), std::forward<Args>(args)...);
  }

  // jthread::start(f, args...)
  // As the constructor, but reports failure as a status instead of throwing.
  template <class F, class... Args>
  requires detail::not_thread_options<F>
  [[nodiscard]] static absl::StatusOr<jthread> start(F&& f, Args&&... args) {
    return start(thread_options{}, std::forward<F>(f), std::forward<Args>(args)...);
  }
  template <class F, class... Args>
  [[nodiscard]] static absl::StatusOr<jthread> start(const thread_options& options, F&& f,
                                                     Args&&... args) {
    jthread j;
    j.stop_ = std::stop_source();
    absl::StatusOr<thread> started =
        start_status_(options, j.stop_, std::forward<F>(f), std::forward<Args>(args)...);
    if (!started.ok()) return started.status();
    j.thread_ = *std::move(started);
    return j;
  }

  jthread(const jthread&) = delete;  // one thread, one owner
  jthread& operator=(const jthread&) = delete;
  jthread(jthread&&) noexcept = default;
  jthread& operator=(jthread&& other) noexcept {
    if (this != &other) {
      finish_();
      thread_ = std::move(other.thread_);
      stop_ = std::move(other.stop_);
    }
    return *this;
  }

  // ~jthread: requests stop, then joins — except where joining cannot work:
  //   - during process termination (Windows) it does nothing: the system already ended the
  //     thread. (At exit() on Linux the threads still run, so it joins as usual.)
  //   - on the thread itself, or where the thread could never finish (under the loader lock on
  //     Windows, inside this module's dlclose teardown on Linux) while the thread runs, it
  //     requests stop, detaches and says so (OutputDebugString / stderr) instead of deadlocking.
  ~jthread() { finish_(); }

  bool joinable() const noexcept { return thread_.joinable(); }
  id get_id() const noexcept { return thread_.get_id(); }
  native_handle_type native_handle() const noexcept { return thread_.native_handle(); }
  static unsigned hardware_concurrency() noexcept { return thread::hardware_concurrency(); }
  void join() { thread_.join(); }
  [[nodiscard]] absl::StatusOr<thread::exit_code_type> try_join() noexcept {
    return thread_.try_join();
  }
  void detach() { thread_.detach(); }

  std::stop_source get_stop_source() noexcept { return stop_; }
  std::stop_token get_stop_token() const noexcept { return stop_.get_token(); }
  bool request_stop() noexcept { return stop_.request_stop(); }

  void swap(jthread& other) noexcept {
    thread_.swap(other.thread_);
    stop_.swap(other.stop_);
  }
  friend void swap(jthread& a, jthread& b) noexcept { a.swap(b); }

 private:
  template <class F, class... Args>
  static absl::StatusOr<thread> start_status_(const thread_options& options,
                                              const std::stop_source& stop, F&& f, Args&&... args) {
    if constexpr (std::is_invocable_v<std::decay_t<F>, std::stop_token, std::decay_t<Args>...>) {
      return thread::start(options, std::forward<F>(f), stop.get_token(),
                           std::forward<Args>(args)...);
    } else {
      return thread::start(options, std::forward<F>(f), std::forward<Args>(args)...);
    }
  }
  template <class F, class... Args>
  static thread start_(const thread_options& options, const std::stop_source& stop, F&& f,
                       Args&&... args) {
    absl::StatusOr<thread> started =
        start_status_(options, stop, std::forward<F>(f), std::forward<Args>(args)...);
    if (!started.ok()) throw detail::to_system_error(started.status());
    return *std::move(started);
  }

  void finish_() noexcept {
    if (!thread_.joinable()) return;
    if (thread_.abandon_if_process_ending_()) return;  // touch nothing: the process is ending
    stop_.request_stop();
    absl::StatusOr<thread::exit_code_type> joined = thread_.try_join();
    if (!joined.ok()) {
      thread::report_detached_instead_of_joining_();
      thread_.close_();
    }
  }

  std::stop_source stop_;
  thread thread_;
};

}  // namespace modref

#endif  // MODREF_DETAIL_JTHREAD_H_
