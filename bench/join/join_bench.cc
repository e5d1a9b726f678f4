// lattice-join-bench: how long a client takes to join a room whose document
// holds about a million ops, by each catch-up path of docs/protocol.md
// (issue 5). An in-process Node on 127.0.0.1 (anonymous mode, kProcess
// durability, a temporary data directory) and sdk::SyncClient clients.
//
// Setup: a writer replays an editing trace (default automerge-paper) round
// after round, each round appended after the text of the previous ones,
// until the document holds --ops ops, sent as changes of --ops_per_change
// edits. "Returning" clients join when the writer is --missing_pct short
// of the end and then leave; the writer finishes. Each measured join is one
// SyncClient::Join call: join frame out, catch-up frames in and applied to
// the client's replica, joined frame in.
//
//   snapshot       a fresh client (room loaded): the server encodes a
//                  snapshot, the client loads it (SnapshotCheck::kFull)
//   snapshot-cold  the same right after a node restart: the room first
//                  loads from RocksDB (its latest snapshot, written every
//                  64 changes here, plus the log after it)
//   version        a returning client with no resume point: ChangesSince
//                  of its version vector, applied as one update
//   tail           a returning client with its resume point: the log
//                  records after it, read from RocksDB
//   none           a client already up to date
//
// Prints one JSON line per path (milliseconds: median, min, max of --reps
// joins) and a summary line with the document's figures.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench/trace/trace_file.h"
#include "bench/trace/trace_replay.h"
#include "crdt/doc.h"
#include "engine/node.h"
#include "sdk/sync_client.h"

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(std::string, trace,
          "../shared/data/editing-traces/sequential_traces/"
          "automerge-paper.json.gz",
          "sequential editing trace to replay");
ABSL_FLAG(uint64_t, ops, 1'000'000, "trace edits in the document");
ABSL_FLAG(uint64_t, ops_per_change, 5000, "trace edits per change frame");
ABSL_FLAG(double, missing_pct, 1.0,
          "share of the edits returning clients lack, in percent");
ABSL_FLAG(int, reps, 5, "joins measured per path");

namespace lattice::bench {
namespace {

constexpr char kRoom[] = "big";
constexpr char kDoc[] = "text";

using Clock = std::chrono::steady_clock;

// Fails the run with a message: this is a tool, not a library.
void Check(const absl::Status& s, const std::string& what) {
  if (s.ok()) return;
  std::cerr << "lattice-join-bench: " << what << ": " << s << "\n";
  std::exit(1);
}
template <typename T>
T Check(absl::StatusOr<T> s, const std::string& what) {
  Check(s.status(), what);
  return *std::move(s);
}

engine::NodeOptions Options(const std::string& dir) {
  engine::NodeOptions o;
  o.port = 0;
  o.data_dir = dir;
  o.threads = 2;
  o.store.durability = storage::Durability::kProcess;
  o.sync.engine.anonymous = true;
  // The writer pushes the whole history as fast as the server takes it.
  o.sync.engine.max_changes_per_second = 1e9;
  o.sync.engine.max_change_bytes_per_second = 1e12;
  // With the default (1,000) a room of a few hundred big changes would have
  // no snapshot yet, and a cold load would replay its whole log.
  o.sync.engine.snapshot_every_changes = 64;
  o.shutdown_grace = std::chrono::milliseconds(2000);
  return o;
}

std::unique_ptr<sdk::SyncClient> NewClient(uint16_t port, uint64_t replica) {
  sdk::SyncClientOptions o;
  o.port = port;
  o.replica = replica;
  o.timeout = absl::Seconds(120);
  return Check(sdk::SyncClient::Connect(o), "connect");
}

// Replays trace edits [from, to) of the endless sequence "the trace, then
// the trace again after its end text, ..." as changes of `per_change` edits.
class Writer {
 public:
  Writer(const Trace& trace, sdk::SyncClient& client)
      : trace_(trace), client_(client) {
    for (const TraceTxn& txn : trace.txns)
      for (const TracePatch& p : txn.patches) patches_.push_back(&p);
  }

  void Write(uint64_t to, uint64_t per_change) {
    while (next_ < to) {
      const uint64_t end = std::min(to, next_ + per_change);
      auto seq = client_.Edit(kRoom, kDoc, [&](crdt::Doc& doc) {
        if (!created_) {
          auto text = doc.MapSetContainer(crdt::kRootId, "text",
                                          crdt::ContainerType::kText);
          if (!text.ok()) return text.status();
          text_ = *text;
          created_ = true;
        }
        std::vector<TracePatch> batch;
        for (uint64_t i = next_; i < end; ++i) {
          const TracePatch& p = *patches_[i % patches_.size()];
          const uint64_t round = i / patches_.size();
          batch.push_back({p.pos + round * trace_.end_length, p.del, p.ins});
        }
        return ApplyPatches(doc, text_, batch);
      });
      Check(seq.status(), "edit");
      next_ = end;
      // A window of changes in flight, so the server's queue stays short.
      if (client_.unacked() >= 16) {
        Check(client_.WaitAcked(absl::Seconds(120)), "acks");
      }
    }
    Check(client_.WaitAcked(absl::Seconds(120)), "acks");
  }

