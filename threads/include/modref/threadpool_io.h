// <modref/threadpool_io.h> — overlapped I/O whose completions cannot outlive the DLL, the
// OVERLAPPED or the buffer.
//
// Thread-pool I/O (CreateThreadpoolIo) adds three races of its own to the unload race: the
// completion runs after the host unloaded the DLL; the OVERLAPPED or the buffer dies while the
// I/O is still pending (WaitForThreadpoolIoCallbacks waits for, or cancels, queued callbacks, not
// pending I/O); and a StartThreadpoolIo not paired with CancelThreadpoolIo when the call completes
// without a completion packet makes the pool wait for a packet that never comes. This header
// closes all three by construction:
//
//   - modref::threadpool_io<Policy> is a pool I/O object for one HANDLE opened with
//     FILE_FLAG_OVERLAPPED, created in an environment that names the calling module
//     (SetThreadpoolCallbackLibrary) and pinning that module for its whole life, as the other
//     modref pool objects (<modref/threadpool.h>). It optionally owns (closes) the handle.
//   - Each operation (read, write, or start() for any overlapped call: ConnectNamedPipe,
//     DeviceIoControl, WSARecv ...) gets its own context holding the OVERLAPPED, the buffer's
//     owner (moved in) and the completion callable. The context lives until that operation's
//     completion has run; the completion gets the buffer back. StartThreadpoolIo and
//     CancelThreadpoolIo are paired in every path: a synchronous failure, a synchronous success
//     without a packet (FILE_SKIP_COMPLETION_PORT_ON_SUCCESS, ERROR_PIPE_CONNECTED).
//   - The completion receives absl::StatusOr<size_t>: the byte count, or the Win32 error
//     (kCancelled for ERROR_OPERATION_ABORTED, i.e. cancelled through CancelIoEx).
//   - cancel(op) and cancel_and_wait() cancel our OVERLAPPEDs with CancelIoEx and return only
//     after those completions have run. The destructor cancels every pending operation first,
//     under every policy, and then (wait, cancel) waits for their completions or (dont_wait)
//     hands the object to the module's closing callback, which waits instead.
//
// Example (a DLL reading a named pipe; the host may FreeLibrary it at any time after stop()):
//
//   class reader {
//    public:
//     absl::Status start(HANDLE pipe) {  // opened with FILE_FLAG_OVERLAPPED
//       absl::StatusOr<modref::threadpool_io<modref::on_destroy::cancel>> io =
//           modref::threadpool_io<modref::on_destroy::cancel>::create(
//               pipe, modref::io_options{.own_handle = true});
//       if (!io.ok()) return io.status();
//       io_ = *std::move(io);
//       return read_next(std::vector<std::byte>(4096));
//     }
//     void stop() { io_.reset(); }  // cancels the pending read and waits for its completion
//
//    private:
//     absl::Status read_next(std::vector<std::byte> buffer) {
//       return io_.read(0, std::move(buffer),
//                       [this](absl::StatusOr<size_t> got, std::vector<std::byte> buffer) {
//                         if (!got.ok()) return;  // broken pipe, cancelled, ...
//                         consume(std::span(buffer).first(*got));
//                         (void)read_next(std::move(buffer));  // refused once stop() began
//                       }).status();
//     }
//     void consume(std::span<const std::byte> bytes);
//     modref::threadpool_io<modref::on_destroy::cancel> io_;  // last member: dies first
//   };
//
// Buffers: read() and write() take the buffer's owner by value and give it back to the
// completion: a byte container (std::vector<std::byte>, std::vector<char>, std::string,
// std::array<std::byte, N> ...) or a std::unique_ptr / std::shared_ptr to one (a
// std::shared_ptr<const std::string> for data written to many handles). Views (std::span,
// std::string_view, raw pointers) are refused at compile time: nothing would keep the memory
// alive for the pending I/O. A null owner or an empty buffer is refused at run time.
//
// Destruction policies (as <modref/threadpool.h>; every policy first refuses new operations and
// cancels the pending ones with CancelIoEx):
//   on_destroy::wait       every completion runs (mostly with kCancelled); the destructor waits.
//   on_destroy::cancel     completions that have not started are dropped (the callable is
//                          destroyed without being called, the buffer freed); the destructor
//                          waits for the ones running.
//   on_destroy::dont_wait  returns at once; the module's closing callback waits for the
//                          completions, closes the pool object (and the handle, if owned) and
//                          frees the state; the module stays pinned until then.
// As for the other pool objects, a destructor never waits where waiting cannot end: in one of the
// object's own completions, or under the loader lock, wait and cancel close as dont_wait does
// (cancel and the loader lock still drop completions that have not started); during process
// termination nothing is touched at all (handles and state are leaked). The same situations make
// wait_for_callbacks(), cancel_and_wait() and cancel(op) return kFailedPrecondition;
// request_cancel() and request_cancel_all() never wait and are allowed everywhere but during
// termination.
//
// Lifetime
//   - The state (pool object, handle, module pin, list of pending operations) lives until the
//     last completion has run: in the destructor for wait and cancel, in the closing callback
//     for dont_wait. An operation's context (OVERLAPPED, buffer owner, callable) lives until its
//     completion has returned, or, when the call fails synchronously, until start() returns.
//   - Keep threadpool_io objects in things you destroy before the DLL is unloaded (a plugin
//     instance, a session), not in DLL globals: the object pins its module.
//   - The handle must stay open while the object exists unless the object owns it (own_handle:
//     closed after the pool object, once no I/O can be pending).
//   - A custom pool given through io_options::pool must outlive the object.
//
// Thread safety / memory ordering
//   - The owner uses the object from one thread at a time, as std::thread; completions may start
//     operations on their own object and request cancellation concurrently. Starting takes the
//     object's arm lock shared while it checks the flags, links the context and issues the call;
//     cancel_and_wait() and destruction take it exclusive to set their flag and cancel, so every
//     operation linked before is issued and cancelled, and none issued after. After the owner's
//     cancel_and_wait(), operations started from the object's own completions are refused until
//     the owner starts one again (as re-arming a timer).
//   - Completions of one object run concurrently on pool threads (several operations); the
//     callable of one operation runs once, on an rvalue. It may take a modref::callback_instance
//     first. An exception escaping it calls std::terminate.
//   - The list of pending operations and its counts are guarded by a modref::mutex (SRW lock and
//     condition variable: no per-thread state on pool threads). The "drop completions" flag is a
//     relaxed atomic: the wait for the pending count is the synchronisation point before the
//     state is destroyed.
#ifndef MODREF_THREADPOOL_IO_H_
#define MODREF_THREADPOOL_IO_H_

