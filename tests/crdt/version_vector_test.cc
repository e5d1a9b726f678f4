#include "crdt/version_vector.h"

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::crdt {
namespace {

using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;

TEST(VersionVector, AdvanceNeverLowers) {
  VersionVector vv;
  vv.Advance(7, 5);
  vv.Advance(7, 3);
  EXPECT_EQ(vv.Get(7), 5u);
  EXPECT_TRUE(vv.Contains({7, 4}));
  EXPECT_FALSE(vv.Contains({7, 5}));
  EXPECT_FALSE(vv.Contains({8, 0}));
}

TEST(VersionVector, MergeTakesPointwiseMaximum) {
  VersionVector a, b;
  a.Advance(1, 3);
  a.Advance(2, 1);
  b.Advance(2, 4);
  b.Advance(3, 2);
  a.Merge(b);
  EXPECT_EQ(a.DebugString(), "{1:3, 2:4, 3:2}");
  EXPECT_TRUE(a.Includes(b));
  EXPECT_FALSE(b.Includes(a));
  EXPECT_EQ(a.Total(), 9u);
}

TEST(VersionVector, EncodeRoundTripsAndIsCanonical) {
  VersionVector a, b;
  a.Advance(300, 70000);
  a.Advance(1, 1);
  b.Advance(1, 1);
  b.Advance(300, 70000);
  EXPECT_EQ(a.Encode(), b.Encode());
  EXPECT_THAT(VersionVector::Decode(a.Encode()), IsOkAndHolds(a));
}

TEST(VersionVector, DecodeRejectsHostileInput) {
  // Declares 2^40 entries in a 6-byte input: refused before allocating.
  EXPECT_THAT(VersionVector::Decode(std::string("\x80\x80\x80\x80\x80\x20", 6)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("version vector size")));
  // Unordered replicas.
  EXPECT_THAT(VersionVector::Decode(std::string("\x02\x05\x01\x03\x01", 5)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("not strictly increasing")));
  // Truncated.
  EXPECT_THAT(VersionVector::Decode(std::string("\x01\x05", 2)),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("truncated varint at byte 2")));
  // Trailing garbage.
  EXPECT_THAT(
      VersionVector::Decode(std::string("\x00\x00", 2)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("trailing")));
}

}  // namespace
}  // namespace lattice::crdt
