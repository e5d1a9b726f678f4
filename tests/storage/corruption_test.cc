// Corrupt or inconsistent records written behind the store's back (with raw
// RocksDB) must surface as DataLoss naming the room and the key, never as a
// crash or as silently wrong data.
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/db.h>

#include "storage/internal/format.h"
#include "storage/room_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

#include "absl/strings/escaping.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::storage::testing {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;

// Opens the store's directory with plain RocksDB for one edit.
class RawDb {
 public:
  explicit RawDb(const std::string& path) {
    rocksdb::DBOptions options;
    std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
    for (const char* name :
         {rocksdb::kDefaultColumnFamilyName.c_str(), internal::kChangesCf,
          internal::kSnapshotsCf, internal::kPresenceCf, internal::kMetaCf}) {
      cfs.emplace_back(name, rocksdb::ColumnFamilyOptions());
    }
    rocksdb::DB* raw = nullptr;
    status_ = rocksdb::DB::Open(options, path, cfs, &handles_, &raw);
    db_.reset(raw);
  }
  ~RawDb() {
    for (auto* h : handles_) (void)db_->DestroyColumnFamilyHandle(h);
  }
  bool ok() const { return status_.ok(); }
  void Put(int cf, const std::string& key, const std::string& value) {
    ASSERT_TRUE(db_->Put(rocksdb::WriteOptions(),
                         handles_[static_cast<size_t>(cf)], key, value)
                    .ok());
  }
  void Delete(int cf, const std::string& key) {
    ASSERT_TRUE(db_->Delete(rocksdb::WriteOptions(),
                            handles_[static_cast<size_t>(cf)], key)
                    .ok());
  }
  static constexpr int kDefault = 0, kChanges = 1, kSnapshots = 2, kMeta = 4;

 private:
  rocksdb::Status status_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::unique_ptr<rocksdb::DB> db_;
};

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    options_.replay_window_changes = 0;
    options_.replay_window_age = absl::ZeroDuration();
    auto store = RoomStore::Open(dir_.path(), options_);
    ASSERT_THAT(store, IsOk());
    const absl::string_view changes[] = {"c1", "c2", "c3", "c4"};
    auto r = (*store)->Append("room-a", changes);
    ASSERT_THAT(r, IsOk());
    epoch_ = r->epoch;
  }

  // Applies `edit` with raw RocksDB, then reopens the store.
  template <typename Edit>
  std::unique_ptr<RoomStore> EditAndReopen(Edit edit) {
    {
      RawDb raw(dir_.path());
      EXPECT_TRUE(raw.ok());
      if (raw.ok()) edit(raw);
    }
    auto store = RoomStore::Open(dir_.path(), options_);
    EXPECT_THAT(store, IsOk());
    return store.ok() ? *std::move(store) : nullptr;
  }

  static std::string Hex(const std::string& key) {
    return absl::BytesToHexString(key);
  }

  TempDir dir_;
  RoomStoreOptions options_;
  Epoch epoch_ = 0;
};

TEST_F(CorruptionTest, BadVersionByteInAChange) {
  const std::string key = internal::ChangeKey("room-a", 2);
  auto store = EditAndReopen([&](RawDb& raw) {
    raw.Put(RawDb::kChanges, key,
            std::string("\x09"
                        "00000000c2",
                        10));
  });
  ASSERT_NE(store, nullptr);
  auto it = store->ReadAfter("room-a", epoch_, 0);
  ASSERT_THAT(it, IsOk());
  ReadResult r = ReadAll(**it);
  EXPECT_EQ(Seqs(r), Range(1, 1));  // stops at the bad record
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kDataLoss,
                                 AllOf(HasSubstr("room-a"), HasSubstr(Hex(key)),
                                       HasSubstr("version 9"))));
}

TEST_F(CorruptionTest, ShortChangeRecord) {
  const std::string key = internal::ChangeKey("room-a", 3);
  auto store = EditAndReopen([&](RawDb& raw) {
    raw.Put(RawDb::kChanges, key,
            "\x01"
            "ab");
  });
  ASSERT_NE(store, nullptr);
  auto it = store->ReadAfter("room-a", epoch_, 2);
  ASSERT_THAT(it, IsOk());
  ReadResult r = ReadAll(**it);
  EXPECT_TRUE(r.changes.empty());
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kDataLoss,
                                 AllOf(HasSubstr("room-a"), HasSubstr(Hex(key)),
                                       HasSubstr("short record"))));
}

