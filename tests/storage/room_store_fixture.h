// A gtest fixture that opens a RoomStore in a fresh directory, on the real
// file system or on rocksdb::NewMemEnv (the two store configurations every
// conformance test runs against), with a settable clock.
#ifndef LATTICE_TESTS_STORAGE_ROOM_STORE_FIXTURE_H_
#define LATTICE_TESTS_STORAGE_ROOM_STORE_FIXTURE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include <rocksdb/env.h>

#include "storage/room_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace lattice::storage::testing {

enum class Backend { kDisk, kMemEnv };

inline std::string BackendName(const ::testing::TestParamInfo<Backend>& info) {
  return info.param == Backend::kDisk ? "Disk" : "MemEnv";
}

class RoomStoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty()) << "mkdtemp failed";
    if (GetParam() == Backend::kMemEnv) {
      mem_env_.reset(rocksdb::NewMemEnv(rocksdb::Env::Default()));
    }
    options_.env = mem_env_.get();
    options_.clock = [this] {
      return absl::FromUnixMicros(now_micros_.load());
    };
    options_.replay_window_changes = 0;
    options_.replay_window_age = absl::ZeroDuration();
  }

  // (Re)opens the store with options_, closing any open one first.
  void Reopen() {
    store_.reset();
    auto store = RoomStore::Open(dir_.path(), options_);
    ASSERT_THAT(store, lattice::testing::IsOk());
    store_ = *std::move(store);
  }

  void SetNow(absl::Time t) { now_micros_ = absl::ToUnixMicros(t); }

  // Appends `n` changes "<room>#<i>" (i from `from`) one Append call.
  AppendResult AppendN(absl::string_view room, int n, int from = 1) {
    std::vector<std::string> data;
    for (int i = 0; i < n; ++i) {
      data.push_back(std::string(room) + "#" + std::to_string(from + i));
    }
    std::vector<absl::string_view> views(data.begin(), data.end());
    auto r = store_->Append(room, views);
    EXPECT_THAT(r, lattice::testing::IsOk());
    return r.ok() ? *r : AppendResult{};
  }

  // Reads the whole retained log after `after`, failing the test on error.
  ReadResult ReadFrom(absl::string_view room, Epoch epoch, Seq after) {
    auto it = store_->ReadAfter(room, epoch, after);
    EXPECT_THAT(it, lattice::testing::IsOk());
    if (!it.ok()) return {};
    return ReadAll(**it);
  }

  TempDir dir_;
  std::unique_ptr<rocksdb::Env> mem_env_;
  std::atomic<int64_t> now_micros_{
      absl::ToUnixMicros(absl::FromUnixSeconds(1'700'000'000))};
  RoomStoreOptions options_;
  std::unique_ptr<RoomStore> store_;
};

}  // namespace lattice::storage::testing

#endif  // LATTICE_TESTS_STORAGE_ROOM_STORE_FIXTURE_H_