#ifndef _WIN32
#error "<modref/threadpool_io.h> is Windows-only"
#endif

#include <windows.h>
#include <winternl.h>

#include <array>
#include <atomic>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <new>
#include <ranges>
#include <span>
#include <string_view>
#include <type_traits>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "modref/detail/callables.h"
#include "modref/detail/threadpool_object.h"
#include "modref/module_ref.h"
#include "modref/mutex.h"
#include "modref/refcount.h"
#include "modref/win32_error.h"

namespace modref {

// modref::io_options
// How a threadpool_io is created.
struct io_options {
  // Where completions run (the process's default pool when pool is null), their priority and
  // the runs-long hint. The callback library is always the calling module.
  threadpool_options pool = {};
  // Close the handle (CloseHandle) once the pool object is closed and no I/O can be pending.
  // Taken only when create() succeeds: on failure the caller still owns the handle.
  bool own_handle = false;
  // SetFileCompletionNotificationModes(FILE_SKIP_COMPLETION_PORT_ON_SUCCESS): a call that
  // succeeds synchronously queues no completion packet; modref then cancels the pool's
  // expectation (CancelThreadpoolIo) and runs the completion on a pool callback itself. Set this
  // mode only here: on a handle where it was set behind modref's back a synchronous success
  // would be waited for for ever.
  bool skip_completion_port_on_success = false;
};

// modref::io_operation
// Names one started operation of a threadpool_io, for cancel() and request_cancel(). A value:
// it stays valid (and harmless) after the operation completed; it never names another one.
class io_operation {
 public:
  io_operation() noexcept = default;
  explicit operator bool() const noexcept { return id_ != 0; }
  std::uint64_t id() const noexcept { return id_; }
  friend bool operator==(io_operation, io_operation) = default;

 private:
  template <on_destroy>
  friend class threadpool_io;
  explicit io_operation(std::uint64_t id) noexcept : id_(id) {}
  std::uint64_t id_ = 0;
};

// modref::io_call(ok)
// The result an issue callable given to threadpool_io::start() returns for a BOOL-returning
// overlapped call: ERROR_SUCCESS when it returned TRUE, GetLastError() otherwise.
// `io.start([](HANDLE h, OVERLAPPED* o) { return modref::io_call(::ConnectNamedPipe(h, o)); }, f)`
inline DWORD io_call(BOOL ok) noexcept { return ok ? ERROR_SUCCESS : ::GetLastError(); }

namespace detail {

#if defined(MODREF_TEST_SEAMS)
// Test seams of threadpool_io (with MODREF_TEST_SEAMS): skip the pairing CancelThreadpoolIo, so
// a test can show what the raw pattern does; count contexts alive.
struct io_test_seams {
  std::atomic<bool> skip_cancel_threadpool_io{false};
  std::atomic<long> live_operations{0};
};
inline constinit io_test_seams g_io_test_seams;
#endif

// ---------------------------------------------------------------------------------------------
// Buffers

template <class T>
struct io_is_owner_pointer : std::false_type {};
template <class T, class D>
struct io_is_owner_pointer<std::unique_ptr<T, D>> : std::true_type {
  using element = T;
};
template <class T>
struct io_is_owner_pointer<std::shared_ptr<T>> : std::true_type {
  using element = T;
};

// A contiguous, sized range of byte-sized trivially copyable elements that owns them.
template <class R>
concept io_byte_container = std::ranges::contiguous_range<R> && std::ranges::sized_range<R> &&
                                sizeof(std::ranges::range_value_t<R>) == 1 &&
                            std::is_trivially_copyable_v<std::ranges::range_value_t<R>>;

template <class B>
concept io_owned_buffer = (io_byte_container<B> && !std::ranges::borrowed_range<B>) ||
                          (io_is_owner_pointer<B>::value &&
                           requires { typename io_is_owner_pointer<B>::element; } &&
                           io_byte_container<typename io_is_owner_pointer<B>::element>);

// A borrowed span: only modref's own awaitables use it (the awaiting frame owns the bytes and
// resumes only after the completion ran).
struct io_borrowed_bytes {
  std::span<std::byte> bytes;
};

// No buffer (start(issue, done)): an empty owner.
struct io_no_buffer {};

// The bytes of a buffer owner; empty for a null owner pointer.
template <class B>
std::span<const std::byte> io_bytes(const B& buffer) noexcept {
  if constexpr (std::same_as<B, io_borrowed_bytes>) {
    return buffer.bytes;
  } else if constexpr (std::same_as<B, io_no_buffer>) {
    return {};
  } else if constexpr (io_is_owner_pointer<B>::value) {
    if (!buffer) return {};
    return io_bytes(*buffer);
  } else {
    return std::as_bytes(std::span(std::ranges::data(buffer), std::ranges::size(buffer)));
  }
}

// Whether the completion may write into the buffer (read needs it).
template <class B>
constexpr bool io_buffer_writable() {
  if constexpr (std::same_as<B, io_borrowed_bytes>) {
    return true;
  } else if constexpr (io_is_owner_pointer<B>::value) {
    return io_buffer_writable<std::remove_const_t<typename io_is_owner_pointer<B>::element>>() &&
           !std::is_const_v<typename io_is_owner_pointer<B>::element>;
  } else {
    return !std::is_const_v<std::remove_reference_t<std::ranges::range_reference_t<B>>>;
  }
}

template <class B>
void io_check_buffer_type() {
  static_assert(io_owned_buffer<B> || std::same_as<B, io_borrowed_bytes>,
                "modref::threadpool_io: the buffer must own its bytes and is moved into the "
                "operation until its completion has run: pass a byte container "
                "(std::vector<std::byte>, std::string, std::array ...) or a std::unique_ptr / "
                "std::shared_ptr to one; views (std::span, std::string_view, pointers) cannot "
                "keep pending I/O memory alive");
}

// Builds the absl::StatusOr<size_t> a completion receives.
inline absl::StatusOr<size_t> io_result(DWORD error, ULONG_PTR bytes, std::string_view what) {
  if (error == ERROR_SUCCESS) return static_cast<size_t>(bytes);
  if (error == ERROR_OPERATION_ABORTED) {
    return absl::CancelledError(
        absl::StrCat(what,
                     ": cancelled (CancelIoEx: cancel(), cancel_and_wait(), destruction or a stop "
                     "request), ",
                     bytes, " bytes transferred"));
  }
  return win32_error_status(error, absl::StrCat(what, " (", bytes, " bytes transferred)"));
}

// ---------------------------------------------------------------------------------------------
// Operations and state

struct io_state;

// detail::io_op_base
// What the state knows of an operation. `overlapped` is the first member of a standard-layout
// struct, so the OVERLAPPED* the pool hands back converts to the context.
struct io_op_base {
  OVERLAPPED overlapped{};
  io_state* state = nullptr;
  io_op_base* prev = nullptr;  // the state's list of pending operations; guarded by state->mu
  io_op_base* next = nullptr;
  std::uint64_t id = 0;
  std::string_view what;
  // Calls the completion (unless `call` is false) and destroys the callable and the buffer.
  void (*complete)(io_op_base* op, PTP_CALLBACK_INSTANCE instance, absl::StatusOr<size_t> result,
                   bool call) noexcept = nullptr;
  // Destroys the callable and the buffer without calling, and frees the context.
  void (*discard)(io_op_base* op) noexcept = nullptr;
  // Frees the context after complete() (its members are already gone).
  void (*free)(io_op_base* op) noexcept = nullptr;
};
static_assert(std::is_standard_layout_v<io_op_base>);

inline io_op_base* io_op_from(void* overlapped) noexcept {
  return reinterpret_cast<io_op_base*>(static_cast<OVERLAPPED*>(overlapped));
}

// detail::io_op<Buffer, Done>
// One operation: the OVERLAPPED (in the base), the buffer owner and the completion callable.
template <class Buffer, class Done>
struct io_op final {
  io_op_base base;
  alignas(Buffer) unsigned char buffer_storage[sizeof(Buffer)];
  alignas(Done) unsigned char done_storage[sizeof(Done)];

