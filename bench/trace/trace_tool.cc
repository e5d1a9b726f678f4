// lattice-trace FILE.json[.gz]: replays one editing trace (sequential or
// concurrent, gzipped or not) into a crdt::Doc, checks the text against the
// file's endContent and prints ONE JSON line with the fields of the peers
// harness (shared/bench/peers/crdt-trace/run-one.mjs) plus "ok". Exit status
// 0 when every check passed, 2 when a text differs, 1 on other errors.
//
// What is timed (BENCHMARKS.md has the reasoning):
//  applyMs   every trace txn applied as local edits to one Text, op by op,
//            plus reading the final text once. Like the peers' local mode
//            no update is encoded per txn: Commit() runs once at the end,
//            timed separately as commitMs (commitBytes = its update). A
//            concurrent trace times the whole replay instead: one replica
//            per agent, each txn committed and merged by its causal parents
//            (trace_replay.h), so encoding and merging are included.
//  encodeMs  EncodeSnapshot(); docBytes is its size.
//  loadMs    Doc::LoadSnapshot() (SnapshotCheck::kStructure, as storage/ loads
//            its own snapshots) into a fresh replica + reading the text.
//  perTxnCommitMs  a second replay with Commit() after every txn (what a
//            live client does; perTxnUpdateBytes sums the updates).
// Each time also as process CPU time (applyCpuMs, ...): on a shared machine
// wall time includes waiting for a core.
// Memory, all growth measured around building the doc in this process:
//  heapBytes      malloc'd bytes in use retained by the live doc after apply
//                 and commit (mallinfo2; the JS analogue is heapUsed).
//  rssBytes       resident-set growth over the same span (/proc/self/statm).
//  docMemoryUsage Doc::MemoryUsage(), the doc's own estimate.
//  loaded*        the same three for the doc loaded from the snapshot.
//  perTxnHeapBytes heapBytes of the doc of the commit-per-txn replay.
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <malloc.h>
#include <memory>
#include <string>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "bench/trace/trace_file.h"
#include "bench/trace/trace_replay.h"
#include "crdt/doc.h"

namespace lattice::bench {
namespace {

using crdt::Doc;
using Clock = std::chrono::steady_clock;

double MsSince(Clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
}

// Process CPU time in ms: on a shared machine wall time includes waiting for
// a core, so each timed step reports both (applyMs and applyCpuMs, ...).
double CpuMs() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) * 1e3 +
         static_cast<double>(ts.tv_nsec) / 1e6;
}

struct Mem {
  int64_t heap = 0;  // malloc'd bytes in use (arena + mmapped chunks)
  int64_t rss = 0;
};

Mem Measure() {
  Mem m;
  struct mallinfo2 mi = mallinfo2();
  m.heap = static_cast<int64_t>(mi.uordblks + mi.hblkhd);
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = 0;
  statm >> size >> resident;
  m.rss = resident * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
  return m;
}

nlohmann::json Stats(const Trace& t) {
  return {{"txns", t.txns.size()},
          {"patches", t.patch_count},
          {"insChars", t.ins_chars},
          {"delChars", t.del_chars},
          {"endLength", t.end_length}};
}

// Replays a sequential trace as one local session (committing every txn when
// `commit_per_txn`), timing it into *apply_ms and out["...CpuMs"]. Returns
// nullptr (with out["error"]) when an edit fails; sets out["ok"] = false when
// the text differs from endContent.
std::unique_ptr<Doc> ReplaySequential(const Trace& trace, bool commit_per_txn,
                                      nlohmann::json& out, double* apply_ms,
                                      uint64_t* update_bytes) {
  const auto t0 = Clock::now();
  const double c0 = CpuMs();
  auto doc = std::make_unique<Doc>(1);
  auto text =
      doc->MapSetContainer(crdt::kRootId, "text", crdt::ContainerType::kText);
  if (!text.ok()) {
    out["error"] = text.status().ToString();
    return nullptr;
  }
  // The loop is part of what is timed: the text id and the txn bounds are
  // read once, not per txn.
  const crdt::ContainerId text_id = *text;
  const TraceTxn* const begin = trace.txns.data();
  const TraceTxn* const end = begin + trace.txns.size();
  for (const TraceTxn* txn = begin; txn != end; ++txn) {
    absl::Status s = ApplyPatches(*doc, text_id, txn->patches);
    if (!s.ok()) {
      out["error"] = "txn " + std::to_string(txn - begin) + ": " + s.ToString();
      return nullptr;
    }
    if (commit_per_txn) *update_bytes += doc->Commit().size();
  }
  auto final_text = doc->GetText(*text);  // read once, like the peers
  *apply_ms = MsSince(t0);
  out[commit_per_txn ? "perTxnCommitCpuMs" : "applyCpuMs"] = CpuMs() - c0;
  if (!final_text.ok() || *final_text != trace.end_content) {
    out["ok"] = false;
    out["error"] = "text differs from endContent after apply";
  }
  return doc;
}

