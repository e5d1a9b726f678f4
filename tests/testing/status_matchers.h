// gMock matchers for absl::Status and absl::StatusOr (Abseil 20220623 has
// none).
//
//   EXPECT_THAT(store.Append(room, bytes), IsOk());
//   EXPECT_THAT(Decode(bad), StatusIs(absl::StatusCode::kInvalidArgument,
//                                     HasSubstr("truncated")));
//   EXPECT_THAT(ParsePort("80"), IsOkAndHolds(80));
#ifndef LATTICE_TESTS_TESTING_STATUS_MATCHERS_H_
#define LATTICE_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace lattice::testing {
namespace internal {

inline const absl::Status& GetStatus(const absl::Status& s) { return s; }
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& s) {
  return s.status();
}

}  // namespace internal

MATCHER(IsOk, negation ? "is not OK" : "is OK") {
  const absl::Status& s = internal::GetStatus(arg);
  if (!s.ok()) *result_listener << "status: " << s;
  return s.ok();
}

MATCHER_P2(StatusIs, code, message_matcher,
           "has code " + absl::StatusCodeToString(code)) {
  const absl::Status& s = internal::GetStatus(arg);
  *result_listener << "status: " << s;
  return s.code() == code &&
         ::testing::ExplainMatchResult(
             message_matcher, std::string(s.message()), result_listener);
}

MATCHER_P(IsOkAndHolds, value_matcher, "is OK and holds a matching value") {
  if (!arg.ok()) {
    *result_listener << "status: " << arg.status();
    return false;
  }
  return ::testing::ExplainMatchResult(value_matcher, *arg, result_listener);
}

}  // namespace lattice::testing

#endif  // LATTICE_TESTS_TESTING_STATUS_MATCHERS_H_
