#include "core/status.h"

#include <gtest/gtest.h>

namespace ringmaster {
namespace {

StatusOr<int> parse_positive(int v) {
  if (v <= 0) return invalid_argument("value " + std::to_string(v) + " is not positive");
  return v;
}

Status doubled(int v, int* out) {
  RM_ASSIGN_OR_RETURN(int parsed, parse_positive(v));
  *out = 2 * parsed;
  return ok_status();
}

Status chain(int v) {
  int out = 0;
  RM_RETURN_IF_ERROR(doubled(v, &out));
  return ok_status();
}

TEST(Status, OkByDefault) {
  EXPECT_TRUE(Status().ok());
  EXPECT_EQ(Status().to_string(), "ok");
}

TEST(Status, CarriesCodeAndMessage) {
  const Status s = not_found("model/weights.safetensors: no such file");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_EQ(s.to_string(), "not_found: model/weights.safetensors: no such file");
  EXPECT_EQ(s.with_context("loading model").message(),
            "loading model: model/weights.safetensors: no such file");
}

TEST(Status, MacrosPropagate) {
  int out = 0;
  ASSERT_TRUE(doubled(4, &out).ok());
  EXPECT_EQ(out, 8);
  const Status failed = chain(-1);
  EXPECT_EQ(failed.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(failed.message(), "value -1 is not positive");
}

TEST(Status, ErrnoNamesThePath) {
  const Status s = errno_status("/no/such", ENOENT);
  EXPECT_EQ(s.code(), StatusCode::kNotFound);
  EXPECT_NE(s.message().find("/no/such"), std::string::npos);
}

TEST(StatusDeathTest, ValueOfErrorAborts) {
  StatusOr<int> failed = internal_error("boom");
  EXPECT_DEATH((void)failed.value(), "boom");
}

TEST(CheckDeathTest, CheckFailsWithMessage) {
  EXPECT_DEATH(RM_CHECK(1 + 1 == 3) << "arithmetic", "check failed: 1 \\+ 1 == 3 arithmetic");
}

}  // namespace
}  // namespace ringmaster
