// Replay-after at every boundary and the snapshot/trim rules that define the
// replay window. Runs on disk and on NewMemEnv.
//
// Oracle: with window N (changes) and age A, after WriteSnapshot(seq) the
// retained log is (h, last] with h = min(seq, last - N, first change younger
// than A - 1); ReadAfter(after) must succeed exactly when h <= after <= last
// in the current epoch and then yield after+1..last.
#include <string>

#include "storage/room_store.h"
#include "tests/storage/room_store_fixture.h"
#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::storage::testing {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;

using ReplayTest = RoomStoreTest;

TEST_P(ReplayTest, UnknownRoomIsNotFound) {
  Reopen();
  EXPECT_THAT(store_->ReadAfter("nobody", 1, 0),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("nobody")));
}

TEST_P(ReplayTest, EmptyLog) {
  Reopen();
  auto epoch = store_->RestoreRoom("room", "empty doc");  // room, no changes
  ASSERT_THAT(epoch, IsOk());
  ReadResult r = ReadFrom("room", *epoch, 0);
  EXPECT_THAT(r.status, IsOk());
  EXPECT_TRUE(r.changes.empty());
  EXPECT_THAT(
      store_->ReadAfter("room", *epoch, 1),
      StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("past the end")));
}

class WindowedReplayTest : public RoomStoreTest {
 protected:
  // 100 changes, window of 10 changes, snapshot at 100: retained 91..100.
  void SetUp() override {
    RoomStoreTest::SetUp();
    options_.replay_window_changes = 10;
    Reopen();
    epoch_ = AppendN("room", 100).epoch;
    auto snap = store_->WriteSnapshot("room", epoch_, 100, "s@100");
    ASSERT_THAT(snap, IsOk());
    ASSERT_EQ(snap->trimmed_through, 90u);
  }
  Epoch epoch_ = 0;
};

TEST_P(WindowedReplayTest, InsideTheWindow) {
  ReadResult r = ReadFrom("room", epoch_, 95);
  EXPECT_THAT(r.status, IsOk());
  EXPECT_EQ(Seqs(r), Range(96, 100));
  EXPECT_EQ(r.changes.front().second, "room#96");
}

TEST_P(WindowedReplayTest, ExactlyAtTheWindowEdge) {
  ReadResult r = ReadFrom("room", epoch_, 90);  // next needed: 91, retained
  EXPECT_THAT(r.status, IsOk());
  EXPECT_EQ(Seqs(r), Range(91, 100));
  EXPECT_THAT(
      store_->ReadAfter("room", epoch_, 89),
      StatusIs(absl::StatusCode::kOutOfRange,
               HasSubstr("below the retained log (trimmed through 90)")));
}

TEST_P(WindowedReplayTest, BelowTheTrimmedHorizon) {
  EXPECT_THAT(store_->ReadAfter("room", epoch_, 0),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("below")));
  EXPECT_THAT(store_->ReadAfter("room", epoch_, 50),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("below")));
}

TEST_P(WindowedReplayTest, AtAndPastTheEnd) {
  ReadResult r = ReadFrom("room", epoch_, 100);
  EXPECT_THAT(r.status, IsOk());
  EXPECT_TRUE(r.changes.empty());
  EXPECT_THAT(
      store_->ReadAfter("room", epoch_, 101),
      StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("past the end")));
}

TEST_P(WindowedReplayTest, SurvivesReopen) {
  Reopen();
  EXPECT_EQ(Seqs(ReadFrom("room", epoch_, 90)), Range(91, 100));
  EXPECT_THAT(store_->ReadAfter("room", epoch_, 89),
              StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("below")));
}

TEST_P(WindowedReplayTest, AfterAnEpochChange) {
  auto fresh = store_->StartNewEpoch("room");
  ASSERT_THAT(fresh, IsOk());
  EXPECT_NE(*fresh, epoch_);
  EXPECT_THAT(store_->ReadAfter("room", epoch_, 95),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       HasSubstr("not the current epoch")));
  // Same contents under the new epoch.
  EXPECT_EQ(Seqs(ReadFrom("room", *fresh, 95)), Range(96, 100));

  ASSERT_THAT(store_->DeleteRoom("room"), IsOk());
  AppendResult recreated = AppendN("room", 3);
  EXPECT_THAT(
      store_->ReadAfter("room", *fresh, 2),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("epoch")));
  EXPECT_EQ(Seqs(ReadFrom("room", recreated.epoch, 1)), Range(2, 3));

  auto restored = store_->RestoreRoom("room", "imported");
  ASSERT_THAT(restored, IsOk());
  EXPECT_THAT(
      store_->ReadAfter("room", recreated.epoch, 3),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("epoch")));
}

