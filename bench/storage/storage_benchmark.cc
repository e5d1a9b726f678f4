// RoomStore benchmarks (issue 4). Results and the command that produced them:
// BENCHMARKS.md.
//
//   BM_Append/sync:S/shared_room:R/threads:T  acknowledged 100-byte changes/s
//       (items_per_second) from T writer threads, one Append per change, in
//       kSync (S=1) or kProcess (S=0) mode, each writer on its own room (R=0)
//       or all on one room (R=1).
//   BM_Replay          changes/s streamed by ReadAfter from a warm store.
//   BM_ColdLoad/snapshot:N  LoadRoom of a 1,000,000-change room from a freshly
//       opened store (block cache empty, OS page cache warm): snapshot + tail
//       (N=1, 4 MiB snapshot at the last seq) or the whole log (N=0). Store
//       open time is reported separately as open_ms.
//
// Data lives under $TMPDIR (default /tmp) and is deleted afterwards.
#include <chrono>
#include <filesystem>
#include <memory>
#include <random>
#include <stdlib.h>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "storage/room_store.h"

namespace lattice::storage {
namespace {

constexpr size_t kChangeBytes = 100;

std::string MakeTempDir(const char* name) {
  const char* base = getenv("TMPDIR");
  std::string tmpl = std::string(base && *base ? base : "/tmp") +
                     "/lattice-bench-" + name + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) abort();
  return tmpl;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s(n, '\0');
  for (char& c : s) c = static_cast<char>(rng() & 0xff);
  return s;
}

// ---- Append throughput ----

std::string g_append_dir;
std::unique_ptr<RoomStore> g_append_store;

void SetUpAppend(const benchmark::State& state) {
  g_append_dir = MakeTempDir("append");
  RoomStoreOptions options;
  options.durability =
      state.range(0) == 1 ? Durability::kSync : Durability::kProcess;
  auto store = RoomStore::Open(g_append_dir, options);
  if (!store.ok()) abort();
  g_append_store = *std::move(store);
}

void TearDownAppend(const benchmark::State&) {
  g_append_store.reset();
  std::filesystem::remove_all(g_append_dir);
}

void BM_Append(benchmark::State& state) {
  const std::string room = state.range(1) == 1
                               ? std::string("shared")
                               : "room-" + std::to_string(state.thread_index());
  const std::string change = RandomBytes(
      kChangeBytes, 1 + static_cast<uint64_t>(state.thread_index()));
  const absl::string_view batch[] = {change};
  for (auto _ : state) {
    auto r = g_append_store->Append(room, batch);
    if (!r.ok()) {
      state.SkipWithError(r.status().ToString().c_str());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(kChangeBytes));
}
BENCHMARK(BM_Append)
    ->Setup(SetUpAppend)
    ->Teardown(TearDownAppend)
    ->ArgNames({"sync", "shared_room"})
    ->ArgsProduct({{1, 0}, {0, 1}})
    ->Threads(1)
    ->Threads(64)
    ->MinTime(2.0)
    ->UseRealTime();

// ---- Replay ----

constexpr int kReplayChanges = 200'000;
std::string g_replay_dir;
std::unique_ptr<RoomStore> g_replay_store;
Epoch g_replay_epoch = 0;

void AppendMany(RoomStore& store, const std::string& room, int n,
                Epoch* epoch) {
  const std::string change = RandomBytes(kChangeBytes, 7);
  std::vector<absl::string_view> batch(1000, change);
  for (int done = 0; done < n; done += 1000) {
    auto r = store.Append(room, batch);
    if (!r.ok()) abort();
    *epoch = r->epoch;
  }
}

void SetUpReplay(const benchmark::State&) {
  g_replay_dir = MakeTempDir("replay");
  RoomStoreOptions options;
  options.durability = Durability::kProcess;
  auto store = RoomStore::Open(g_replay_dir, options);
  if (!store.ok()) abort();
  g_replay_store = *std::move(store);
  AppendMany(*g_replay_store, "room", kReplayChanges, &g_replay_epoch);
  if (!g_replay_store->Flush().ok()) abort();
}

void TearDownReplay(const benchmark::State&) {
  g_replay_store.reset();
  std::filesystem::remove_all(g_replay_dir);
}

void BM_Replay(benchmark::State& state) {
  int64_t changes = 0;
  for (auto _ : state) {
    auto it = g_replay_store->ReadAfter("room", g_replay_epoch, 0);
    if (!it.ok()) {
      state.SkipWithError(it.status().ToString().c_str());
      break;
    }
    for (; (*it)->Valid(); (*it)->Next()) {
      benchmark::DoNotOptimize((*it)->bytes().data());
      ++changes;
    }
    if (!(*it)->status().ok() || changes % kReplayChanges != 0) {
      state.SkipWithError("replay incomplete");
      break;
    }
  }
  state.SetItemsProcessed(changes);
  state.SetBytesProcessed(changes * static_cast<int64_t>(kChangeBytes));
}
BENCHMARK(BM_Replay)
    ->Setup(SetUpReplay)
    ->Teardown(TearDownReplay)
    ->Unit(benchmark::kMillisecond);

// ---- Cold load ----

constexpr int kColdChanges = 1'000'000;
constexpr size_t kSnapshotBytes = size_t{4} << 20;
std::string g_cold_dir;

// Builds the store once per run: room "plain" (1M changes, no snapshot) and
// room "snap" (1M changes, snapshot at 1M trimming all but the default
// 10,000-change replay window), flushed and closed.
void SetUpColdLoad(const benchmark::State&) {
  g_cold_dir = MakeTempDir("cold");
  RoomStoreOptions options;
  options.durability = Durability::kProcess;
  options.replay_window_age = absl::ZeroDuration();
  auto store = RoomStore::Open(g_cold_dir, options);
  if (!store.ok()) abort();
  Epoch plain = 0, snap = 0;
  AppendMany(**store, "plain", kColdChanges, &plain);
  AppendMany(**store, "snap", kColdChanges, &snap);
  const std::string snapshot = RandomBytes(kSnapshotBytes, 9);
  if (!(*store)->WriteSnapshot("snap", snap, kColdChanges, snapshot).ok()) {
    abort();
  }
  if (!(*store)->Flush().ok()) abort();
}

void TearDownColdLoad(const benchmark::State&) {
  std::filesystem::remove_all(g_cold_dir);
}

void BM_ColdLoad(benchmark::State& state) {
  const bool with_snapshot = state.range(0) == 1;
  const std::string room = with_snapshot ? "snap" : "plain";
  double open_ms = 0;
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    auto store = RoomStore::Open(g_cold_dir, RoomStoreOptions());
    if (!store.ok()) {
      state.SkipWithError(store.status().ToString().c_str());
      break;
    }
    const auto t1 = std::chrono::steady_clock::now();
    auto loaded = (*store)->LoadRoom(room);
    if (!loaded.ok()) {
      state.SkipWithError(loaded.status().ToString().c_str());
      break;
    }
    size_t bytes =
        loaded->snapshot.has_value() ? loaded->snapshot->bytes.size() : 0;
    int64_t tail = 0;
    for (; loaded->tail->Valid(); loaded->tail->Next()) {
      bytes += loaded->tail->bytes().size();
      ++tail;
    }
    const auto t2 = std::chrono::steady_clock::now();
    benchmark::DoNotOptimize(bytes);
    if (!loaded->tail->status().ok() ||
        (with_snapshot ? !loaded->snapshot.has_value()
                       : tail != kColdChanges)) {
      state.SkipWithError("load incomplete");
      break;
    }
    state.SetIterationTime(std::chrono::duration<double>(t2 - t1).count());
    open_ms += std::chrono::duration<double, std::milli>(t1 - t0).count();
    state.counters["tail_changes"] = static_cast<double>(tail);
  }
  state.counters["open_ms"] =
      benchmark::Counter(open_ms, benchmark::Counter::kAvgIterations);
}
BENCHMARK(BM_ColdLoad)
    ->Setup(SetUpColdLoad)
    ->Teardown(TearDownColdLoad)
    ->ArgName("snapshot")
    ->Arg(1)
    ->Arg(0)
    ->Iterations(5)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace lattice::storage

BENCHMARK_MAIN();
