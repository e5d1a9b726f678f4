#include "base/status_macros.h"

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;

absl::StatusOr<int> Half(int x) {
  if (x % 2 != 0) return absl::InvalidArgumentError("odd input");
  return x / 2;
}

absl::StatusOr<int> Quarter(int x, int* calls) {
  ++*calls;
  LATTICE_ASSIGN_OR_RETURN(int half, Half(x));
  LATTICE_ASSIGN_OR_RETURN(int quarter, Half(half));
  return quarter;
}

absl::Status Validate(int x, int* evaluations) {
  LATTICE_RETURN_IF_ERROR((++*evaluations, Half(x).status()));
  return absl::OkStatus();
}

TEST(StatusMacros, AssignOrReturnPropagatesValue) {
  int calls = 0;
  EXPECT_THAT(Quarter(12, &calls), IsOkAndHolds(3));
  EXPECT_EQ(calls, 1);
}

TEST(StatusMacros, AssignOrReturnPropagatesFirstError) {
  int calls = 0;
  EXPECT_THAT(Quarter(6, &calls),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
}

TEST(StatusMacros, ReturnIfErrorEvaluatesOnce) {
  int evaluations = 0;
  EXPECT_THAT(Validate(4, &evaluations), IsOk());
  EXPECT_THAT(Validate(3, &evaluations),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("odd")));
  EXPECT_EQ(evaluations, 2);
}

}  // namespace
}  // namespace lattice
