#include "crdt/text_units.h"

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::crdt {
namespace {

using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;

TEST(TextUnits, Utf8RoundTrip) {
  const std::string s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80";  // a é € 😀
  auto cps = Utf8ToCodePoints(s);
  ASSERT_TRUE(cps.ok());
  EXPECT_EQ(*cps, (std::u32string{U'a', U'\u00e9', U'\u20ac', U'\U0001F600'}));
  EXPECT_EQ(CodePointsToUtf8(*cps), s);
}

TEST(TextUnits, RejectsMalformedUtf8WithOffset) {
  EXPECT_THAT(Utf8ToCodePoints("ab\xc0\xaf"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("overlong encoding at byte 2")));
  EXPECT_THAT(
      Utf8ToCodePoints("\xed\xa0\x80"),  // surrogate
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("not a scalar")));
  EXPECT_THAT(
      Utf8ToCodePoints("x\xe2\x82"),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("truncated")));
}

TEST(TextUnits, Utf16Conversions) {
  const std::u32string cps = {U'a', U'\U0001F600',
                              U'b'};  // UTF-16: a, hi, lo, b
  EXPECT_EQ(Utf16Length(cps), 4u);
  EXPECT_THAT(Utf16ToCodePointIndex(cps, 0), IsOkAndHolds(0u));
  EXPECT_THAT(Utf16ToCodePointIndex(cps, 1), IsOkAndHolds(1u));
  EXPECT_THAT(Utf16ToCodePointIndex(cps, 3), IsOkAndHolds(2u));
  EXPECT_THAT(Utf16ToCodePointIndex(cps, 4), IsOkAndHolds(3u));
  EXPECT_THAT(
      Utf16ToCodePointIndex(cps, 2),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("surrogate")));
  EXPECT_THAT(Utf16ToCodePointIndex(cps, 5),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("past")));
  EXPECT_EQ(CodePointToUtf16Index(cps, 2), 3u);
}

}  // namespace
}  // namespace lattice::crdt
