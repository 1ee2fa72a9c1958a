// <modref/posix_error.h> — errno values as absl::Status, on Linux: what <modref/win32_error.h> is
// on Windows.
//
// Every modref call on Linux that fails with an errno value (pthread_create, pthread_join, open)
// reports an absl::Status whose message names what was attempted, the errno number, its name and
// the system's text, and whose payload carries the number so that code can branch on it without
// parsing text. Failures of the dynamic loader (dlopen, dladdr) carry no errno: their status
// quotes dlerror() instead and has no payload.
//
// Example:
//
//   absl::Status started = modref::start_detached(work);
//   if (modref::posix_error_code(started) == EAGAIN) { /* thread limit: retry later */ }
//   log(started);  // "pthread_create: errno 11 (EAGAIN): Resource temporarily unavailable"
//
// Lifetime: the functions return values; nothing is kept.
// Thread safety: all functions are thread-safe (strerror_r, no shared buffer); none touches errno
// of the caller except as documented.
#ifndef MODREF_POSIX_ERROR_H_
#define MODREF_POSIX_ERROR_H_

#if defined(_WIN32)
#error "<modref/posix_error.h> is for POSIX systems; on Windows use <modref/win32_error.h>"
#endif

#include <cerrno>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace modref {

// The payload type URL under which an errno value travels in an absl::Status.
inline constexpr absl::string_view kPosixErrorPayload = "type.modref/posix_error";

// modref::errno_preserver
// Saves errno on construction and restores it on destruction (last_error_preserver's POSIX twin).
class errno_preserver {
 public:
  errno_preserver() noexcept : saved_(errno) {}
  ~errno_preserver() { errno = saved_; }
  errno_preserver(const errno_preserver&) = delete;  // one saved value, one restore
  errno_preserver& operator=(const errno_preserver&) = delete;
  int saved() const noexcept { return saved_; }

 private:
  int saved_;
};

namespace detail {

inline absl::StatusCode status_code_for_errno(int code) noexcept {
  switch (code) {
    case ENOENT:
    case ESRCH:
      return absl::StatusCode::kNotFound;
    case EACCES:
    case EPERM:
      return absl::StatusCode::kPermissionDenied;
    case EINVAL:
    case EBADF:
    case ENOEXEC:
      return absl::StatusCode::kInvalidArgument;
    case ENOMEM:
    case EAGAIN:
    case EMFILE:
    case ENFILE:
      return absl::StatusCode::kResourceExhausted;
    case EDEADLK:
      return absl::StatusCode::kFailedPrecondition;
    case ETIMEDOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case ENOSYS:
    case ENOTSUP:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kUnknown;
  }
}

// detail::errno_name(code): the symbolic name of the common errno values, or "" (glibc has
// strerrorname_np from 2.32; this keeps the header usable with older C libraries).
inline const char* errno_name(int code) noexcept {
  switch (code) {
    case ENOENT:
      return "ENOENT";
    case ESRCH:
      return "ESRCH";
    case EACCES:
      return "EACCES";
    case EPERM:
      return "EPERM";
    case EINVAL:
      return "EINVAL";
    case EBADF:
      return "EBADF";
    case ENOEXEC:
      return "ENOEXEC";
    case ENOMEM:
      return "ENOMEM";
    case EAGAIN:
      return "EAGAIN";
    case EMFILE:
      return "EMFILE";
    case ENFILE:
      return "ENFILE";
    case EDEADLK:
      return "EDEADLK";
    case ETIMEDOUT:
      return "ETIMEDOUT";
    case ENOSYS:
      return "ENOSYS";
    default:
      return "";
  }
}

// detail::errno_text(code): the system's text for `code` (GNU strerror_r, thread-safe).
inline std::string errno_text(int code) {
  char buffer[256] = {};
#if defined(__GLIBC__) && defined(_GNU_SOURCE)
  return std::string(::strerror_r(code, buffer, sizeof buffer));
#else
  if (::strerror_r(code, buffer, sizeof buffer) != 0) return std::string();
  return std::string(buffer);
#endif
}

}  // namespace detail

// modref::posix_error_status(code, what)
// A non-OK status for errno value `code` met while doing `what`:
// "<what>: errno <code> (<NAME>): <system text>", with the number in the kPosixErrorPayload
// payload. `code` 0 is reported as kUnknown, never as OK. errno is left unchanged.
inline absl::Status posix_error_status(int code, absl::string_view what) {
  errno_preserver keep;
  const char* name = detail::errno_name(code);
  absl::Status status(detail::status_code_for_errno(code),
                      absl::StrCat(what, ": errno ", code, *name != '\0' ? " (" : "", name,
                                   *name != '\0' ? ")" : "", ": ", detail::errno_text(code)));
  status.SetPayload(kPosixErrorPayload, absl::Cord(absl::StrCat(code)));
  return status;
}

// modref::posix_error_code(status)
// The errno value a modref status carries, or nullopt when it carries none.
inline std::optional<int> posix_error_code(const absl::Status& status) {
  const auto payload = status.GetPayload(kPosixErrorPayload);  // absl::optional or std::optional
  if (!payload.has_value()) return std::nullopt;
  int code = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &code)) return std::nullopt;
  return code;
}

}  // namespace modref

#endif  // MODREF_POSIX_ERROR_H_