int Run(const std::string& path) {
  auto trace = ReadTraceFile(path);
  if (!trace.ok()) {
    std::cerr << "lattice-trace: " << trace.status() << "\n";
    return 1;
  }
  nlohmann::json out = {{"lib", "lattice"},
                        {"trace", trace->name},
                        {"ascii", path.find("ascii_only") != std::string::npos},
                        {"updates", false},
                        {"concurrent", trace->concurrent},
                        {"stats", Stats(*trace)},
                        {"ok", true}};
  const Mem before = Measure();
  std::unique_ptr<Doc> doc;
  double apply_ms = 0;
  std::unique_ptr<ConcurrentReplayer> replayer;
  if (trace->concurrent) {
    const auto t0 = Clock::now();
    const double c0 = CpuMs();
    replayer = std::make_unique<ConcurrentReplayer>(*trace);
    absl::Status s = replayer->ReplayAll();
    if (s.ok()) s = replayer->SyncAll();
    apply_ms = MsSince(t0);
    out["applyCpuMs"] = CpuMs() - c0;
    if (!s.ok()) {
      out["ok"] = false;
      out["error"] = s.ToString();
    } else {
      for (uint32_t a = 0; a < replayer->num_agents(); ++a) {
        if (TextOf(replayer->doc(a)) != trace->end_content) {
          out["ok"] = false;
          out["error"] = "agent " + std::to_string(a) + " text differs";
        }
      }
    }
  } else {
    uint64_t unused = 0;
    doc = ReplaySequential(*trace, /*commit_per_txn=*/false, out, &apply_ms,
                           &unused);
    if (doc != nullptr) {
      const auto t1 = Clock::now();
      const std::string update = doc->Commit();
      out["commitMs"] = MsSince(t1);
      out["commitBytes"] = update.size();
    } else {
      out["ok"] = false;
    }
  }
  out["applyMs"] = apply_ms;
  const Doc* live = doc != nullptr ? doc.get()
                    : (replayer != nullptr && out["ok"] == true)
                        ? &replayer->doc(0)
                        : nullptr;
  if (live == nullptr) {
    std::cout << out.dump() << "\n";
    return 2;
  }
  const Mem after = Measure();
  out["heapBytes"] = after.heap - before.heap;
  out["rssBytes"] = after.rss - before.rss;
  out["externalBytes"] = 0;
  out["docMemoryUsage"] = live->MemoryUsage();

  auto t2 = Clock::now();
  double c2 = CpuMs();
  const std::string snapshot = live->EncodeSnapshot();
  out["encodeMs"] = MsSince(t2);
  out["encodeCpuMs"] = CpuMs() - c2;
  out["docBytes"] = snapshot.size();
  out["extraSizes"] = {{"changesSinceEmptyBytes",
                        live->ChangesSince(crdt::VersionVector()).size()}};
  out["updateBytes"] = nullptr;
  doc.reset();
  replayer.reset();

  const Mem before_load = Measure();
  auto t3 = Clock::now();
  double c3 = CpuMs();
  crdt::DocOptions structural;
  structural.snapshot_check = crdt::SnapshotCheck::kStructure;
  auto loaded = Doc::LoadSnapshot(2, snapshot, structural);
  std::string loaded_text;
  if (loaded.ok()) loaded_text = TextOf(**loaded);
  out["loadMs"] = MsSince(t3);
  out["loadCpuMs"] = CpuMs() - c3;
  if (!loaded.ok() || loaded_text != trace->end_content) {
    out["ok"] = false;
    out["error"] =
        loaded.ok() ? "text differs after load" : loaded.status().ToString();
  }
  loaded_text = std::string();
  if (loaded.ok()) {
    const Mem after_load = Measure();
    out["loadedHeapBytes"] = after_load.heap - before_load.heap;
    out["loadedRssBytes"] = after_load.rss - before_load.rss;
    out["loadedDocMemoryUsage"] = (*loaded)->MemoryUsage();
  }
  loaded = absl::StatusOr<std::unique_ptr<Doc>>();

  if (!trace->concurrent) {
    double per_txn_ms = 0;
    uint64_t per_txn_bytes = 0;
    nlohmann::json second;
    const Mem before_again = Measure();
    auto again = ReplaySequential(*trace, /*commit_per_txn=*/true, second,
                                  &per_txn_ms, &per_txn_bytes);
    if (again != nullptr) {
      out["perTxnCommitCpuMs"] = second["perTxnCommitCpuMs"];
      out["perTxnHeapBytes"] = Measure().heap - before_again.heap;
      out["perTxnCommitMs"] = per_txn_ms;
      out["perTxnUpdateBytes"] = per_txn_bytes;
    }
  }
  std::cout << out.dump() << "\n";
  return out["ok"] == true ? 0 : 2;
}

}  // namespace
}  // namespace lattice::bench

int main(int argc, char** argv) {
  if (argc != 2 || argv[1][0] == '-') {
    std::cerr << "usage: lattice-trace FILE.json[.gz]\n"
                 "Replays an editing trace (josephg/editing-traces format), "
                 "checks endContent,\nprints one JSON line; exit 2 when the "
                 "text differs.\n";
    return 1;
  }
  return lattice::bench::Run(argv[1]);
}
