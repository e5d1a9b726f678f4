// RoomStore conformance: the log contract (consecutive seqs from 1 per room,
// all-or-nothing batches, no holes under concurrency), rooms, presence,
// persistence across reopen. Runs on disk and on NewMemEnv.
//
// Oracle: seqs and payloads are compared against what the test appended,
// tracked in plain containers.
#include "storage/room_store.h"

#include <algorithm>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "tests/storage/room_store_fixture.h"
#include "tests/testing/status_matchers.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::storage::testing {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Pair;

TEST_P(RoomStoreTest, AppendAssignsConsecutiveSeqsFromOne) {
  Reopen();
  AppendResult a = AppendN("room", 3);
  EXPECT_EQ(a.first_seq, 1u);
  EXPECT_EQ(a.last_seq, 3u);
  EXPECT_NE(a.epoch, 0u);
  AppendResult b = AppendN("room", 1, 4);
  EXPECT_EQ(b.first_seq, 4u);
  EXPECT_EQ(b.last_seq, 4u);
  EXPECT_EQ(b.epoch, a.epoch);
  ReadResult r = ReadFrom("room", a.epoch, 0);
  EXPECT_THAT(r.status, IsOk());
  EXPECT_THAT(r.changes, ElementsAre(Pair(1, "room#1"), Pair(2, "room#2"),
                                     Pair(3, "room#3"), Pair(4, "room#4")));
}