 private:
  const Trace& trace_;
  sdk::SyncClient& client_;
  std::vector<const TracePatch*> patches_;
  uint64_t next_ = 0;
  bool created_ = false;
  crdt::ContainerId text_;
};

struct PathResult {
  explicit PathResult(std::string p) : path(std::move(p)) {}
  std::string path;
  std::vector<double> ms;
  uint8_t protocol_path = 0;
};

double JoinMs(sdk::SyncClient& client, uint8_t* path) {
  const auto start = Clock::now();
  *path = Check(client.Join(kRoom), "join");
  return std::chrono::duration<double, std::milli>(Clock::now() - start)
      .count();
}

void Print(const PathResult& r) {
  std::vector<double> ms = r.ms;
  std::sort(ms.begin(), ms.end());
  nlohmann::json line = {{"path", r.path},      {"serverPath", r.protocol_path},
                         {"joins", ms.size()},  {"medianMs", ms[ms.size() / 2]},
                         {"minMs", ms.front()}, {"maxMs", ms.back()}};
  std::cout << line.dump() << std::endl;
}

int Run() {
  const Trace trace =
      Check(ReadTraceFile(absl::GetFlag(FLAGS_trace)), "read trace");
  if (trace.concurrent)
    Check(absl::InvalidArgumentError("concurrent"), "trace");
  const uint64_t ops = absl::GetFlag(FLAGS_ops);
  const uint64_t per_change = absl::GetFlag(FLAGS_ops_per_change);
  const int reps = absl::GetFlag(FLAGS_reps);
  const uint64_t behind = std::max<uint64_t>(
      1, static_cast<uint64_t>(static_cast<double>(ops) *
                               absl::GetFlag(FLAGS_missing_pct) / 100));

  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() /
      absl::StrCat("lattice-join-bench-", getpid());
  std::filesystem::remove_all(dir);
  auto node = Check(engine::Node::Start(Options(dir.string())), "start");

  auto writer_client = NewClient(node->port(), 1001);
  Check(writer_client->Join(kRoom).status(), "writer join");
  Writer writer(trace, *writer_client);
  const auto write_start = Clock::now();
  writer.Write(ops - behind, per_change);

  // Returning clients: they hold everything but the last `behind` edits.
  std::vector<std::unique_ptr<sdk::SyncClient>> returning;
  for (int i = 0; i < 2 * reps; ++i) {
    returning.push_back(NewClient(node->port(), 2000 + i));
    Check(returning.back()->Join(kRoom).status(), "returning join");
    Check(returning.back()->Leave(kRoom), "returning leave");
  }
  writer.Write(ops, per_change);
  const double write_s =
      std::chrono::duration<double>(Clock::now() - write_start).count();

  uint64_t snapshot_bytes = 0, text_bytes = 0, missing_bytes = 0;
  crdt::VersionVector behind_version;
  Check(returning[0]->Read(
            kRoom, kDoc,
            [&](const crdt::Doc& d) { behind_version = d.version(); }),
        "read");
  Check(writer_client->Read(kRoom, kDoc,
                            [&](const crdt::Doc& d) {
                              snapshot_bytes = d.EncodeSnapshot().size();
                              missing_bytes =
                                  d.ChangesSince(behind_version).size();
                              text_bytes = TextOf(d).size();
                            }),
        "read");
  const sdk::ResumePoint end = writer_client->resume_point(kRoom);

  PathResult tail{"tail"}, version{"version"}, snapshot{"snapshot"},
      none{"none"};
  for (int i = 0; i < reps; ++i) {
    sdk::SyncClient& t = *returning[2 * i];
    tail.ms.push_back(JoinMs(t, &tail.protocol_path));
    none.ms.push_back(JoinMs(t, &none.protocol_path));  // rejoin: up to date
    Check(t.Leave(kRoom), "leave");

    sdk::SyncClient& v = *returning[2 * i + 1];
    v.set_resume_point(kRoom, {});
    version.ms.push_back(JoinMs(v, &version.protocol_path));

    auto fresh = NewClient(node->port(), 3000 + i);
    snapshot.ms.push_back(JoinMs(*fresh, &snapshot.protocol_path));
    if (fresh->resume_point(kRoom) != end) {
      const sdk::ResumePoint got = fresh->resume_point(kRoom);
      Check(absl::InternalError(absl::StrCat("fresh client at ", got.epoch, ":",
                                             got.seq, ", not ", end.epoch, ":",
                                             end.seq)),
            "snapshot");
    }
  }
  returning.clear();
  writer_client.reset();

  PathResult cold{"snapshot-cold"};
  for (int i = 0; i < reps; ++i) {
    node.reset();  // graceful shutdown
    node = Check(engine::Node::Start(Options(dir.string())), "restart");
    auto fresh = NewClient(node->port(), 4000 + i);
    cold.ms.push_back(JoinMs(*fresh, &cold.protocol_path));
  }
  node.reset();
  std::filesystem::remove_all(dir);

  for (const PathResult* r : {&tail, &version, &snapshot, &cold, &none})
    Print(*r);
  nlohmann::json summary = {{"trace", trace.name},
                            {"ops", ops},
                            {"opsPerChange", per_change},
                            {"missingOps", behind},
                            {"changes", end.seq},
                            {"textBytes", text_bytes},
                            {"snapshotBytes", snapshot_bytes},
                            {"missingUpdateBytes", missing_bytes},
                            {"writeSeconds", write_s}};
  std::cout << summary.dump() << std::endl;
  return 0;
}

}  // namespace
}  // namespace lattice::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return lattice::bench::Run();
}
