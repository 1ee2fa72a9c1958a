// Tests of <modref/posix_error.h>: errno values as absl::Status (Linux/glibc).
#include <modref/posix_error.h>

#include <cerrno>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace {

using ::testing::HasSubstr;

TEST(PosixError, StatusCarriesCodeNameTextAndPayload) {
  const absl::Status status = modref::posix_error_status(ENOENT, "load(/x.so)");
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr("load(/x.so): errno 2 (ENOENT): "));
  EXPECT_THAT(status.message(), HasSubstr("No such file"));
  EXPECT_EQ(modref::posix_error_code(status), ENOENT);
}

TEST(PosixError, CodesMapToTheirStatusCodes) {
  EXPECT_EQ(modref::posix_error_status(EAGAIN, "x").code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(modref::posix_error_status(EINVAL, "x").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(modref::posix_error_status(EPERM, "x").code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(modref::posix_error_status(EDEADLK, "x").code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(modref::posix_error_status(ETIMEDOUT, "x").code(), absl::StatusCode::kDeadlineExceeded);
}

TEST(PosixError, ZeroIsNeverOk) {
  const absl::Status status = modref::posix_error_status(0, "x");
  EXPECT_FALSE(status.ok());
  EXPECT_EQ(status.code(), absl::StatusCode::kUnknown);
  EXPECT_EQ(modref::posix_error_code(status), 0);
}

TEST(PosixError, UnnamedCodeHasNoParentheses) {
  const absl::Status status = modref::posix_error_status(EXDEV, "rename");
  EXPECT_THAT(status.message(), HasSubstr("rename: errno 18: "));
  EXPECT_EQ(modref::posix_error_code(status), EXDEV);
}

TEST(PosixError, StatusWithoutPayloadHasNoCode) {
  EXPECT_EQ(modref::posix_error_code(absl::InternalError("no errno")), std::nullopt);
  EXPECT_EQ(modref::posix_error_code(absl::OkStatus()), std::nullopt);
}

TEST(PosixError, BuildingTheStatusLeavesErrnoAlone) {
  errno = EBADF;
  (void)modref::posix_error_status(ENOMEM, "x");
  EXPECT_EQ(errno, EBADF);
}

TEST(PosixError, PreserverRestoresErrno) {
  errno = ESRCH;
  {
    modref::errno_preserver keep;
    EXPECT_EQ(keep.saved(), ESRCH);
    errno = EINVAL;
  }
  EXPECT_EQ(errno, ESRCH);
}

}  // namespace
