#include "bench/trace/trace_replay.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace lattice::bench {

using crdt::ContainerId;
using crdt::Doc;
using crdt::VersionVector;

namespace {

absl::Status Annotate(const absl::Status& s, absl::string_view where) {
  return absl::Status(s.code(), absl::StrCat(where, ": ", s.message()));
}

}  // namespace

std::string TextOf(const Doc& doc) {
  auto id = doc.MapGetContainer(crdt::kRootId, "text");
  if (!id.ok()) return absl::StrCat("<no text: ", id.status().ToString(), ">");
  auto text = doc.GetText(*id);
  return text.ok() ? *std::move(text)
                   : absl::StrCat("<", text.status().ToString(), ">");
}

ConcurrentReplayer::ConcurrentReplayer(const Trace& trace) : trace_(trace) {
  for (uint32_t a = 0; a < trace.num_agents; ++a) {
    docs_.push_back(std::make_unique<Doc>(ReplicaOf(a)));
    cursor_.emplace_back(trace.num_agents, 0);
  }
  by_agent_.resize(trace.num_agents);
  updates_.reserve(trace.txns.size());
  after_.reserve(trace.txns.size());
}

absl::Status ConcurrentReplayer::CreateText() {
  auto text = docs_[0]->MapSetContainer(crdt::kRootId, "text",
                                        crdt::ContainerType::kText);
  if (!text.ok()) return text.status();
  text_ = *text;
  const std::string update = docs_[0]->Commit();
  for (size_t a = 1; a < docs_.size(); ++a) {
    auto r = docs_[a]->ApplyUpdate(update);
    if (!r.ok()) return Annotate(r.status(), "creating the text");
  }
  base_ = docs_[0]->version();
  created_ = true;
  return absl::OkStatus();
}

absl::Status ConcurrentReplayer::ReplayAll() {
  if (!created_) {
    absl::Status s = CreateText();
    if (!s.ok()) return s;
  }
  for (size_t t = updates_.size(); t < trace_.txns.size(); ++t) {
    absl::Status s = ReplayTxn(t);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status ConcurrentReplayer::ReplayTxn(size_t t) {
  if (!created_) {
    absl::Status s = CreateText();
    if (!s.ok()) return s;
  }
  const std::string where = absl::StrCat("txn ", t);
  const TraceTxn& txn = trace_.txns[t];
  const uint32_t a = txn.agent;
  Doc& doc = *docs_[a];
  VersionVector needed = base_;
  for (uint64_t p : txn.parents) needed.Merge(after_[p]);
  if (!needed.Includes(doc.version())) {
    return absl::FailedPreconditionError(absl::StrCat(
        where, ": agent ", a, " holds ", doc.version().DebugString(),
        ", outside its parents' version ", needed.DebugString()));
  }
  // The other agents' txns of the causal past that `doc` lacks: per agent a
  // prefix of its txns (each agent's txns are sequential).
  std::vector<size_t> missing;
  for (uint32_t b = 0; b < by_agent_.size(); ++b) {
    if (b == a) continue;
    size_t& next = cursor_[a][b];
    while (next < by_agent_[b].size() &&
           after_[by_agent_[b][next]].Get(ReplicaOf(b)) <=
               needed.Get(ReplicaOf(b))) {
      missing.push_back(by_agent_[b][next]);
      ++next;
    }
  }
  std::sort(missing.begin(), missing.end());
  for (size_t m : missing) {
    auto r = doc.ApplyUpdate(updates_[m]);
    if (!r.ok()) {
      return Annotate(r.status(), absl::StrCat(where, ": merging txn ", m));
    }
    ++merged_txns_;
  }
  if (doc.pending_ops() != 0 || doc.version() != needed) {
    return absl::FailedPreconditionError(
        absl::StrCat(where, ": agent ", a, " reached ",
                     doc.version().DebugString(), " with ", doc.pending_ops(),
                     " ops pending, not its parents' ", needed.DebugString()));
  }
  absl::Status s = ApplyPatches(doc, text_, txn.patches);
  if (!s.ok()) return Annotate(s, where);
  updates_.push_back(doc.Commit());
  if (updates_.back().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(where, ": no ops"));
  }
  after_.push_back(doc.version());
  by_agent_[a].push_back(t);
  return absl::OkStatus();
}

absl::Status ConcurrentReplayer::SyncAll() {
  for (auto& to : docs_) {
    for (auto& from : docs_) {
      if (to == from) continue;
      auto r = to->ApplyUpdate(from->ChangesSince(to->version()));
      if (!r.ok()) return Annotate(r.status(), "final sync");
    }
  }
  return absl::OkStatus();
}

}  // namespace lattice::bench
