#include "sdk/local_store.h"

#include <filesystem>
#include <memory>
#include <string>
#include <unistd.h>

#include "tests/testing/status_matchers.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Oracle: what was written is what LoadRoom returns (records of other rooms
// and documents never leak in, names with any bytes included), a snapshot
// drops exactly the log entries below its end, and the store survives a
// reopen. Real RocksDB in a fresh temp directory per test.

namespace lattice::sdk {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

class LocalStoreTest : public ::testing::Test {
 protected:
  LocalStoreTest()
      : dir_(std::filesystem::temp_directory_path() /
             absl::StrCat("lattice-local-store-", getpid(), "-",
                          ::testing::UnitTest::GetInstance()
                              ->current_test_info()
                              ->name())) {
    std::filesystem::remove_all(dir_);
  }
  ~LocalStoreTest() override { std::filesystem::remove_all(dir_); }

  std::unique_ptr<LocalStore> Open() {
    auto s = LocalStore::Open(dir_.string());
    EXPECT_THAT(s.status(), IsOk());
    return s.ok() ? *std::move(s) : nullptr;
  }

  std::filesystem::path dir_;
};

TEST_F(LocalStoreTest, RoundTripsRoomsAcrossReopen) {
  {
    auto store = Open();
    ASSERT_TRUE(store);
    EXPECT_THAT(store->LoadReplica(), IsOkAndHolds(0u));
    ASSERT_THAT(store->SaveReplica(42), IsOk());
    ASSERT_THAT(store->Append("board", "tasks", 0, "u0", std::nullopt), IsOk());
    ASSERT_THAT(store->Append("board", "tasks", 1, "u1", ResumePoint{3, 9}),
                IsOk());
    ASSERT_THAT(store->Append("board", "notes", 0, "n0", std::nullopt), IsOk());
    // A room whose name is a prefix of another, and one with a NUL.
    ASSERT_THAT(store->Append("boar", "x", 0, "other", std::nullopt), IsOk());
    ASSERT_THAT(
        store->Append(std::string("bo\0ard", 6), "x", 0, "nul", std::nullopt),
        IsOk());
  }
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_THAT(store->LoadReplica(), IsOkAndHolds(42u));
  auto room = store->LoadRoom("board");
  ASSERT_THAT(room.status(), IsOk());
  EXPECT_EQ(room->resume, (ResumePoint{3, 9}));
  ASSERT_EQ(room->docs.size(), 2u);
  EXPECT_THAT(room->docs["tasks"].log, ElementsAre("u0", "u1"));
  EXPECT_EQ(room->docs["tasks"].next_log_index, 2u);
  EXPECT_TRUE(room->docs["tasks"].snapshot.empty());
  EXPECT_THAT(room->docs["notes"].log, ElementsAre("n0"));
  EXPECT_THAT(store->Rooms(), IsOkAndHolds(ElementsAre(
                                  "boar", "board", std::string("bo\0ard", 6))));
  auto empty = store->LoadRoom("nothing");
  ASSERT_THAT(empty.status(), IsOk());
  EXPECT_TRUE(empty->docs.empty());
  EXPECT_EQ(empty->resume, ResumePoint{});
}

TEST_F(LocalStoreTest, SnapshotDropsTheLogBelowItsEnd) {
  auto store = Open();
  ASSERT_TRUE(store);
  for (uint64_t i = 0; i < 4; ++i) {
    ASSERT_THAT(store->Append("r", "d", i, absl::StrCat("u", i), std::nullopt),
                IsOk());
  }
  ASSERT_THAT(store->SaveSnapshot("r", "d", "snap", 3), IsOk());
  ASSERT_THAT(store->SaveResume("r", {1, 2}), IsOk());
  auto room = store->LoadRoom("r");
  ASSERT_THAT(room.status(), IsOk());
  EXPECT_EQ(room->docs["d"].snapshot, "snap");
  EXPECT_THAT(room->docs["d"].log, ElementsAre("u3"));
  EXPECT_EQ(room->docs["d"].next_log_index, 4u);
  EXPECT_EQ(room->resume, (ResumePoint{1, 2}));
}

TEST_F(LocalStoreTest, OneProcessAtATime) {
  auto store = Open();
  ASSERT_TRUE(store);
  EXPECT_THAT(LocalStore::Open(dir_.string()),
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("LOCK")));
}

}  // namespace
}  // namespace lattice::sdk