  template <class B, class D>
  io_op(B&& b, D&& d) {
    ::new (static_cast<void*>(buffer_storage)) Buffer(std::forward<B>(b));
    try {
      ::new (static_cast<void*>(done_storage)) Done(std::forward<D>(d));
    } catch (...) {
      buffer().~Buffer();
      throw;
    }
    base.complete = &complete_;
    base.discard = &discard_;
    base.free = &free_;
#if defined(MODREF_TEST_SEAMS)
    g_io_test_seams.live_operations.fetch_add(1, std::memory_order_relaxed);
#endif
  }
  ~io_op() {
#if defined(MODREF_TEST_SEAMS)
    g_io_test_seams.live_operations.fetch_sub(1, std::memory_order_relaxed);
#endif
  }
  io_op(const io_op&) = delete;  // the pool holds the OVERLAPPED's address
  io_op& operator=(const io_op&) = delete;

  Buffer& buffer() noexcept { return *std::launder(reinterpret_cast<Buffer*>(buffer_storage)); }
  Done& done() noexcept { return *std::launder(reinterpret_cast<Done*>(done_storage)); }

  static io_op* from(io_op_base* b) noexcept { return reinterpret_cast<io_op*>(b); }

  static void complete_(io_op_base* b, PTP_CALLBACK_INSTANCE instance,
                        absl::StatusOr<size_t> result, bool call) noexcept {
    io_op* op = from(b);
    if (call) {
      if constexpr (std::is_invocable_v<Done, callback_instance, absl::StatusOr<size_t>, Buffer>) {
        std::move(op->done())(callback_instance_access::make(instance), std::move(result),
                              std::move(op->buffer()));
      } else if constexpr (std::is_invocable_v<Done, absl::StatusOr<size_t>, Buffer>) {
        std::move(op->done())(std::move(result), std::move(op->buffer()));
      } else if constexpr (std::is_invocable_v<Done, callback_instance, absl::StatusOr<size_t>>) {
        std::move(op->done())(callback_instance_access::make(instance), std::move(result));
      } else {
        std::move(op->done())(std::move(result));
      }
    }
    op->done().~Done();
    op->buffer().~Buffer();
  }
  static void discard_(io_op_base* b) noexcept {
    io_op* op = from(b);
    op->done().~Done();
    op->buffer().~Buffer();
    delete op;
  }
  static void free_(io_op_base* b) noexcept { delete from(b); }
};

// Which forms a completion callable may take (Buffer: the owner moved back to it).
template <class Done, class Buffer>
constexpr bool io_done_invocable() {
  using D = std::decay_t<Done>;
  return std::is_invocable_v<D, callback_instance, absl::StatusOr<size_t>, Buffer> ||
         std::is_invocable_v<D, absl::StatusOr<size_t>, Buffer> ||
         std::is_invocable_v<D, callback_instance, absl::StatusOr<size_t>> ||
         std::is_invocable_v<D, absl::StatusOr<size_t>>;
}

// detail::io_state
// What a threadpool_io shares with its completions and the closing callback.
struct io_state final : ref_counted<io_state> {
  io_state(module_ref p, HANDLE f, const io_options& o)
      : pin(std::move(p)),
        file(f),
        own_handle(o.own_handle),
        skip_on_success(o.skip_completion_port_on_success),
        pool(o.pool) {}