TEST_F(CorruptionTest, MalformedKeyInsideTheRoomsRange) {
  const std::string key = internal::ChangeKey("room-a", 2) + "x";
  auto store = EditAndReopen([&](RawDb& raw) {
    raw.Put(RawDb::kChanges, key,
            "\x01"
            "00000000");
  });
  ASSERT_NE(store, nullptr);
  auto it = store->ReadAfter("room-a", epoch_, 0);
  ASSERT_THAT(it, IsOk());
  ReadResult r = ReadAll(**it);
  EXPECT_EQ(Seqs(r), Range(1, 2));
  EXPECT_THAT(r.status, StatusIs(absl::StatusCode::kDataLoss,
                                 AllOf(HasSubstr("room-a"), HasSubstr(Hex(key)),
                                       HasSubstr("9 bytes"))));
}

TEST_F(CorruptionTest, HoleInTheLog) {
  auto store = EditAndReopen([&](RawDb& raw) {
    raw.Delete(RawDb::kChanges, internal::ChangeKey("room-a", 2));
  });
  ASSERT_NE(store, nullptr);
  auto loaded = store->LoadRoom("room-a");
  ASSERT_THAT(loaded, IsOk());
  ReadResult r = ReadAll(*loaded->tail);
  EXPECT_EQ(Seqs(r), Range(1, 1));
  EXPECT_THAT(
      r.status,
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("room-a"), HasSubstr("hole"),
                     HasSubstr(Hex(internal::ChangeKey("room-a", 3))))));
}

TEST_F(CorruptionTest, MissingTailIsDetected) {
  // The last record decodes but an earlier one vanished: LoadRoom's tail must
  // not end early without saying so.
  auto store = EditAndReopen([&](RawDb& raw) {
    raw.Delete(RawDb::kChanges, internal::ChangeKey("room-a", 3));
  });
  ASSERT_NE(store, nullptr);
  auto it = store->ReadAfter("room-a", epoch_, 2);
  ASSERT_THAT(it, IsOk());
  ReadResult r = ReadAll(**it);
  EXPECT_TRUE(r.changes.empty());
  EXPECT_THAT(r.status,
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("hole")));
}

TEST_F(CorruptionTest, CorruptMetadata) {
  const std::string key = internal::RoomKey("room-a");
  auto store = EditAndReopen([&](RawDb& raw) {
    raw.Put(RawDb::kMeta, key,
            "\x01"
            "short");
  });
  ASSERT_NE(store, nullptr);
  const auto matches = StatusIs(
      absl::StatusCode::kDataLoss,
      AllOf(HasSubstr("meta"), HasSubstr("room-a"), HasSubstr(Hex(key))));
  EXPECT_THAT(store->GetRoomInfo("room-a"), matches);
  EXPECT_THAT(store->ReadAfter("room-a", epoch_, 0), matches);
  EXPECT_THAT(store->LoadRoom("room-a"), matches);
  const absl::string_view one[] = {"x"};
  EXPECT_THAT(store->Append("room-a", one), matches);
  // Other rooms are unaffected.
  EXPECT_THAT(store->Append("room-b", one), IsOk());
}

TEST_F(CorruptionTest, ChangesWithoutMetadata) {
  auto store = EditAndReopen([&](RawDb& raw) {
    raw.Delete(RawDb::kMeta, internal::RoomKey("room-a"));
  });
  ASSERT_NE(store, nullptr);
  const absl::string_view one[] = {"x"};
  EXPECT_THAT(
      store->Append("room-a", one),
      StatusIs(absl::StatusCode::kDataLoss,
               AllOf(HasSubstr("room-a"), HasSubstr("without room metadata"))));
}

TEST_F(CorruptionTest, SnapshotThatDisagreesWithMetadata) {
  {
    auto store = RoomStore::Open(dir_.path(), options_);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->WriteSnapshot("room-a", epoch_, 2, "s@2"), IsOk());
  }
  const std::string key = internal::RoomKey("room-a");
  auto store = EditAndReopen([&](RawDb& raw) {
    const auto header = internal::EncodeSnapshotHeader(3, 0);
    raw.Put(RawDb::kSnapshots, key,
            std::string(header.data(), header.size()) + "s@3");
  });
  ASSERT_NE(store, nullptr);
  EXPECT_THAT(store->LoadRoom("room-a"),
              StatusIs(absl::StatusCode::kDataLoss,
                       AllOf(HasSubstr("room-a"), HasSubstr(Hex(key)),
                             HasSubstr("snapshot seq 3 but metadata says 2"))));
}

TEST_F(CorruptionTest, UnknownStoreFormatIsRefused) {
  {
    RawDb raw(dir_.path());
    ASSERT_TRUE(raw.ok());
    raw.Put(RawDb::kDefault, internal::kStoreFormatKey, "\x02");
  }
  EXPECT_THAT(
      RoomStore::Open(dir_.path(), options_),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("format 02")));
}

}  // namespace
}  // namespace lattice::storage::testing
