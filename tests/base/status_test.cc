#include "base/status.h"

#include <gtest/gtest.h>

namespace tidemark {
namespace {

Result<int> Half(int n) {
  if (n % 2 != 0) return Status::InvalidArgument("odd number " + std::to_string(n));
  return n / 2;
}

Status Quarter(int n, int* out) {
  TM_ASSIGN_OR_RETURN(int half, Half(n));
  TM_ASSIGN_OR_RETURN(*out, Half(half));
  return Status::Ok();
}

TEST(StatusTest, OkByDefault) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().ToString(), "OK");
}

TEST(StatusTest, ErrorsCarryCodeAndContext) {
  Status s = Status::NotFound("secret shop-db").WithContext("resolving spec.database");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.ToString(), "NotFound: resolving spec.database: secret shop-db");
}

TEST(StatusTest, RetryableCodes) {
  EXPECT_TRUE(Status::Unavailable("db down").IsRetryable());
  EXPECT_TRUE(Status::Conflict("stale").IsRetryable());
  EXPECT_FALSE(Status::InvalidArgument("bad").IsRetryable());
  EXPECT_FALSE(Status::NotFound("gone").IsRetryable());
}

TEST(ResultTest, MacrosPropagateErrors) {
  int out = 0;
  EXPECT_TRUE(Quarter(8, &out).ok());
  EXPECT_EQ(out, 2);
  Status s = Quarter(6, &out);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "odd number 3");
}

}  // namespace
}  // namespace tidemark