  context_counter counted;
  module_ref pin;
  HANDLE file;
  const bool own_handle;
  const bool skip_on_success;
  const threadpool_options pool;
  PTP_IO io = nullptr;

  // Starting holds `arm_lock` shared while it checks `closing` / `stopped`, links the context and
  // issues the call; cancel_and_wait and close set their flag and cancel under it exclusive (see
  // the header comment). Relaxed atomics: the lock orders them.
  mutable tp_arm_lock arm_lock;
  std::atomic<bool> closing{false};
  std::atomic<bool> stopped{false};
  // Completions that have not started are dropped (on_destroy::cancel, loader lock). Relaxed:
  // see the header comment.
  std::atomic<bool> drop_queued{false};

  // The pending operations (linked before the call is issued, unlinked after the completion has
  // run) and their count.
  mutable mutex mu;
  io_op_base* head ABSL_GUARDED_BY(mu) = nullptr;
  size_t pending ABSL_GUARDED_BY(mu) = 0;
  std::uint64_t last_id ABSL_GUARDED_BY(mu) = 0;
  bool file_closed ABSL_GUARDED_BY(mu) = false;

  tp_close_node close_node;  // used once, by a destructor that hands the state to the closer

  // Links `op` (not yet issued); returns its id.
  std::uint64_t link(io_op_base* op) {
    const mutex_lock hold(mu);
    op->id = ++last_id;
    op->next = head;
    op->prev = nullptr;
    if (head != nullptr) head->prev = op;
    head = op;
    ++pending;
    return op->id;
  }

  // Unlinks `op` after its completion ran (or its call failed); awaiters are woken by unlock.
  void retire(io_op_base* op) {
    const mutex_lock hold(mu);
    if (op->prev != nullptr) {
      op->prev->next = op->next;
    } else {
      head = op->next;
    }
    if (op->next != nullptr) op->next->prev = op->prev;
    --pending;
  }

  bool is_pending(std::uint64_t id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    for (const io_op_base* op = head; op != nullptr; op = op->next) {
      if (op->id == id) return true;
    }
    return false;
  }

  // CancelIoEx on one pending operation (id) or all (id 0). Under `mu`, so no context is freed
  // meanwhile; a completion already running makes CancelIoEx fail with ERROR_NOT_FOUND, which
  // is fine.
  void cancel_pending(std::uint64_t id) {
    last_error_preserver keep;
    const mutex_lock hold(mu);
    if (file_closed) return;
    for (io_op_base* op = head; op != nullptr; op = op->next) {
      if (id == 0 || op->id == id) (void)::CancelIoEx(file, &op->overlapped);
    }
  }

  // Waits until no operation is pending (id 0) or until `id` has completed.
  void await_retired(std::uint64_t id) {
    const mutex_lock hold(mu);
    if (id == 0) {
      mu.await([this]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return pending == 0; });
    } else {
      mu.await([this, id]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return !is_pending(id); });
    }
  }

  // After the last completion: closes the pool object and, if owned, the handle.
  void close_handles() noexcept {
    ::WaitForThreadpoolIoCallbacks(io, FALSE);  // a completion may still be returning
    ::CloseThreadpoolIo(io);
    {
      const mutex_lock hold(mu);
      file_closed = true;
    }
    if (own_handle) ::CloseHandle(file);
  }
};

// The body of every completion, from the pool (entry) or from modref's own callback for a
// synchronous completion without a packet (sync_entry).
inline void io_finish(PTP_CALLBACK_INSTANCE instance, io_op_base* op, DWORD error,
                      ULONG_PTR bytes) noexcept {
  io_state* state = op->state;
  {
    const tp_running_scope running(state);  // a destructor in the callable must not wait here
    // Relaxed: see the header comment.
    const bool call = !state->drop_queued.load(std::memory_order_relaxed);
    absl::StatusOr<size_t> result =
        call ? io_result(error, bytes, op->what) : absl::StatusOr<size_t>(size_t{0});
    op->complete(op, instance, std::move(result), call);
    state->retire(op);  // from here the owner's waits may return and free the state
  }
  op->free(op);
}

inline void CALLBACK io_entry(PTP_CALLBACK_INSTANCE instance, void*, void* overlapped, ULONG error,
                              ULONG_PTR bytes, PTP_IO) noexcept {
  io_finish(instance, io_op_from(overlapped), error, bytes);
}

inline void CALLBACK io_sync_entry(PTP_CALLBACK_INSTANCE instance, void* raw) noexcept {
  io_op_base* op = static_cast<io_op_base*>(raw);
  io_finish(instance, op, ERROR_SUCCESS, op->overlapped.InternalHigh);
}

// The closing callback's part for a threadpool_io (see tp_hand_to_closer).
inline module_ref io_finish_close(tp_close_node* node) noexcept {
  ref_ptr<io_state> state(static_cast<io_state*>(node->state), adopt_ref);
  state->await_retired(0);
  state->close_handles();
  module_ref pin = std::move(state->pin);
  state.reset();
  return pin;
}

// No closing callback could be queued: leak everything (the pool object too: closing it while
// I/O is pending would free what the completion uses).
inline void io_abandon_close(tp_close_node*) noexcept {}

