// Power loss: the store runs on PowerLossFileSystem, which at a simulated
// crash drops every byte not yet fsynced (and files whose directory entry was
// never synced). In kSync mode no acknowledged change and no acknowledged
// snapshot may be lost, and what survives must be whole (crash oracle). A
// control test shows the file system does drop data: kProcess loses
// acknowledged changes, as documented.
//
// Cycles: LATTICE_STORAGE_POWER_CYCLES (default 20); seed:
// LATTICE_STORAGE_POWER_SEED (default 1), printed on failure.
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include "storage/room_store.h"
#include "tests/storage/crash_oracle.h"
#include "tests/storage/crash_workload.h"
#include "tests/storage/power_loss_fs.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::storage::testing {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoull(v) : fallback;
}

struct FaultyStore {
  std::shared_ptr<PowerLossFileSystem> fs;
  std::unique_ptr<rocksdb::Env> env;
  std::unique_ptr<RoomStore> store;
};

// Opens `dir` on a fresh PowerLossFileSystem.
absl::StatusOr<FaultyStore> OpenFaulty(const std::string& dir,
                                       Durability durability) {
  FaultyStore f;
  f.fs = std::make_shared<PowerLossFileSystem>(rocksdb::FileSystem::Default());
  f.env = rocksdb::NewCompositeEnv(f.fs);
  RoomStoreOptions options;
  options.env = f.env.get();
  options.durability = durability;
  options.write_buffer_bytes = 64 << 10;  // flushes happen under load too
  options.replay_window_changes = 20;
  options.replay_window_age = absl::ZeroDuration();
  auto store = RoomStore::Open(dir, options);
  if (!store.ok()) return store.status();
  f.store = *std::move(store);
  return f;
}

std::vector<absl::string_view> Views(const std::vector<std::string>& v) {
  return std::vector<absl::string_view>(v.begin(), v.end());
}

TEST(PowerLoss, SyncModeLosesNoAcknowledgedChange) {
  const uint64_t cycles = EnvOr("LATTICE_STORAGE_POWER_CYCLES", 20);
  const uint64_t seed = EnvOr("LATTICE_STORAGE_POWER_SEED", 1);
  SCOPED_TRACE(::testing::Message() << "LATTICE_STORAGE_POWER_SEED=" << seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AckedHistory history;
  uint64_t total_dropped = 0;

  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE(::testing::Message() << "cycle " << cycle);
    auto faulty = OpenFaulty(dir.path(), Durability::kSync);
    ASSERT_THAT(faulty, IsOk());
    absl::Mutex mu;
    std::vector<Ack> acks;
    std::atomic<bool> stop{false};
    WorkloadOptions load;
    load.seed = seed * 10000 + cycle;
    std::thread runner([&] {
      RunWorkload(*faulty->store, load, stop, [&](const Ack& ack) {
        absl::MutexLock lock(&mu);
        acks.push_back(ack);
      });
    });
    std::this_thread::sleep_for(std::chrono::milliseconds(rng() % 150));
    faulty->fs->CutPower();
    stop = true;
    runner.join();
    faulty->store.reset();  // its last writes fail: the power is off
    uint64_t dropped = 0;
    ASSERT_THAT(faulty->fs->ApplyLoss(&dropped), IsOk());
    total_dropped += dropped;
    {
      absl::MutexLock lock(&mu);
      for (const Ack& ack : acks) ASSERT_THAT(ack.RecordIn(history), IsOk());
    }
    auto store = RoomStore::Open(dir.path(), RoomStoreOptions());
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT(history.Verify(**store), IsOk());
  }
  EXPECT_GT(history.appends(), 100u);
  // The file system did drop unsynced bytes along the way.
  EXPECT_GT(total_dropped, 0u);
}

// Deterministic control pair: 200 single-change appends, then power loss.
// kSync keeps all 200; kProcess (never fsynced, memtable never flushed)
// loses acknowledged changes, proving the fault injection has teeth.
TEST(PowerLoss, SyncKeepsWhatProcessModeLoses) {
  for (Durability durability : {Durability::kSync, Durability::kProcess}) {
    const bool sync = durability == Durability::kSync;
    SCOPED_TRACE(sync ? "kSync" : "kProcess");
    TempDir dir;
    {
      auto faulty = OpenFaulty(dir.path(), durability);
      ASSERT_THAT(faulty, IsOk());
      for (int i = 1; i <= 200; ++i) {
        const std::vector<std::string> one = {ChangePayload("c", Seq(i))};
        auto r = faulty->store->Append("room", Views(one));
        ASSERT_THAT(r, IsOk());
        ASSERT_EQ(r->last_seq, static_cast<Seq>(i));
      }
      faulty->fs->CutPower();
      faulty->store.reset();
      ASSERT_THAT(faulty->fs->ApplyLoss(), IsOk());
    }
    auto store = RoomStore::Open(dir.path(), RoomStoreOptions());
    ASSERT_THAT(store, IsOk());
    auto info = (*store)->GetRoomInfo("room");
    if (sync) {
      ASSERT_THAT(info, IsOk());
      EXPECT_EQ(info->last_seq, 200u);
    } else if (info.ok()) {
      EXPECT_LT(info->last_seq, 200u);
    } else {
      EXPECT_THAT(info, StatusIs(absl::StatusCode::kNotFound, ::testing::_));
    }
  }
}

}  // namespace
}  // namespace lattice::storage::testing
