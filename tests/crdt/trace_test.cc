// Replays the real editing traces of shared/data/editing-traces into Docs.
//
// Oracle: each trace file's `endContent`, the text its recorder ended with.
// Sequential traces are typed as local edits into one Text; the result must
// equal endContent exactly, every committed update replayed in order into a
// follower replica must give the same state, and both a snapshot round-trip
// and the full history (ChangesSince({})) applied to a fresh replica must
// reproduce the text, the version and the snapshot bytes. The concurrent
// trace is replayed with one replica per agent: before each txn the agent's
// replica receives exactly the txns in the causal past it lacks (so its
// version equals the union of the parents' versions, which is what the
// patch positions are relative to); at the end all replicas sync and must
// hold endContent with byte-identical snapshots.
//
// The traces are found through LATTICE_TRACES_DIR (set by CMake to
// ../shared/data/editing-traces beside the repository); a missing directory
// or file fails the test.
#include <cstdint>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "bench/trace/trace_file.h"
#include "bench/trace/trace_replay.h"
#include "crdt/doc.h"
#include "tests/testing/status_matchers.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

#ifndef LATTICE_TRACES_DIR
#error "LATTICE_TRACES_DIR must name shared/data/editing-traces"
#endif

namespace lattice::crdt {
namespace {

using ::lattice::bench::ApplyPatches;
using ::lattice::bench::TextOf;
using ::lattice::bench::Trace;
using ::lattice::testing::IsOk;

namespace fs = std::filesystem;

const fs::path kTracesDir = LATTICE_TRACES_DIR;

// Paths relative to kTracesDir. Together the lists must name every trace
// file there (TraceFiles.EveryFileIsReplayed). All of them run in `unit`: under
// ASan the whole set takes about 25 s (2-core VM, crdt of 2026-11-22); move the
// largest to a `slow` binary if that grows past a minute.
const std::vector<std::string> kSequential = {
    "sequential_traces/automerge-paper.json.gz",
    "sequential_traces/clownschool_flat.json.gz",
    "sequential_traces/friendsforever_flat.json.gz",
    "sequential_traces/json-crdt-patch.json.gz",
    "sequential_traces/rustcode.json.gz",
    "sequential_traces/seph-blog1.json.gz",
    "sequential_traces/ascii_only/automerge-paper.json.gz",
    "sequential_traces/ascii_only/clownschool_flat.json.gz",
    "sequential_traces/ascii_only/friendsforever_flat.json.gz",
    "sequential_traces/ascii_only/json-crdt-patch.json.gz",
    "sequential_traces/ascii_only/rustcode.json.gz",
    "sequential_traces/ascii_only/seph-blog1.json.gz",
};
const std::vector<std::string> kConcurrent = {
    "concurrent_traces/friendsforever.json.gz",
};

Trace Load(const std::string& rel) {
  const fs::path path = kTracesDir / rel;
  absl::StatusOr<Trace> t = bench::ReadTraceFile(path.string());
  // Fails (never skips) when ../shared is missing: CI clones it beside us.
  EXPECT_THAT(t, IsOk()) << "cannot read trace " << path
                         << " (LATTICE_TRACES_DIR=" << LATTICE_TRACES_DIR
                         << ")";
  return t.ok() ? *std::move(t) : Trace{};
}

// Short description of where two long strings first differ.
std::string FirstDifference(const std::string& got, const std::string& want) {
  size_t i = 0;
  while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
  const size_t from = i > 20 ? i - 20 : 0;
  return absl::StrCat("differs at byte ", i, " (got ", got.size(),
                      " bytes, want ", want.size(), "): got \"",
                      got.substr(from, 40), "\" want \"", want.substr(from, 40),
                      "\"");
}

#define EXPECT_TEXT_EQ(doc, want)                                            \
  do {                                                                       \
    const std::string got_ = TextOf(doc);                                    \
    EXPECT_TRUE(got_ == (want)) << #doc ": " << FirstDifference(got_, want); \
  } while (false)

std::string ParamName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = absl::StrReplaceAll(
      info.param,
      {{"sequential_traces/", ""}, {".json.gz", ""}, {"/", "_"}, {"-", "_"}});
  return name;
}

class SequentialTrace : public ::testing::TestWithParam<std::string> {};

TEST_P(SequentialTrace, ReplaysToEndContentAndRoundTrips) {
  const Trace trace = Load(GetParam());
  ASSERT_FALSE(trace.txns.empty()) << GetParam();
  ASSERT_FALSE(trace.concurrent);

  Doc doc(1);
  Doc follower(2);  // receives every committed update, in order
  auto text = doc.MapSetContainer(kRootId, "text", ContainerType::kText);
  ASSERT_THAT(text, IsOk());
  ASSERT_THAT(follower.ApplyUpdate(doc.Commit()), IsOk());
  for (size_t i = 0; i < trace.txns.size(); ++i) {
    ASSERT_THAT(ApplyPatches(doc, *text, trace.txns[i].patches), IsOk())
        << "txn " << i;
    const std::string update = doc.Commit();
    ASSERT_FALSE(update.empty()) << "txn " << i << " made no ops";
    auto applied = follower.ApplyUpdate(update);
    ASSERT_THAT(applied, IsOk()) << "txn " << i;
    ASSERT_EQ(applied->ops_pending, 0u) << "txn " << i;
  }
  doc.CheckInvariants();
  follower.CheckInvariants();
  EXPECT_TEXT_EQ(doc, trace.end_content);
  EXPECT_TEXT_EQ(follower, trace.end_content);
  EXPECT_THAT(doc.Length(*text),
              ::lattice::testing::IsOkAndHolds(trace.end_length));

  const std::string snapshot = doc.EncodeSnapshot();
  EXPECT_EQ(follower.EncodeSnapshot(), snapshot)
      << "a replica fed the committed updates encodes differently";
  EXPECT_EQ(follower.version(), doc.version());

  // Snapshot round-trip.
  auto loaded = Doc::LoadSnapshot(3, snapshot);
  ASSERT_THAT(loaded, IsOk());
  (*loaded)->CheckInvariants();
  EXPECT_TEXT_EQ(**loaded, trace.end_content);
  EXPECT_EQ((*loaded)->version(), doc.version());
  EXPECT_EQ((*loaded)->EncodeSnapshot(), snapshot);

  // The whole history as one remote update into a fresh replica.
  Doc fresh(4);
  auto applied = fresh.ApplyUpdate(doc.ChangesSince(VersionVector()));
  ASSERT_THAT(applied, IsOk());
  EXPECT_EQ(applied->ops_pending, 0u);
  fresh.CheckInvariants();
  EXPECT_TEXT_EQ(fresh, trace.end_content);
  EXPECT_EQ(fresh.version(), doc.version());
  EXPECT_EQ(fresh.EncodeSnapshot(), snapshot);
}

INSTANTIATE_TEST_SUITE_P(Traces, SequentialTrace,
                         ::testing::ValuesIn(kSequential), ParamName);

class ConcurrentTrace : public ::testing::TestWithParam<std::string> {};

TEST_P(ConcurrentTrace, AgentsAsReplicasConvergeToEndContent) {
  const Trace trace = Load(GetParam());
  ASSERT_TRUE(trace.concurrent);
  ASSERT_GE(trace.num_agents, 2u);
  bench::ConcurrentReplayer replay(trace);
  ASSERT_THAT(replay.ReplayAll(), IsOk());
  // The replicas really diverged and merged: positions were relative to
  // merged versions, not to one linear history.
  EXPECT_GT(replay.merged_txns(), trace.txns.size() / 10);
  ASSERT_THAT(replay.SyncAll(), IsOk());
  const std::string snapshot = replay.doc(0).EncodeSnapshot();
  for (uint32_t a = 0; a < trace.num_agents; ++a) {
    SCOPED_TRACE(absl::StrCat("agent ", a));
    Doc& doc = replay.doc(a);
    doc.CheckInvariants();
    EXPECT_EQ(doc.pending_ops(), 0u);
    EXPECT_TEXT_EQ(doc, trace.end_content);
    EXPECT_EQ(doc.version(), replay.doc(0).version());
    EXPECT_EQ(doc.EncodeSnapshot(), snapshot);
  }
  auto loaded = Doc::LoadSnapshot(99, snapshot);
  ASSERT_THAT(loaded, IsOk());
  EXPECT_TEXT_EQ(**loaded, trace.end_content);
  EXPECT_EQ((*loaded)->EncodeSnapshot(), snapshot);
}

INSTANTIATE_TEST_SUITE_P(Traces, ConcurrentTrace,
                         ::testing::ValuesIn(kConcurrent), ParamName);

// Every trace file in the directory is replayed, so a new file cannot be
// silently left out; a missing directory fails here.
TEST(TraceFiles, EveryFileIsReplayed) {
  ASSERT_TRUE(fs::is_directory(kTracesDir))
      << kTracesDir << " is missing: clone shared/ beside the repository";
  std::set<std::string> listed(kSequential.begin(), kSequential.end());
  listed.insert(kConcurrent.begin(), kConcurrent.end());
  std::set<std::string> found;
  for (const char* sub : {"sequential_traces", "sequential_traces/ascii_only",
                          "concurrent_traces"}) {
    ASSERT_TRUE(fs::is_directory(kTracesDir / sub)) << sub;
    for (const auto& entry : fs::directory_iterator(kTracesDir / sub)) {
      const std::string file = entry.path().filename().string();
      if (entry.is_regular_file() && file.ends_with(".json.gz")) {
        found.insert(std::string(sub) + "/" + file);
      }
    }
  }
  EXPECT_EQ(found.size(), 13u) << "the README lists 6 + 6 + 1 trace files";
  for (const std::string& f : found) {
    EXPECT_TRUE(listed.contains(f)) << f << " is not replayed by any test";
  }
}

}  // namespace
}  // namespace lattice::crdt