// detail::io_handle_check(file, what)
// OK for a handle opened for overlapped I/O; kInvalidArgument for an invalid or closed handle
// or one opened for synchronous I/O (FileModeInformation says FILE_SYNCHRONOUS_IO_*). When
// ntdll's NtQueryInformationFile cannot tell (not a file object), CreateThreadpoolIo decides.
inline absl::Status io_handle_check(HANDLE file, std::string_view what) {
  if (file == nullptr || file == INVALID_HANDLE_VALUE) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": null or INVALID_HANDLE_VALUE handle; pass a handle opened with "
                     "FILE_FLAG_OVERLAPPED"));
  }
  DWORD flags = 0;
  if (!::GetHandleInformation(file, &flags)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": invalid or closed handle (GetHandleInformation failed with Win32 error ",
        ::GetLastError(), ")"));
  }
  using query_fn = LONG(NTAPI*)(HANDLE, IO_STATUS_BLOCK*, void*, ULONG, ULONG);
  static const query_fn query = [] {
    const HMODULE ntdll = ::GetModuleHandleW(L"ntdll.dll");
    return ntdll != nullptr ? reinterpret_cast<query_fn>(reinterpret_cast<void*>(
                                  ::GetProcAddress(ntdll, "NtQueryInformationFile")))
                            : nullptr;
  }();
  if (query == nullptr) return absl::OkStatus();
  IO_STATUS_BLOCK iosb{};
  ULONG mode = 0;
  constexpr ULONG kFileModeInformation = 16;
  constexpr ULONG kSynchronousIo = 0x00000010 | 0x00000020;  // FILE_SYNCHRONOUS_IO_(NON)ALERT
  const LONG status = query(file, &iosb, &mode, sizeof(mode), kFileModeInformation);
  if (status == static_cast<LONG>(0xC0000008L)) {  // STATUS_INVALID_HANDLE
    return absl::InvalidArgumentError(absl::StrCat(what, ": invalid or closed handle"));
  }
  if (status >= 0 && (mode & kSynchronousIo) != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        what,
        ": the handle was opened for synchronous I/O; open it with FILE_FLAG_OVERLAPPED "
        "(CreateFile, CreateNamedPipe) or WSA_FLAG_OVERLAPPED (sockets)"));
  }
  return absl::OkStatus();
}

}  // namespace detail

// modref::threadpool_io<Policy>
// A pool I/O object (CreateThreadpoolIo) for one overlapped handle; see the header comment.
template <on_destroy Policy>
class threadpool_io {
 public:
  static constexpr on_destroy destroy_policy = Policy;
  using native_handle_type = PTP_IO;

  // An empty object: owns nothing; every operation returns kFailedPrecondition.
  threadpool_io() noexcept = default;
  // Creates the object; throws std::system_error on failure (see create()).
  explicit threadpool_io(HANDLE file, const io_options& options = {})
      : state_(detail::tp_value_or_throw(make_(file, options))) {}
  threadpool_io(const threadpool_io&) = delete;  // one pool object, one owner
  threadpool_io& operator=(const threadpool_io&) = delete;
  threadpool_io(threadpool_io&& other) noexcept = default;
  // Move assignment first ends the current object according to Policy.
  threadpool_io& operator=(threadpool_io&& other) noexcept {
    if (this != &other) {
      close();
      state_ = std::move(other.state_);
    }
    return *this;
  }
  // Cancels every pending operation and ends the object according to Policy.
  ~threadpool_io() { close(); }

  // threadpool_io::create(file, options)
  // Pins the calling module and binds `file` (opened with FILE_FLAG_OVERLAPPED) to a pool I/O
  // object in the module's callback environment. kInvalidArgument for a null, invalid or closed
  // handle, one opened for synchronous I/O, or one already bound to an I/O completion port
  // (another threadpool_io, CreateIoCompletionPort, BindIoCompletionCallback: a handle is bound
  // to one port for its life); kFailedPrecondition during process termination or while the
  // module unloads; the Win32 error otherwise. On failure nothing is pinned and the handle is not
  // closed, even with own_handle.
  [[nodiscard]] static absl::StatusOr<threadpool_io> create(HANDLE file,
                                                            const io_options& options = {}) {
    absl::StatusOr<ref_ptr<detail::io_state>> state = make_(file, options);
    if (!state.ok()) return state.status();
    threadpool_io object;
    object.state_ = *std::move(state);
    return object;
  }

  // threadpool_io::read(offset, buffer, done)
  // Reads up to size(buffer) bytes at `offset` (ignored by pipes and sockets) into `buffer`,
  // which is moved into the operation and given back to `done`. `done` is called once on a pool
  // thread as done(absl::StatusOr<size_t> bytes_read, Buffer buffer) or done(result), optionally
  // with a modref::callback_instance first. Returns the operation's name, or, with nothing
  // started and `done` not called: kInvalidArgument for a null or empty buffer, one larger than
  // 4 GiB - 1 or an empty callable; kFailedPrecondition on an empty object, during process
  // termination, while the object is destroyed or (from its own completion) after the owner's
  // cancel_and_wait(); the Win32 error when ReadFile fails synchronously (ERROR_HANDLE_EOF,
  // ERROR_BROKEN_PIPE, ERROR_INVALID_HANDLE for a handle closed behind the object's back ...).
  template <class Buffer, class Done>
  [[nodiscard]] absl::StatusOr<io_operation> read(std::uint64_t offset, Buffer buffer,
                                                  Done&& done) {
    detail::io_check_buffer_type<Buffer>();
    static_assert(detail::io_buffer_writable<Buffer>(),
                  "modref::threadpool_io::read: the buffer's bytes must be writable");
    return issue_<Buffer>(
        "modref::threadpool_io::read", offset, std::move(buffer), std::forward<Done>(done),
        [](HANDLE file, OVERLAPPED* overlapped, std::span<const std::byte> bytes) {
          return io_call(::ReadFile(file, const_cast<std::byte*>(bytes.data()),
                                    static_cast<DWORD>(bytes.size()), nullptr, overlapped));
        });
  }

  // threadpool_io::write(offset, buffer, done)
  // Writes `buffer` at `offset` (ignored by pipes and sockets); as read() otherwise (`done`
  // receives the number of bytes written). The buffer may hold const bytes.
  template <class Buffer, class Done>
  [[nodiscard]] absl::StatusOr<io_operation> write(std::uint64_t offset, Buffer buffer,
                                                   Done&& done) {
    detail::io_check_buffer_type<Buffer>();
    return issue_<Buffer>(
        "modref::threadpool_io::write", offset, std::move(buffer), std::forward<Done>(done),
        [](HANDLE file, OVERLAPPED* overlapped, std::span<const std::byte> bytes) {
          return io_call(::WriteFile(file, bytes.data(), static_cast<DWORD>(bytes.size()), nullptr,
                                     overlapped));
        });
  }