TEST_P(WindowedReplayTest, SnapshotRulesAreChecked) {
  EXPECT_THAT(
      store_->WriteSnapshot("room", epoch_ + 1, 100, "x"),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("epoch")));
  EXPECT_THAT(
      store_->WriteSnapshot("room", epoch_, 101, "x"),
      StatusIs(absl::StatusCode::kOutOfRange, HasSubstr("past the end")));
  EXPECT_THAT(
      store_->WriteSnapshot("room", epoch_, 99, "x"),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("older")));
  EXPECT_THAT(store_->WriteSnapshot("other", epoch_, 1, "x"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("other")));
  // Rewriting the snapshot at the same seq is allowed and trims no further.
  auto again = store_->WriteSnapshot("room", epoch_, 100, "s@100 v2");
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->trimmed_through, 90u);
}

TEST_P(ReplayTest, CountWindowLimitsTrimming) {
  options_.replay_window_changes = 10;
  Reopen();
  const Epoch epoch = AppendN("room", 100).epoch;
  // The snapshot bounds the trim: never trim past the snapshot's seq.
  auto s50 = store_->WriteSnapshot("room", epoch, 50, "s@50");
  ASSERT_THAT(s50, IsOk());
  EXPECT_EQ(s50->trimmed_through, 50u);
  auto s100 = store_->WriteSnapshot("room", epoch, 100, "s@100");
  ASSERT_THAT(s100, IsOk());
  EXPECT_EQ(s100->trimmed_through, 90u);
  auto info = store_->GetRoomInfo("room");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->first_seq, 91u);
  EXPECT_EQ(info->last_seq, 100u);
  EXPECT_EQ(info->snapshot_seq, 100u);
}

TEST_P(ReplayTest, TrimmingTheWholeLogKeepsSeqsGoing) {
  Reopen();  // window 0 changes, age 0
  const Epoch epoch = AppendN("room", 5).epoch;
  auto snap = store_->WriteSnapshot("room", epoch, 5, "s@5");
  ASSERT_THAT(snap, IsOk());
  EXPECT_EQ(snap->trimmed_through, 5u);
  EXPECT_TRUE(ReadFrom("room", epoch, 5).changes.empty());
  Reopen();  // the next seq survives an empty log
  EXPECT_EQ(AppendN("room", 1, 6).first_seq, 6u);
  auto loaded = store_->LoadRoom("room");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ(Seqs(ReadAll(*loaded->tail)), Range(6, 6));
}

// Changes 1-10 appended at t0, 11-20 at t0+30s, 21-30 at t0+61s; window of
// 60 s. A change exactly window-old is kept.
TEST_P(ReplayTest, AgeWindowLimitsTrimming) {
  options_.replay_window_age = absl::Seconds(60);
  Reopen();
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  SetNow(t0);
  const Epoch epoch = AppendN("room", 10).epoch;
  SetNow(t0 + absl::Seconds(30));
  AppendN("room", 10, 11);
  SetNow(t0 + absl::Seconds(61));
  AppendN("room", 10, 21);

  SetNow(t0 + absl::Seconds(90));  // cutoff t0+30s: 11.. are young enough
  auto s1 = store_->WriteSnapshot("room", epoch, 30, "s");
  ASSERT_THAT(s1, IsOk());
  EXPECT_EQ(s1->trimmed_through, 10u);

  SetNow(t0 + absl::Seconds(90) + absl::Microseconds(1));  // 11-20 now too old
  auto s2 = store_->WriteSnapshot("room", epoch, 30, "s");
  ASSERT_THAT(s2, IsOk());
  EXPECT_EQ(s2->trimmed_through, 20u);

  SetNow(t0 + absl::Hours(1));  // everything is old; the snapshot bounds it
  auto s3 = store_->WriteSnapshot("room", epoch, 25, "s");
  EXPECT_THAT(
      s3, StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("older")));
  auto s4 = store_->WriteSnapshot("room", epoch, 30, "s");
  ASSERT_THAT(s4, IsOk());
  EXPECT_EQ(s4->trimmed_through, 30u);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReplayTest,
                         ::testing::Values(Backend::kDisk, Backend::kMemEnv),
                         BackendName);
INSTANTIATE_TEST_SUITE_P(Backends, WindowedReplayTest,
                         ::testing::Values(Backend::kDisk, Backend::kMemEnv),
                         BackendName);

}  // namespace
}  // namespace lattice::storage::testing
