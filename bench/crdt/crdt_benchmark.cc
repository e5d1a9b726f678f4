// crdt::Doc on the real editing traces (shared/data/editing-traces), per
// trace (the argument indexes kTraces; the label names it):
//   LocalApply            every txn as local edits, op by op, one session;
//                         Commit() once at the end, outside the timing (the
//                         peers' local mode encodes no per-txn update)
//   LocalApplyCommitEach  the same with Commit() after every txn (a live
//                         client); updateBytes sums the updates
//   EncodeSnapshot / LoadSnapshot (load includes reading the text)
//   ApplyHistoryRemote    ChangesSince({}) applied as one update to a fresh
//                         replica
//   ChangesSinceLast1Pct  ChangesSince(v) where v is the version of a replica
//                         that replayed the first 99% of the txns
// Byte sizes and Doc::MemoryUsage() are reported as counters.
//
//   build/h2/bench/crdt/crdt_benchmark --benchmark_filter='LocalApply/0'
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "bench/trace/trace_file.h"
#include "bench/trace/trace_replay.h"
#include "crdt/doc.h"

#include "benchmark/benchmark.h"

#ifndef LATTICE_TRACES_DIR
#error "LATTICE_TRACES_DIR must name shared/data/editing-traces"
#endif

namespace lattice::bench {
namespace {

using crdt::Doc;

constexpr const char* kTraces[] = {
    "automerge-paper",     "seph-blog1",       "rustcode",
    "friendsforever_flat", "clownschool_flat", "json-crdt-patch",
};
constexpr int kNumTraces = sizeof(kTraces) / sizeof(kTraces[0]);

// Parsed once per process, before any timing.
const Trace* GetTrace(benchmark::State& state) {
  static std::map<int, std::unique_ptr<Trace>> cache;
  const int i = static_cast<int>(state.range(0));
  state.SetLabel(kTraces[i]);
  auto it = cache.find(i);
  if (it == cache.end()) {
    auto t = ReadTraceFile(std::string(LATTICE_TRACES_DIR) +
                           "/sequential_traces/" + kTraces[i] + ".json.gz");
    if (!t.ok()) {
      state.SkipWithError(t.status().ToString().c_str());
      return nullptr;
    }
    it = cache.emplace(i, std::make_unique<Trace>(*std::move(t))).first;
  }
  return it->second.get();
}

// Replays the first `txns` txns of `trace` as replica 1, committing each txn
// when `commit_each` (adding the update sizes to *update_bytes).
std::unique_ptr<Doc> Replay(const Trace& trace, size_t txns, bool commit_each,
                            uint64_t* update_bytes) {
  auto doc = std::make_unique<Doc>(1);
  auto text =
      doc->MapSetContainer(crdt::kRootId, "text", crdt::ContainerType::kText);
  if (!text.ok()) return nullptr;
  for (size_t i = 0; i < txns; ++i) {
    if (!ApplyPatches(*doc, *text, trace.txns[i].patches).ok()) return nullptr;
    if (commit_each) *update_bytes += doc->Commit().size();
  }
  return doc;
}

// The full doc, committed, or nullptr after reporting an error.
std::unique_ptr<Doc> FullDoc(benchmark::State& state, const Trace& trace) {
  uint64_t unused = 0;
  auto doc = Replay(trace, trace.txns.size(), false, &unused);
  if (doc == nullptr || TextOf(*doc) != trace.end_content) {
    state.SkipWithError("replay does not give endContent");
    return nullptr;
  }
  doc->Commit();
  return doc;
}

void SetPatchCounters(benchmark::State& state, const Trace& trace) {
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(trace.patch_count));
  state.counters["patches"] = static_cast<double>(trace.patch_count);
}

void BM_LocalApply(benchmark::State& state) {
  const Trace* trace = GetTrace(state);
  if (trace == nullptr) return;
  uint64_t memory = 0;
  for (auto _ : state) {
    uint64_t unused = 0;
    auto doc = Replay(*trace, trace->txns.size(), false, &unused);
    auto text = TextOf(*doc);
    benchmark::DoNotOptimize(text);
    state.PauseTiming();
    if (text != trace->end_content) state.SkipWithError("text differs");
    doc->Commit();
    memory = doc->MemoryUsage();
    doc.reset();
    state.ResumeTiming();
  }
  SetPatchCounters(state, *trace);
  state.counters["docMemoryUsage"] = static_cast<double>(memory);
}

void BM_LocalApplyCommitEach(benchmark::State& state) {
  const Trace* trace = GetTrace(state);
  if (trace == nullptr) return;
  uint64_t bytes = 0;
  for (auto _ : state) {
    bytes = 0;
    auto doc = Replay(*trace, trace->txns.size(), true, &bytes);
    benchmark::DoNotOptimize(doc);
    state.PauseTiming();
    doc.reset();
    state.ResumeTiming();
  }
  SetPatchCounters(state, *trace);
  state.counters["updateBytes"] = static_cast<double>(bytes);
}

void BM_EncodeSnapshot(benchmark::State& state) {
  const Trace* trace = GetTrace(state);
  if (trace == nullptr) return;
  auto doc = FullDoc(state, *trace);
  if (doc == nullptr) return;
  size_t bytes = 0;
  for (auto _ : state) {
    std::string snapshot = doc->EncodeSnapshot();
    bytes = snapshot.size();
    benchmark::DoNotOptimize(snapshot);
  }
  state.counters["docBytes"] = static_cast<double>(bytes);
}

// Loads with the structural checks (what storage/ does with its own
// snapshots); BM_LoadSnapshotFullCheck adds the replay of the default.
void LoadSnapshot(benchmark::State& state, crdt::SnapshotCheck check) {
  crdt::DocOptions options;
  options.snapshot_check = check;
  const Trace* trace = GetTrace(state);
  if (trace == nullptr) return;
  auto doc = FullDoc(state, *trace);
  if (doc == nullptr) return;
  const std::string snapshot = doc->EncodeSnapshot();
  doc.reset();
  uint64_t memory = 0;
  for (auto _ : state) {
    auto loaded = Doc::LoadSnapshot(2, snapshot, options);
    std::string text = loaded.ok() ? TextOf(**loaded) : std::string();
    benchmark::DoNotOptimize(text);
    state.PauseTiming();
    if (text != trace->end_content) state.SkipWithError("text differs");
    if (loaded.ok()) memory = (*loaded)->MemoryUsage();
    loaded = absl::StatusOr<std::unique_ptr<Doc>>();
    state.ResumeTiming();
  }
  state.counters["docBytes"] = static_cast<double>(snapshot.size());
  state.counters["loadedDocMemoryUsage"] = static_cast<double>(memory);
}

void BM_LoadSnapshot(benchmark::State& state) {
  LoadSnapshot(state, crdt::SnapshotCheck::kStructure);
}
void BM_LoadSnapshotFullCheck(benchmark::State& state) {
  LoadSnapshot(state, crdt::SnapshotCheck::kFull);
}

void BM_ApplyHistoryRemote(benchmark::State& state) {
  const Trace* trace = GetTrace(state);
  if (trace == nullptr) return;
  auto doc = FullDoc(state, *trace);
  if (doc == nullptr) return;
  const std::string update = doc->ChangesSince(crdt::VersionVector());
  doc.reset();
  for (auto _ : state) {
    auto fresh = std::make_unique<Doc>(2);
    auto r = fresh->ApplyUpdate(update);
    benchmark::DoNotOptimize(r);
    state.PauseTiming();
    if (!r.ok() || TextOf(*fresh) != trace->end_content)
      state.SkipWithError("remote history does not give endContent");
    fresh.reset();
    state.ResumeTiming();
  }
  state.counters["updateBytes"] = static_cast<double>(update.size());
}

void BM_ChangesSinceLast1Pct(benchmark::State& state) {
  const Trace* trace = GetTrace(state);
  if (trace == nullptr) return;
  auto doc = FullDoc(state, *trace);
  if (doc == nullptr) return;
  uint64_t unused = 0;
  auto partial = Replay(*trace, trace->txns.size() * 99 / 100, false, &unused);
  partial->Commit();
  const crdt::VersionVector since = partial->version();
  size_t bytes = 0;
  for (auto _ : state) {
    std::string delta = doc->ChangesSince(since);
    bytes = delta.size();
    benchmark::DoNotOptimize(delta);
  }
  // The delta must bring the 99% replica to the full text.
  if (!partial->ApplyUpdate(doc->ChangesSince(since)).ok() ||
      TextOf(*partial) != trace->end_content) {
    state.SkipWithError("the 1% delta does not complete the replica");
  }
  state.counters["deltaBytes"] = static_cast<double>(bytes);
  state.counters["missingOps"] =
      static_cast<double>(doc->version().Total() - since.Total());
}

#define LATTICE_TRACE_BENCHMARK(fn) \
  BENCHMARK(fn)->DenseRange(0, kNumTraces - 1)->Unit(benchmark::kMillisecond)

LATTICE_TRACE_BENCHMARK(BM_LocalApply);
LATTICE_TRACE_BENCHMARK(BM_LocalApplyCommitEach);
LATTICE_TRACE_BENCHMARK(BM_EncodeSnapshot);
LATTICE_TRACE_BENCHMARK(BM_LoadSnapshot);
LATTICE_TRACE_BENCHMARK(BM_LoadSnapshotFullCheck);
LATTICE_TRACE_BENCHMARK(BM_ApplyHistoryRemote);
LATTICE_TRACE_BENCHMARK(BM_ChangesSinceLast1Pct);

}  // namespace
}  // namespace lattice::bench

BENCHMARK_MAIN();
