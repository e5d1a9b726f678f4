// Replays editing traces (trace_file.h) into crdt::Docs: the one
// implementation shared by tests/crdt/trace_test.cc, lattice-trace and
// crdt_benchmark.
//
//   crdt::Doc doc(1);
//   auto text = doc.MapSetContainer(crdt::kRootId, "text",
//                                   crdt::ContainerType::kText);
//   for (const TraceTxn& txn : trace.txns)
//     RETURN_IF_ERROR(ApplyPatches(doc, *text, txn.patches));
//
//   ConcurrentReplayer r(trace);          // one replica per agent
//   RETURN_IF_ERROR(r.ReplayAll());       // then r.SyncAll()
//
// Thread safety: plain functions; a ConcurrentReplayer is single-threaded.
#ifndef LATTICE_BENCH_TRACE_TRACE_REPLAY_H_
#define LATTICE_BENCH_TRACE_TRACE_REPLAY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/trace/trace_file.h"
#include "crdt/doc.h"

#include "absl/status/status.h"

namespace lattice::bench {

// Applies `patches` in order as local edits of Text `text` (delete, then
// insert, at each patch's code-point position). Errors: the first failing
// edit's Status. Inline: lattice-trace times it once per trace txn (one
// patch each in most traces), so a call per txn would show in the timing.
inline absl::Status ApplyPatches(crdt::Doc& doc, crdt::ContainerId text,
                                 const std::vector<TracePatch>& patches) {
  for (const TracePatch& p : patches) {
    if (p.del > 0) {
      absl::Status s = doc.TextDelete(text, p.pos, p.del);
      if (!s.ok()) return s;
    }
    if (!p.ins.empty()) {
      absl::Status s = doc.TextInsert(text, p.pos, p.ins);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

// The text of the root key "text" (UTF-8), or a "<...>" description of why
// there is none.
std::string TextOf(const crdt::Doc& doc);

// Replays a concurrent trace with agent a as replica a+1. Agent 0 first
// creates the Text at root key "text" (delivered to every replica). Before
// txn T its agent's replica receives exactly the committed updates of the
// other agents' txns in T's causal past that it lacks, in trace order, so
// its version equals the union of T's parents' versions, the version T's
// patch positions refer to; then T's patches apply as local edits and are
// committed.
class ConcurrentReplayer {
 public:
  // REQUIRES: trace.concurrent; `trace` outlives this.
  explicit ConcurrentReplayer(const Trace& trace);

  // Creates the text and replays every txn. Errors as for ReplayTxn.
  absl::Status ReplayAll();
  // Replays txn `t`. REQUIRES: txns 0..t-1 replayed, in order. Errors:
  // FailedPrecondition when the agent's replica holds ops outside T's
  // parents' version (the trace is not per-agent sequential) or does not
  // reach it after merging; a failing ApplyUpdate or edit's Status, with
  // the txn index prepended.
  absl::Status ReplayTxn(size_t t);
  // Brings every replica up to date with every other (ChangesSince).
  absl::Status SyncAll();

  uint32_t num_agents() const { return static_cast<uint32_t>(docs_.size()); }
  crdt::Doc& doc(uint32_t agent) { return *docs_[agent]; }
  const std::string& update(size_t t) const { return updates_[t]; }
  // How many txn updates were merged into another agent's replica so far.
  uint64_t merged_txns() const { return merged_txns_; }

 private:
  absl::Status CreateText();
  static crdt::ReplicaId ReplicaOf(uint32_t agent) {
    return crdt::ReplicaId{agent} + 1;
  }

  const Trace& trace_;
  std::vector<std::unique_ptr<crdt::Doc>> docs_;
  bool created_ = false;
  uint64_t merged_txns_ = 0;
  crdt::ContainerId text_;
  crdt::VersionVector base_;                   // after the text's creation
  std::vector<std::string> updates_;           // per txn: its Commit()
  std::vector<crdt::VersionVector> after_;     // per txn: version after it
  std::vector<std::vector<size_t>> by_agent_;  // txn indices per agent
  // cursor_[a][b]: how many of b's txns agent a's replica holds.
  std::vector<std::vector<size_t>> cursor_;
};

}  // namespace lattice::bench

#endif  // LATTICE_BENCH_TRACE_TRACE_REPLAY_H_