  // threadpool_io::start(issue, done)
  // Any overlapped call on the handle: `issue(HANDLE, OVERLAPPED*)` makes it and returns its
  // Win32 result (modref::io_call(BOOL) for BOOL functions; WSAGetLastError() for Winsock):
  //   ERROR_IO_PENDING             the completion comes later;
  //   ERROR_SUCCESS                completed; a packet comes unless the object was created with
  //                                skip_completion_port_on_success, in which case modref pairs
  //                                the StartThreadpoolIo and runs `done` on a pool callback;
  //   ERROR_PIPE_CONNECTED         (ConnectNamedPipe) completed, no packet: as the skipped case;
  //   ERROR_MORE_DATA              a warning: the packet comes, `done` gets the error;
  //   anything else                failed, no packet: start() returns it and `done` is not
  //                                called.
  // `issue` runs on this thread before start() returns, under the object's arm lock held shared:
  // it must only make the call. The OVERLAPPED is zeroed (offset 0); it is modref's until `done`
  // has run. `done` as for read(), without the buffer.
  template <class Issue, class Done>
  [[nodiscard]] absl::StatusOr<io_operation> start(Issue&& issue, Done&& done) {
    static_assert(std::is_invocable_r_v<DWORD, Issue&, HANDLE, OVERLAPPED*>,
                  "modref::threadpool_io::start: issue must be callable as "
                  "issue(HANDLE, OVERLAPPED*) and return the call's Win32 result (io_call)");
    return issue_<detail::io_no_buffer>(
        "modref::threadpool_io::start", 0, detail::io_no_buffer{}, std::forward<Done>(done),
        [&issue](HANDLE file, OVERLAPPED* overlapped, std::span<const std::byte>) -> DWORD {
          return issue(file, overlapped);
        });
  }

  // threadpool_io::start(buffer, issue, done)
  // As start(issue, done) for a call that needs a buffer: the owner is moved into the operation,
  // `issue(HANDLE, OVERLAPPED*, std::span<std::byte>)` gets its bytes, and `done` gets the owner
  // back as for read().
  template <class Buffer, class Issue, class Done>
  [[nodiscard]] absl::StatusOr<io_operation> start(Buffer buffer, Issue&& issue, Done&& done) {
    detail::io_check_buffer_type<Buffer>();
    static_assert(std::is_invocable_r_v<DWORD, Issue&, HANDLE, OVERLAPPED*, std::span<std::byte>>,
                  "modref::threadpool_io::start: issue must be callable as "
                  "issue(HANDLE, OVERLAPPED*, std::span<std::byte>) and return the call's Win32 "
                  "result (io_call)");
    return issue_<Buffer>(
        "modref::threadpool_io::start", 0, std::move(buffer), std::forward<Done>(done),
        [&issue](HANDLE file, OVERLAPPED* overlapped, std::span<const std::byte> bytes) -> DWORD {
          return issue(file, overlapped,
                       std::span<std::byte>(const_cast<std::byte*>(bytes.data()), bytes.size()));
        });
  }

  // threadpool_io::cancel(op)
  // Cancels one operation (CancelIoEx on its OVERLAPPED) and waits until its completion has run
  // (it usually gets kCancelled; an operation that was completing gets its real result). OK at
  // once for an operation that already completed. kFailedPrecondition on an empty object, during
  // termination, from one of the object's own completions or under the loader lock (use
  // request_cancel() there).
  [[nodiscard]] absl::Status cancel(io_operation op) {
    constexpr std::string_view what = "modref::threadpool_io::cancel";
    if (absl::Status ok = usable_(what); !ok.ok()) return ok;
    if (absl::Status ok = detail::tp_can_wait_for(state_.get(), what); !ok.ok()) return ok;
    if (!op) return absl::OkStatus();
    cancel_issued_(op.id());
    state_->await_retired(op.id());
    return absl::OkStatus();
  }

  // threadpool_io::request_cancel(op) / request_cancel_all()
  // CancelIoEx on one or every pending operation, without waiting: the completions follow on
  // pool threads. Allowed from completions and under the loader lock; kFailedPrecondition on an
  // empty object or during termination.
  absl::Status request_cancel(io_operation op) {
    constexpr std::string_view what = "modref::threadpool_io::request_cancel";
    if (absl::Status ok = usable_(what); !ok.ok()) return ok;
    if (op) state_->cancel_pending(op.id());
    return absl::OkStatus();
  }
  absl::Status request_cancel_all() {
    constexpr std::string_view what = "modref::threadpool_io::request_cancel_all";
    if (absl::Status ok = usable_(what); !ok.ok()) return ok;
    state_->cancel_pending(0);
    return absl::OkStatus();
  }

  // threadpool_io::cancel_and_wait()
  // Cancels every pending operation and waits until all their completions have run; operations
  // started from the object's own completions meanwhile are refused until the owner starts one
  // again. Refused as cancel() is.
  [[nodiscard]] absl::Status cancel_and_wait() {
    constexpr std::string_view what = "modref::threadpool_io::cancel_and_wait";
    if (absl::Status ok = usable_(what); !ok.ok()) return ok;
    if (absl::Status ok = detail::tp_can_wait_for(state_.get(), what); !ok.ok()) return ok;
    {
      const detail::tp_exclusive_guard guard(state_->arm_lock);
      state_->stopped.store(true, std::memory_order_relaxed);  // ordered by the lock
    }
    state_->cancel_pending(0);
    state_->await_retired(0);
    ::WaitForThreadpoolIoCallbacks(state_->io, FALSE);
    return absl::OkStatus();
  }