TEST_P(RoomStoreTest, AppendRejectsBadInput) {
  Reopen();
  EXPECT_THAT(store_->Append("room", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  const absl::string_view one[] = {"x"};
  EXPECT_THAT(store_->Append("", one),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  EXPECT_THAT(store_->Append(std::string(2000, 'r'), one),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  // Nothing was created by the failed calls.
  EXPECT_THAT(store_->ListRooms(), IsOkAndHolds(::testing::IsEmpty()));
}

TEST_P(RoomStoreTest, RoomsHaveIndependentSeqsAndEpochs) {
  Reopen();
  AppendResult a = AppendN("a", 5);
  AppendResult b = AppendN("b", 2);
  // A room id that is a prefix of another must not share its keys.
  AppendResult ab = AppendN("ab", 1);
  EXPECT_EQ(b.first_seq, 1u);
  EXPECT_EQ(ab.first_seq, 1u);
  EXPECT_NE(a.epoch, b.epoch);
  EXPECT_EQ(ReadFrom("a", a.epoch, 0).changes.size(), 5u);
  EXPECT_THAT(ReadFrom("ab", ab.epoch, 0).changes,
              ElementsAre(Pair(1, "ab#1")));
  // Binary room ids (NUL, 0xff) are plain bytes.
  const std::string binary("r\0\xff", 3);
  AppendResult bin = AppendN(binary, 2);
  EXPECT_EQ(ReadFrom(binary, bin.epoch, 1).changes.size(), 1u);
}

// Oracle: every thread appends batches of 1-3 tagged changes to one room and
// records the range it was given. The ranges must tile 1..total exactly, and
// each range must hold exactly that thread's batch, in order.
TEST_P(RoomStoreTest, ConcurrentAppendsToOneRoomLeaveNoHoles) {
  Reopen();
  constexpr int kThreads = 8;
  constexpr int kBatchesPerThread = 100;
  struct Batch {
    AppendResult result;
    std::vector<std::string> changes;
  };
  std::vector<std::vector<Batch>> done(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &done] {
      for (int i = 0; i < kBatchesPerThread; ++i) {
        Batch b;
        for (int k = 0; k <= i % 3; ++k) {
          b.changes.push_back(absl::StrCat("t", t, "-", i, "-", k));
        }
        std::vector<absl::string_view> views(b.changes.begin(),
                                             b.changes.end());
        auto r = store_->Append("shared", views);
        if (!r.ok()) {
          ADD_FAILURE() << r.status();
          return;
        }
        b.result = *r;
        done[static_cast<size_t>(t)].push_back(std::move(b));
      }
    });
  }
  for (auto& th : threads) th.join();

  std::map<Seq, std::string> expected;
  Epoch epoch = 0;
  for (const auto& per_thread : done) {
    for (const Batch& b : per_thread) {
      epoch = b.result.epoch;
      ASSERT_EQ(b.result.last_seq - b.result.first_seq + 1, b.changes.size());
      for (size_t k = 0; k < b.changes.size(); ++k) {
        const bool inserted =
            expected.emplace(b.result.first_seq + k, b.changes[k]).second;
        ASSERT_TRUE(inserted)
            << "seq assigned twice: " << b.result.first_seq + k;
      }
    }
  }
  ASSERT_FALSE(expected.empty());
  EXPECT_EQ(expected.begin()->first, 1u);
  EXPECT_EQ(expected.rbegin()->first, expected.size());  // no holes
  ReadResult r = ReadFrom("shared", epoch, 0);
  ASSERT_THAT(r.status, IsOk());
  ASSERT_EQ(r.changes.size(), expected.size());
  for (const auto& [seq, bytes] : r.changes) EXPECT_EQ(bytes, expected[seq]);
}

TEST_P(RoomStoreTest, ConcurrentAppendsToManyRooms) {
  Reopen();
  constexpr int kThreads = 8;
  constexpr int kAppends = 50;
  std::vector<std::thread> threads;
  std::vector<Epoch> epochs(kThreads);
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &epochs] {
      const std::string room = absl::StrCat("room-", t);
      for (int i = 1; i <= kAppends; ++i) {
        const std::string change = absl::StrCat(room, "#", i);
        const absl::string_view one[] = {change};
        auto r = store_->Append(room, one);
        if (!r.ok() || r->first_seq != static_cast<Seq>(i)) {
          ADD_FAILURE() << room << " append " << i << ": " << r.status();
          return;
        }
        epochs[static_cast<size_t>(t)] = r->epoch;
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    const std::string room = absl::StrCat("room-", t);
    ReadResult r = ReadFrom(room, epochs[static_cast<size_t>(t)], 0);
    EXPECT_EQ(Seqs(r), Range(1, kAppends)) << room;
    EXPECT_EQ(r.changes.back().second, absl::StrCat(room, "#", kAppends));
  }
}

TEST_P(RoomStoreTest, ReopenPreservesLogEpochSnapshotAndNextSeq) {
  Reopen();
  AppendResult a = AppendN("room", 10);
  ASSERT_THAT(store_->WriteSnapshot("room", a.epoch, 4, "snap@4"), IsOk());
  ASSERT_THAT(store_->PutPresence("room", "cursors"), IsOk());
  Reopen();
  AppendResult b = AppendN("room", 1, 11);
  EXPECT_EQ(b.epoch, a.epoch);
  EXPECT_EQ(b.first_seq, 11u);
  auto loaded = store_->LoadRoom("room");
  ASSERT_THAT(loaded, IsOk());
  ASSERT_TRUE(loaded->snapshot.has_value());
  EXPECT_EQ(loaded->snapshot->seq, 4u);
  EXPECT_EQ(loaded->snapshot->bytes, "snap@4");
  EXPECT_EQ(Seqs(ReadAll(*loaded->tail)), Range(5, 11));
  EXPECT_THAT(store_->GetPresence("room"), IsOkAndHolds("cursors"));
}

TEST_P(RoomStoreTest, AppendTimesNeverGoBackwards) {
  Reopen();
  const absl::Time t0 = absl::FromUnixSeconds(1'800'000'000);
  SetNow(t0);
  AppendResult a = AppendN("room", 1);
  SetNow(t0 - absl::Hours(1));  // the clock steps back
  AppendN("room", 1, 2);
  auto it = store_->ReadAfter("room", a.epoch, 0);
  ASSERT_THAT(it, IsOk());
  ASSERT_TRUE((*it)->Valid());
  EXPECT_EQ((*it)->append_time(), t0);
  (*it)->Next();
  ASSERT_TRUE((*it)->Valid());
  EXPECT_EQ((*it)->append_time(), t0);
}

TEST_P(RoomStoreTest, IteratorIsAPointInTimeView) {
  Reopen();
  AppendResult a = AppendN("room", 5);
  auto it = store_->ReadAfter("room", a.epoch, 0);
  ASSERT_THAT(it, IsOk());
  AppendN("room", 5, 6);
  ASSERT_THAT(store_->WriteSnapshot("room", a.epoch, 10, "s"), IsOk());
  ASSERT_THAT(store_->DeleteRoom("room"), IsOk());
  ReadResult r = ReadAll(**it);
  EXPECT_THAT(r.status, IsOk());
  EXPECT_EQ(Seqs(r), Range(1, 5));
}

TEST_P(RoomStoreTest, PresenceIsStateOnlyAndDeletedWithTheRoom) {
  Reopen();
  EXPECT_THAT(store_->PutPresence("room", "p"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("room")));
  AppendN("room", 1);
  EXPECT_THAT(store_->GetPresence("room"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("presence")));
  ASSERT_THAT(store_->PutPresence("room", "v1"), IsOk());
  ASSERT_THAT(store_->PutPresence("room", "v2"), IsOk());
  EXPECT_THAT(store_->GetPresence("room"), IsOkAndHolds("v2"));
  ASSERT_THAT(store_->DeleteRoom("room"), IsOk());
  EXPECT_THAT(store_->GetPresence("room"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("not found")));
}

TEST_P(RoomStoreTest, ListInspectAndDeleteRooms) {
  Reopen();
  AppendN("bb", 3);
  AppendN("a", 1);
  AppendN("c", 2);
  // Key order: shorter ids first, then bytewise.
  EXPECT_THAT(store_->ListRooms(), IsOkAndHolds(ElementsAre("a", "c", "bb")));
  EXPECT_THAT(store_->ListRooms("a", 1), IsOkAndHolds(ElementsAre("c")));
  EXPECT_THAT(store_->ListRooms("c"), IsOkAndHolds(ElementsAre("bb")));

  ASSERT_THAT(store_->Flush(), IsOk());
  auto info = store_->GetRoomInfo("bb");
  ASSERT_THAT(info, IsOk());
  EXPECT_EQ(info->first_seq, 1u);
  EXPECT_EQ(info->last_seq, 3u);
  EXPECT_FALSE(info->snapshot_seq.has_value());
  EXPECT_EQ(info->created, absl::FromUnixMicros(now_micros_.load()));
  if (GetParam() == Backend::kDisk) {
    EXPECT_GT(info->approximate_bytes, 0u);
  }

  ASSERT_THAT(store_->DeleteRoom("bb"), IsOk());
  EXPECT_THAT(store_->DeleteRoom("bb"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("bb")));
  EXPECT_THAT(store_->GetRoomInfo("bb"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("bb")));
  EXPECT_THAT(store_->ListRooms(), IsOkAndHolds(ElementsAre("a", "c")));
  Reopen();
  EXPECT_THAT(store_->ListRooms(), IsOkAndHolds(ElementsAre("a", "c")));
}

TEST_P(RoomStoreTest, DeletedRoomIsRecreatedUnderANewEpochFromSeqOne) {
  Reopen();
  AppendResult old = AppendN("room", 4);
  ASSERT_THAT(store_->WriteSnapshot("room", old.epoch, 2, "s"), IsOk());
  ASSERT_THAT(store_->DeleteRoom("room"), IsOk());
  AppendResult fresh = AppendN("room", 1, 100);
  EXPECT_EQ(fresh.first_seq, 1u);
  EXPECT_NE(fresh.epoch, old.epoch);
  auto loaded = store_->LoadRoom("room");
  ASSERT_THAT(loaded, IsOk());
  EXPECT_FALSE(loaded->snapshot.has_value());
  EXPECT_THAT(ReadAll(*loaded->tail).changes, ElementsAre(Pair(1, "room#100")));
}

TEST_P(RoomStoreTest, LoadRoomReturnsSnapshotAndTail) {
  Reopen();
  EXPECT_THAT(store_->LoadRoom("room"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("room")));
  AppendResult a = AppendN("room", 100);
  auto plain = store_->LoadRoom("room");
  ASSERT_THAT(plain, IsOk());
  EXPECT_FALSE(plain->snapshot.has_value());
  EXPECT_EQ(plain->epoch, a.epoch);
  EXPECT_EQ(plain->last_seq, 100u);
  EXPECT_EQ(Seqs(ReadAll(*plain->tail)), Range(1, 100));

  ASSERT_THAT(store_->WriteSnapshot("room", a.epoch, 60, "state@60"), IsOk());
  auto loaded = store_->LoadRoom("room");
  ASSERT_THAT(loaded, IsOk());
  ASSERT_TRUE(loaded->snapshot.has_value());
  EXPECT_EQ(loaded->snapshot->seq, 60u);
  EXPECT_EQ(loaded->snapshot->bytes, "state@60");
  ReadResult tail = ReadAll(*loaded->tail);
  EXPECT_THAT(tail.status, IsOk());
  EXPECT_EQ(Seqs(tail), Range(61, 100));
  EXPECT_EQ(tail.changes.front().second, "room#61");
}

TEST_P(RoomStoreTest, RestoreRoomReplacesHistoryUnderANewEpoch) {
  Reopen();
  AppendResult a = AppendN("room", 5);
  ASSERT_THAT(store_->PutPresence("room", "p"), IsOk());
  auto epoch = store_->RestoreRoom("room", "imported");
  ASSERT_THAT(epoch, IsOk());
  EXPECT_NE(*epoch, a.epoch);
  auto loaded = store_->LoadRoom("room");
  ASSERT_THAT(loaded, IsOk());
  ASSERT_TRUE(loaded->snapshot.has_value());
  EXPECT_EQ(loaded->snapshot->seq, 0u);
  EXPECT_EQ(loaded->snapshot->bytes, "imported");
  EXPECT_FALSE(loaded->tail->Valid());
  EXPECT_THAT(loaded->tail->status(), IsOk());
  EXPECT_THAT(store_->GetPresence("room"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("presence")));
  AppendResult next = AppendN("room", 1);
  EXPECT_EQ(next.first_seq, 1u);
  EXPECT_EQ(next.epoch, *epoch);
  // Restoring an unknown room creates it.
  EXPECT_THAT(store_->RestoreRoom("new-room", "x"), IsOk());
  EXPECT_THAT(store_->GetRoomInfo("new-room"), IsOk());
}

TEST_P(RoomStoreTest, OpenWithoutCreateIfMissingIsNotFound) {
  options_.create_if_missing = false;
  auto store = RoomStore::Open(dir_.Sub("absent"), options_);
  EXPECT_THAT(
      store, StatusIs(absl::StatusCode::kNotFound, HasSubstr("no room store")));
}

INSTANTIATE_TEST_SUITE_P(Backends, RoomStoreTest,
                         ::testing::Values(Backend::kDisk, Backend::kMemEnv),
                         BackendName);

TEST(RoomStoreDisk, SecondOpenOfTheSameDirectoryIsUnavailable) {
  TempDir dir;
  auto first = RoomStore::Open(dir.path(), RoomStoreOptions());
  ASSERT_THAT(first, IsOk());
  auto second = RoomStore::Open(dir.path(), RoomStoreOptions());
  EXPECT_THAT(second,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("LOCK")));
}

}  // namespace
}  // namespace lattice::storage::testing
