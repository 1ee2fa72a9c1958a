// <modref/win32_error.h> — Win32 errors as absl::Status, and cleanup that keeps GetLastError().
//
// Every modref call that can fail reports an absl::Status whose message names what was attempted,
// the Win32 error number and the system's text for it, and whose payload carries the number so
// that code can branch on it without parsing text.
//
// Example:
//
//   absl::StatusOr<modref::module_ref> plugin = modref::module_ref::load(L"C:\\app\\plugin.dll");
//   if (!plugin.ok()) {
//     if (modref::win32_error_code(plugin.status()) == ERROR_MOD_NOT_FOUND) { /* not installed */ }
//     log(plugin.status());  // "LoadLibraryExW(C:\app\plugin.dll): Win32 error 126: The specified
//                            //  module could not be found."
//   }
//
//   void close_quietly(HANDLE h) {
//     modref::last_error_preserver keep;  // CloseHandle must not clobber the caller's error
//     CloseHandle(h);
//   }
//
// Thread safety: all functions are thread-safe; last_error_preserver works on the calling thread's
// last-error value.
#ifndef MODREF_WIN32_ERROR_H_
#define MODREF_WIN32_ERROR_H_

#ifndef _WIN32
#error "<modref/win32_error.h> is Windows-only"
#endif

#include <windows.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace modref {

// The payload type URL under which a Win32 error number travels in an absl::Status.
inline constexpr std::string_view kWin32ErrorPayload = "type.modref/win32_error";

// modref::last_error_preserver
// Saves GetLastError() on construction and restores it on destruction.
class last_error_preserver {
 public:
  last_error_preserver() noexcept : saved_(::GetLastError()) {}
  ~last_error_preserver() { ::SetLastError(saved_); }
  last_error_preserver(const last_error_preserver&) = delete;  // one saved value, one restore
  last_error_preserver& operator=(const last_error_preserver&) = delete;
  DWORD saved() const noexcept { return saved_; }

 private:
  DWORD saved_;
};

namespace detail {

// detail::utf8_from_wide(text)
// `text` (UTF-16, as Windows hands it out) in UTF-8. Never throws on content: ill-formed UTF-16
// (an unpaired surrogate, which file names may contain) becomes U+FFFD. The one place where modref
// turns wide text into message text; std::filesystem::path::string() is not used for that, because
// it converts to the ANSI code page with MSVC's STL and throws for any character outside it.
inline std::string utf8_from_wide(std::wstring_view text) {
  std::string out;
  if (text.empty()) return out;
  const int length = static_cast<int>(text.size());
  // Flags 0 (no WC_ERR_INVALID_CHARS): ill-formed input is replaced, not refused.
  const int bytes =
      ::WideCharToMultiByte(CP_UTF8, 0, text.data(), length, nullptr, 0, nullptr, nullptr);
  if (bytes <= 0) return out;
  out.resize(static_cast<std::size_t>(bytes));
  ::WideCharToMultiByte(CP_UTF8, 0, text.data(), length, out.data(), bytes, nullptr, nullptr);
  return out;
}

// detail::system_message(code) returns the system's text for a Win32 error, UTF-8, without the
// trailing line break; empty when the system has none.
inline std::string system_message(DWORD code) {
  wchar_t* buffer = nullptr;
  const DWORD length = ::FormatMessageW(
      FORMAT_MESSAGE_ALLOCATE_BUFFER | FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS,
      nullptr, code, 0, reinterpret_cast<wchar_t*>(&buffer), 0, nullptr);
  std::string text;
  if (length != 0 && buffer != nullptr) text = utf8_from_wide(std::wstring_view(buffer, length));
  if (buffer != nullptr) ::LocalFree(buffer);
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' ')) {
    text.pop_back();
  }
  return text;
}

inline absl::StatusCode status_code_for_win32(DWORD code) noexcept {
  switch (code) {
    case ERROR_FILE_NOT_FOUND:
    case ERROR_PATH_NOT_FOUND:
    case ERROR_MOD_NOT_FOUND:
    case ERROR_PROC_NOT_FOUND:
      return absl::StatusCode::kNotFound;
    case ERROR_ACCESS_DENIED:
      return absl::StatusCode::kPermissionDenied;
    case ERROR_INVALID_PARAMETER:
    case ERROR_INVALID_ADDRESS:
    case ERROR_BAD_EXE_FORMAT:
    case ERROR_INVALID_HANDLE:
      return absl::StatusCode::kInvalidArgument;
    case ERROR_NOT_ENOUGH_MEMORY:
    case ERROR_OUTOFMEMORY:
    case ERROR_NO_SYSTEM_RESOURCES:
    case ERROR_TOO_MANY_TCBS:
    case ERROR_MAX_THRDS_REACHED:
      return absl::StatusCode::kResourceExhausted;
    case ERROR_TIMEOUT:
    case WAIT_TIMEOUT:
      return absl::StatusCode::kDeadlineExceeded;
    case ERROR_NOT_SUPPORTED:
    case ERROR_CALL_NOT_IMPLEMENTED:
      return absl::StatusCode::kUnimplemented;
    default:
      return absl::StatusCode::kUnknown;
  }
}

}  // namespace detail

// modref::win32_error_status(code, what)
// A non-OK status for Win32 error `code` met while doing `what`:
// "<what>: Win32 error <code>: <system text>", with the number in the kWin32ErrorPayload payload.
// `code` 0 (ERROR_SUCCESS) is reported as kUnknown with that text, never as OK: a failed call
// whose error was not set is still a failure.
inline absl::Status win32_error_status(DWORD code, std::string_view what) {
  last_error_preserver keep;
  const std::string text = detail::system_message(code);
  absl::Status status(detail::status_code_for_win32(code),
                      text.empty() ? absl::StrCat(what, ": Win32 error ", code)
                                   : absl::StrCat(what, ": Win32 error ", code, ": ", text));
  status.SetPayload(kWin32ErrorPayload, absl::Cord(absl::StrCat(code)));
  return status;
}

// modref::last_win32_error_status(what)
// win32_error_status(GetLastError(), what). GetLastError() is left unchanged.
inline absl::Status last_win32_error_status(std::string_view what) {
  return win32_error_status(::GetLastError(), what);
}

// modref::win32_error_code(status)
// The Win32 error number a modref status carries, or nullopt when it carries none.
inline std::optional<DWORD> win32_error_code(const absl::Status& status) {
  const std::optional<absl::Cord> payload = status.GetPayload(kWin32ErrorPayload);
  if (!payload.has_value()) return std::nullopt;
  std::uint32_t code = 0;
  if (!absl::SimpleAtoi(std::string(*payload), &code)) return std::nullopt;
  return static_cast<DWORD>(code);
}

}  // namespace modref

#endif  // MODREF_WIN32_ERROR_H_