  // threadpool_io::wait_for_callbacks()
  // Waits, without cancelling, until no operation is pending and every completion has returned.
  // A pipe read with no writer never completes: prefer cancel_and_wait(). Refused as cancel().
  [[nodiscard]] absl::Status wait_for_callbacks() {
    constexpr std::string_view what = "modref::threadpool_io::wait_for_callbacks";
    if (absl::Status ok = usable_(what); !ok.ok()) return ok;
    if (absl::Status ok = detail::tp_can_wait_for(state_.get(), what); !ok.ok()) return ok;
    state_->await_retired(0);
    ::WaitForThreadpoolIoCallbacks(state_->io, FALSE);
    return absl::OkStatus();
  }

  // threadpool_io::pending()
  // The number of operations started whose completion has not finished (0 on an empty object).
  size_t pending() const {
    if (!state_) return 0;
    const mutex_lock hold(state_->mu);
    return state_->pending;
  }

  // threadpool_io::reset()
  // Ends the object now, according to Policy, and leaves it empty.
  void reset() noexcept { close(); }

  native_handle_type get() const noexcept { return state_ ? state_->io : nullptr; }
  HANDLE file() const noexcept { return state_ ? state_->file : nullptr; }
  explicit operator bool() const noexcept { return static_cast<bool>(state_); }
  void swap(threadpool_io& other) noexcept { state_.swap(other.state_); }
  friend void swap(threadpool_io& a, threadpool_io& b) noexcept { a.swap(b); }

 private:
  static absl::StatusOr<ref_ptr<detail::io_state>> make_(HANDLE file, const io_options& options) {
    constexpr std::string_view what = "modref::threadpool_io::create";
    if (detail::tp_process_terminating()) return detail::tp_termination_refusal(what);
    if (absl::Status ok = detail::io_handle_check(file, what); !ok.ok()) return ok;
    absl::StatusOr<module_ref> pin = module_ref::pin_current();
    if (!pin.ok()) return pin.status();
    ref_ptr<detail::io_state> state;
    try {
      state = make_ref<detail::io_state>(*std::move(pin), file, options);
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory for the state"));
    }
    TP_CALLBACK_ENVIRON env;
    detail::tp_build_environment(env, options.pool);
    PTP_IO io = nullptr;
#if defined(MODREF_TEST_SEAMS)
    if (const DWORD injected =
            detail::take_injected_failure(detail::g_threadpool_test_seams.fail_next_create)) {
      ::SetLastError(injected);
    } else
#endif
    {
      io = ::CreateThreadpoolIo(file, &detail::io_entry, state.get(), &env);
    }
    ::DestroyThreadpoolEnvironment(&env);
    if (io == nullptr) {
      const DWORD error = ::GetLastError();
      state.reset();  // the pin is given back
      ::SetLastError(error);
      if (error == ERROR_INVALID_PARAMETER) {
        return absl::InvalidArgumentError(absl::StrCat(
            what,
            ": CreateThreadpoolIo refused the handle (Win32 error 87): it is already bound to an "
            "I/O completion port (another threadpool_io, CreateIoCompletionPort, "
            "BindIoCompletionCallback; a handle is bound to one port for its life) or was not "
            "opened with FILE_FLAG_OVERLAPPED"));
      }
      return win32_error_status(error, absl::StrCat(what, ": CreateThreadpoolIo"));
    }
    state->io = io;
    if (options.skip_completion_port_on_success &&
        !::SetFileCompletionNotificationModes(file, FILE_SKIP_COMPLETION_PORT_ON_SUCCESS)) {
      const DWORD error = ::GetLastError();
      ::CloseThreadpoolIo(io);
      state.reset();
      ::SetLastError(error);
      return win32_error_status(error, absl::StrCat(what,
                                                    ": SetFileCompletionNotificationModes("
                                                    "FILE_SKIP_COMPLETION_PORT_ON_SUCCESS)"));
    }
    return state;
  }

  absl::Status usable_(std::string_view what) const {
    if (!state_) return detail::tp_empty_object(what);
    if (detail::tp_process_terminating()) return detail::tp_termination_refusal(what);
    return absl::OkStatus();
  }

  // Every operation linked before this returns has been issued (the issuer held the arm lock
  // shared from linking to the call), so CancelIoEx finds it.
  void cancel_issued_(std::uint64_t id) {
    { const detail::tp_exclusive_guard guard(state_->arm_lock); }
    state_->cancel_pending(id);
  }

  enum class sync_outcome { pending, completed_without_packet, failed };

  static sync_outcome classify_(DWORD result, bool skip_on_success) noexcept {
    switch (result) {
      case ERROR_IO_PENDING:
      case ERROR_MORE_DATA:  // a warning status: the packet is queued
        return sync_outcome::pending;
      case ERROR_SUCCESS:
        return skip_on_success ? sync_outcome::completed_without_packet : sync_outcome::pending;
      case ERROR_PIPE_CONNECTED:
        return sync_outcome::completed_without_packet;
      default:
        return sync_outcome::failed;
    }
  }

