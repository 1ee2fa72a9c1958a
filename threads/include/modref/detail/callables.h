// <modref/detail/callables.h> — internal helpers shared by <modref/thread.h> and
// <modref/threadpool.h>: the empty-callable check every starter makes before it pins anything,
// the exit code a callable's result gives its thread, and the mapping from a modref status to the
// std::system_error that throwing constructors report. Not part of the public API.
#ifndef MODREF_DETAIL_CALLABLES_H_
#define MODREF_DETAIL_CALLABLES_H_

#include <optional>
#include <string>
#include <system_error>
#include <type_traits>

#include "absl/status/status.h"
#if defined(_WIN32)
#include "modref/win32_error.h"
#else
#include "modref/posix_error.h"
#endif

namespace modref::detail {

// True for callables that can be null and are: null function and member pointers, and function
// objects testable as bool that test false (std::function, absl::AnyInvocable). Lambdas and other
// function objects are never empty.
template <class F>
bool callable_is_empty(const F& f) noexcept {
  if constexpr (std::is_pointer_v<F> || std::is_member_pointer_v<F>) {
    return f == nullptr;
  } else if constexpr (requires { f.operator bool(); }) {
    return !static_cast<bool>(f);
  } else {
    return false;
  }
}

// detail::exit_code_from<Code>(result)
// A thread's exit code from its callable's result: an enum's underlying value, an integer
// converted to `Code` (DWORD on Windows, std::uint32_t on Linux), anything else 0.
template <class Code, class R>
Code exit_code_from(R&& result) noexcept {
  using value = std::remove_cvref_t<R>;
  if constexpr (std::is_enum_v<value>) {
    return static_cast<Code>(static_cast<std::underlying_type_t<value>>(result));
  } else if constexpr (std::is_integral_v<value>) {
    return static_cast<Code>(result);
  } else {
    return Code{0};
  }
}

// The exception a throwing constructor reports for a failed start:
//   - a status carrying a Win32 error: that error in std::system_category(); on Linux, a status
//     carrying an errno value: that value in std::generic_category();
//   - otherwise by status code: kFailedPrecondition -> errc::operation_not_permitted (process
//     termination, module unloading, ...), kResourceExhausted -> errc::not_enough_memory,
//     anything else (an empty callable, a bad argument) -> errc::invalid_argument.
// The message is the status message.
inline std::system_error to_system_error(const absl::Status& status) {
#if defined(_WIN32)
  if (const std::optional<DWORD> code = win32_error_code(status)) {
    return std::system_error(static_cast<int>(*code), std::system_category(),
                             std::string(status.message()));
  }
#else
  if (const std::optional<int> code = posix_error_code(status)) {
    return std::system_error(*code, std::generic_category(), std::string(status.message()));
  }
#endif
  std::errc errc = std::errc::invalid_argument;
  if (status.code() == absl::StatusCode::kFailedPrecondition) {
    errc = std::errc::operation_not_permitted;
  } else if (status.code() == absl::StatusCode::kResourceExhausted) {
    errc = std::errc::not_enough_memory;
  }
  return std::system_error(std::make_error_code(errc), std::string(status.message()));
}

}  // namespace modref::detail

#endif  // MODREF_DETAIL_CALLABLES_H_
