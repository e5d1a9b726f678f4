// The key and value formats of docs/storage.md: byte layouts, ordering, and
// decoders that reject malformed input with DataLoss instead of crashing.
#include "storage/internal/format.h"

#include <string>

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::storage::internal {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

TEST(Format, ChangeKeyLayoutIsLengthPrefixedBigEndian) {
  EXPECT_EQ(ChangeKey("ab", 0x0102),
            std::string("\x00\x02"
                        "ab"
                        "\x00\x00\x00\x00\x00\x00\x01\x02",
                        12));
  EXPECT_EQ(RoomKey("ab"), std::string("\x00\x02"
                                       "ab",
                                       4));
}

TEST(Format, ChangeKeysSortBySeq) {
  for (Seq s : {Seq{0}, Seq{1}, Seq{255}, Seq{256}, Seq{65535}, Seq{1} << 40}) {
    EXPECT_LT(ChangeKey("room", s), ChangeKey("room", s + 1)) << s;
  }
}

TEST(Format, NoRoomsKeysArePrefixOfAnother) {
  // "a" and "ab" differ in the length prefix, so a range scan over one room
  // can never reach the other's keys.
  const std::string a_last = ChangeKey("a", ~Seq{0});
  const std::string ab_first = ChangeKey("ab", 0);
  EXPECT_NE(ab_first.compare(0, RoomKey("a").size(), RoomKey("a")), 0);
  EXPECT_LT(a_last, ab_first);
}

TEST(Format, RoomIdValidation) {
  EXPECT_THAT(ValidateRoomId("r"), IsOk());
  EXPECT_THAT(ValidateRoomId(std::string(kMaxRoomIdBytes, 'x')), IsOk());
  EXPECT_THAT(ValidateRoomId(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(ValidateRoomId(std::string(kMaxRoomIdBytes + 1, 'x')),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
}

TEST(Format, ChangeKeyRoundTripAndRejection) {
  EXPECT_THAT(DecodeChangeKey("room", ChangeKey("room", 42)),
              IsOkAndHolds(42u));
  EXPECT_THAT(DecodeChangeKey("room", ChangeKey("other", 42)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("another room")));
  EXPECT_THAT(DecodeChangeKey("room", ChangeKey("room", 42) + "x"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("9 bytes"), HasSubstr("\"room\""))));
  EXPECT_THAT(
      DecodeChangeKey("room", std::string("\x00", 1)),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("length prefix")));
  EXPECT_THAT(
      DecodeChangeKey("room", std::string("\x7f\xff"
                                          "ab",
                                          4)),
      StatusIs(absl::StatusCode::kDataLoss, HasSubstr("room id length")));
  EXPECT_THAT(DecodeRoomKey(kMetaCf, RoomKey("room")), IsOkAndHolds("room"));
  EXPECT_THAT(DecodeRoomKey(kMetaCf, RoomKey("room") + "x"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("trailing")));
}

TEST(Format, ChangeValueRoundTrip) {
  const auto header = EncodeChangeHeader(1'700'000'000'123'456);
  const std::string value =
      std::string(header.data(), header.size()) + "payload";
  EXPECT_EQ(value[0], '\x01');
  auto r = DecodeChangeValue("room", "key", value);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->append_micros, 1'700'000'000'123'456);
  EXPECT_EQ(r->payload, "payload");
  // An empty payload is legal.
  auto empty = DecodeChangeValue("room", "key",
                                 std::string(header.data(), header.size()));
  ASSERT_THAT(empty, IsOk());
  EXPECT_EQ(empty->payload, "");
}

TEST(Format, ChangeValueRejection) {
  EXPECT_THAT(DecodeChangeValue("room", "k", ""),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("empty record")));
  EXPECT_THAT(DecodeChangeValue("room", "k",
                                std::string("\x07"
                                            "12345678",
                                            9)),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("version 7"), HasSubstr("6b"))));
  EXPECT_THAT(DecodeChangeValue("room", "k",
                                std::string("\x01"
                                            "123",
                                            4)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("short record")));
}

TEST(Format, MetaRoundTripAndInvariants) {
  MetaRecord m;
  m.epoch = 0xdeadbeefcafef00d;
  m.trimmed_through = 5;
  m.has_snapshot = true;
  m.snapshot_seq = 9;
  m.created_micros = 123;
  const std::string v = EncodeMeta(m);
  EXPECT_EQ(v.size(), kMetaSize);
  auto d = DecodeMeta("room", "k", v);
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(d->epoch, m.epoch);
  EXPECT_EQ(d->trimmed_through, 5u);
  EXPECT_TRUE(d->has_snapshot);
  EXPECT_EQ(d->snapshot_seq, 9u);
  EXPECT_EQ(d->created_micros, 123);

  EXPECT_THAT(DecodeMeta("room", "k", v + "x"),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("want 34")));
  MetaRecord zero_epoch = m;
  zero_epoch.epoch = 0;
  EXPECT_THAT(DecodeMeta("room", "k", EncodeMeta(zero_epoch)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("epoch is 0")));
  MetaRecord beyond = m;
  beyond.trimmed_through = 10;
  EXPECT_THAT(DecodeMeta("room", "k", EncodeMeta(beyond)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("beyond")));
  MetaRecord no_snapshot = m;
  no_snapshot.has_snapshot = false;
  EXPECT_THAT(DecodeMeta("room", "k", EncodeMeta(no_snapshot)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("without")));
}

TEST(Format, SnapshotAndPresenceRoundTrip) {
  const auto sh = EncodeSnapshotHeader(77, 88);
  // The decoded views point into the value: keep it alive.
  const std::string snapshot_value = std::string(sh.data(), sh.size()) + "S";
  auto s = DecodeSnapshot("room", "k", snapshot_value);
  ASSERT_THAT(s, IsOk());
  EXPECT_EQ(s->seq, 77u);
  EXPECT_EQ(s->written_micros, 88);
  EXPECT_EQ(s->bytes, "S");
  EXPECT_THAT(DecodeSnapshot("room", "k", std::string(sh.data(), 5)),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("short")));

  const auto ph = EncodePresenceHeader(99);
  const std::string presence_value = std::string(ph.data(), ph.size()) + "P";
  auto p = DecodePresence("room", "k", presence_value);
  ASSERT_THAT(p, IsOk());
  EXPECT_EQ(p->written_micros, 99);
  EXPECT_EQ(p->state, "P");
}

TEST(Format, CorruptionErrorNamesRoomAndKey) {
  absl::Status s = CorruptionError(kChangesCf, std::string("r\n", 2),
                                   std::string("\x00\x01", 2), "why");
  EXPECT_THAT(s, StatusIs(absl::StatusCode::kDataLoss,
                          AllOf(HasSubstr("changes"), HasSubstr("\"r\\n\""),
                                HasSubstr("0001"), HasSubstr("why"))));
}

}  // namespace
}  // namespace lattice::storage::internal
