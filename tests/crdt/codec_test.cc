#include "crdt/internal/codec.h"

#include <cstdint>
#include <limits>

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::crdt::internal {
namespace {

using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;

TEST(Codec, VarintsRoundTripAtEveryWidth) {
  Writer w;
  const uint64_t values[] = {0,
                             1,
                             127,
                             128,
                             16383,
                             16384,
                             (1ull << 35) + 3,
                             std::numeric_limits<uint64_t>::max()};
  const int64_t signed_values[] = {0,
                                   -1,
                                   1,
                                   -64,
                                   64,
                                   std::numeric_limits<int64_t>::min(),
                                   std::numeric_limits<int64_t>::max()};
  for (uint64_t v : values) w.Varint(v);
  for (int64_t v : signed_values) w.SignedVarint(v);
  w.Fixed64(0x0102030405060708ull);
  w.Bytes("hello");
  std::string bytes = std::move(w).Finish();
  Reader r(bytes, "test");
  for (uint64_t v : values) EXPECT_THAT(r.Varint(), IsOkAndHolds(v));
  for (int64_t v : signed_values)
    EXPECT_THAT(r.SignedVarint(), IsOkAndHolds(v));
  EXPECT_THAT(r.Fixed64(), IsOkAndHolds(0x0102030405060708ull));
  EXPECT_THAT(r.Bytes(), IsOkAndHolds("hello"));
  EXPECT_TRUE(r.done());
}

TEST(Codec, ReaderReportsWhatAndWhere) {
  std::string bytes("\x05\x61\x62", 3);  // claims 5 bytes, has 2
  Reader r(bytes, "snapshot");
  EXPECT_THAT(r.Bytes(), StatusIs(absl::StatusCode::kInvalidArgument,
                                  HasSubstr("decode snapshot: length 5 exceeds "
                                            "the 2 bytes left at byte 0")));
  std::string overlong(11, '\xff');
  Reader r2(overlong, "update");
  EXPECT_THAT(r2.Varint(), StatusIs(absl::StatusCode::kInvalidArgument,
                                    HasSubstr("overflows 64 bits")));
}

}  // namespace
}  // namespace lattice::crdt::internal