  template <class Buffer, class Done, class Call>
  absl::StatusOr<io_operation> issue_(std::string_view what, std::uint64_t offset, Buffer buffer,
                                      Done&& done, Call call) {
    using done_type = std::decay_t<Done>;
    using op_type = detail::io_op<Buffer, done_type>;
    static_assert(detail::io_done_invocable<Done, Buffer>(),
                  "modref::threadpool_io: the completion must be callable (once, as an rvalue) as "
                  "done(absl::StatusOr<size_t>, Buffer) or done(absl::StatusOr<size_t>), "
                  "optionally with a modref::callback_instance first");
    if (absl::Status ok = usable_(what); !ok.ok()) return ok;
    if (detail::callable_is_empty(done)) return detail::tp_empty_callable(what);
    const std::span<const std::byte> bytes = detail::io_bytes(buffer);
    if constexpr (!std::same_as<Buffer, detail::io_no_buffer>) {
      if (bytes.data() == nullptr || bytes.empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": null or empty buffer; pass the bytes to transfer (nothing was started)"));
      }
      if (bytes.size() > (std::numeric_limits<DWORD>::max)()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": buffer larger than 4 GiB - 1 bytes; split the transfer"));
      }
    }
    op_type* op = nullptr;
    try {
      op = new op_type(std::move(buffer), std::forward<Done>(done));
    } catch (const std::bad_alloc&) {
      return absl::ResourceExhaustedError(absl::StrCat(what, ": out of memory for the operation"));
    }
    op->base.state = state_.get();
    op->base.what = what;
    op->base.overlapped.Offset = static_cast<DWORD>(offset & 0xFFFFFFFFu);
    op->base.overlapped.OffsetHigh = static_cast<DWORD>(offset >> 32);
    const std::span<const std::byte> op_bytes = detail::io_bytes(op->buffer());

    detail::io_state& state = *state_;
    std::uint64_t id = 0;
    DWORD result = ERROR_SUCCESS;
    sync_outcome outcome = sync_outcome::pending;
    {
      const detail::tp_shared_guard guard(state.arm_lock);
      // Relaxed: ordered by the arm lock (see the header comment).
      if (state.closing.load(std::memory_order_relaxed)) {
        op->base.discard(&op->base);
        return absl::FailedPreconditionError(absl::StrCat(
            what, ": the object is being destroyed; no operation can be started on it"));
      }
      if (state.stopped.load(std::memory_order_relaxed)) {
        if (detail::tp_running_state() == state_.get()) {
          op->base.discard(&op->base);
          return absl::FailedPreconditionError(absl::StrCat(
              what,
              ": refused from the object's own completion: its owner called cancel_and_wait() "
              "and only the owner starts operations again"));
        }
        state.stopped.store(false, std::memory_order_relaxed);  // the owner starts again
      }
      id = state.link(&op->base);
      ::StartThreadpoolIo(state.io);
      result = call(state.file, &op->base.overlapped, op_bytes);
      // From here a pending operation may already have completed and been freed: only `id`,
      // `result` and the state are used below, except in the paths without a packet.
      outcome = classify_(result, state.skip_on_success);
      if (outcome != sync_outcome::pending) {
#if defined(MODREF_TEST_SEAMS)
        if (!detail::g_io_test_seams.skip_cancel_threadpool_io.load(std::memory_order_relaxed))
#endif
          ::CancelThreadpoolIo(state.io);  // no packet will come for this call
      }
    }
    switch (outcome) {
      case sync_outcome::pending:
        return io_operation(id);
      case sync_outcome::failed:
        state.retire(&op->base);
        op->base.discard(&op->base);
        ::SetLastError(result);
        return win32_error_status(result, absl::StrCat(what, ": the call failed synchronously"));
      case sync_outcome::completed_without_packet:
        break;
    }
    // Completed without a packet: run the completion on a pool callback, as the packet would.
    TP_CALLBACK_ENVIRON env;
    detail::tp_build_environment(env, state.pool);
    const BOOL queued = ::TrySubmitThreadpoolCallback(&detail::io_sync_entry, &op->base, &env);
    ::DestroyThreadpoolEnvironment(&env);
    if (!queued) {
      // No pool callback: run it here rather than never (the own-callback marker is set, so a
      // destructor in it does not wait for itself). There is no callback instance here:
      // callback_instance::may_run_long() returns false.
      detail::io_finish(nullptr, &op->base, ERROR_SUCCESS, op->base.overlapped.InternalHigh);
    }
    return io_operation(id);
  }

  // Ends the object according to Policy; see the header comment. GetLastError() is kept.
  void close() noexcept {
    if (!state_) return;
    last_error_preserver keep;
    if (detail::tp_process_terminating()) {
      (void)state_.detach();  // touch nothing: see <modref/threadpool.h>
#if defined(MODREF_TEST_SEAMS)
      detail::g_threadpool_test_seams.abandoned_for_termination.fetch_add(
          1, std::memory_order_relaxed);
#endif
      return;
    }
    {
      const detail::tp_exclusive_guard guard(state_->arm_lock);
      state_->closing.store(true, std::memory_order_relaxed);  // ordered by the lock
      if constexpr (Policy == on_destroy::cancel) {
        state_->drop_queued.store(true, std::memory_order_relaxed);
      }
    }
    state_->cancel_pending(0);  // every operation linked so far has been issued
    if constexpr (Policy != on_destroy::dont_wait) {
      const detail::tp_wait_refusal refusal = detail::tp_why_not_wait(state_.get());
      if (refusal == detail::tp_wait_refusal::none) {
        state_->await_retired(0);
        state_->close_handles();
        module_ref pin = std::move(state_->pin);
        state_.reset();
        return;  // `pin` is released last, on the owner's thread
      }
      const bool loader_lock = refusal == detail::tp_wait_refusal::loader_lock;
      if (loader_lock) state_->drop_queued.store(true, std::memory_order_relaxed);
      ::OutputDebugStringA(
          loader_lock
              ? "modref: threadpool_io destroyed under the loader lock: pending I/O cancelled, "
                "queued completions dropped, closing without waiting (the closing callback "
                "waits instead)\n"
              : "modref: threadpool_io destroyed from its own completion: pending I/O cancelled, "
                "closing without waiting (the closing callback waits instead)\n");
#if defined(MODREF_TEST_SEAMS)
      detail::g_threadpool_test_seams.closed_without_waiting.fetch_add(1,
                                                                       std::memory_order_relaxed);
#endif
    }
    detail::io_state* state = state_.detach();
    state->close_node.state = state;
    state->close_node.finish = &detail::io_finish_close;
    state->close_node.abandon = &detail::io_abandon_close;
    detail::tp_hand_to_closer(&state->close_node);
  }

  ref_ptr<detail::io_state> state_;
};

}  // namespace modref

#endif  // MODREF_THREADPOOL_IO_H_
