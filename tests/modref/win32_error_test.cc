// Tests for <modref/win32_error.h>.
#include <modref/win32_error.h>

#include <gtest/gtest.h>

namespace {

TEST(Win32ErrorStatus, CarriesCodeTextAndContext) {
  absl::Status s = modref::win32_error_status(ERROR_FILE_NOT_FOUND, "CreateFileW(x)");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("CreateFileW(x): Win32 error 2"), absl::string_view::npos) << s;
  EXPECT_EQ(modref::win32_error_code(s), std::optional<DWORD>(ERROR_FILE_NOT_FOUND));
}

TEST(Win32ErrorStatus, MapsCommonErrors) {
  EXPECT_EQ(modref::win32_error_status(ERROR_ACCESS_DENIED, "x").code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(modref::win32_error_status(ERROR_INVALID_PARAMETER, "x").code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(modref::win32_error_status(ERROR_NOT_ENOUGH_MEMORY, "x").code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(modref::win32_error_status(12345678, "x").code(), absl::StatusCode::kUnknown);
}

TEST(Win32ErrorStatus, SuccessCodeIsStillAFailure) {
  absl::Status s =
      modref::win32_error_status(ERROR_SUCCESS, "a call that failed without saying why");
  EXPECT_FALSE(s.ok());
}

TEST(Win32ErrorStatus, PreservesLastError) {
  ::SetLastError(ERROR_BROKEN_PIPE);
  absl::Status s = modref::last_win32_error_status("ReadFile");
  EXPECT_EQ(::GetLastError(), static_cast<DWORD>(ERROR_BROKEN_PIPE));
  EXPECT_EQ(modref::win32_error_code(s), std::optional<DWORD>(ERROR_BROKEN_PIPE));
}

TEST(Win32ErrorCode, AbsentOnForeignStatuses) {
  EXPECT_EQ(modref::win32_error_code(absl::InternalError("x")), std::nullopt);
  EXPECT_EQ(modref::win32_error_code(absl::OkStatus()), std::nullopt);
}

TEST(LastErrorPreserver, RestoresOnScopeExit) {
  ::SetLastError(77);
  {
    modref::last_error_preserver keep;
    EXPECT_EQ(keep.saved(), 77u);
    ::SetLastError(88);
  }
  EXPECT_EQ(::GetLastError(), 77u);
}

}  // namespace
