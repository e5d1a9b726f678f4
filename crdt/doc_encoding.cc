// ChangesSince: built from the state, never from a history log, so a
// replica loaded from a snapshot serves any peer. Snapshots: doc_snapshot.cc.
#include <algorithm>
#include <utility>

#include "crdt/doc.h"
#include "crdt/internal/update_codec.h"

namespace lattice::crdt {

using internal::Op;
using internal::Run;

namespace {

bool ChainsAfter(const Op& a, const Op& b) {
  return a.kind == Op::Kind::kInsert && b.kind == Op::Kind::kInsert &&
         a.container == b.container && a.id.replica == b.id.replica &&
         a.end() == b.id.counter &&
         b.origin_left == OpId{a.id.replica, a.end() - 1} &&
         b.origin_right == a.origin_right && a.deleted == b.deleted &&
         a.is_text == b.is_text;
}

}  // namespace

void Doc::CollectOps(const VersionVector& since, std::vector<Op>* ops) const {
  auto wanted = [&](const OpId& id, uint64_t len) {
    return id.counter + len > since.Get(id.replica);
  };
  for (const auto& [cid, c] : containers_) {
    if (c->type == ContainerType::kMap) {
      // clang before 16 cannot capture a structured binding implicitly.
      auto add = [&, &cid = cid](const std::string& key,
                                 const internal::MapEntry& e) {
        if (!wanted(e.id, 1)) return;
        Op op;
        op.kind = Op::Kind::kMapSet;
        op.id = e.id;
        op.container = cid;
        op.key = key;
        op.value = e.value;
        op.lamport = e.lamport;
        ops->push_back(std::move(op));
      };
      for (const auto& [key, e] : c->map.entries) add(key, e);
      for (const auto& [key, e] : c->map.shadows) add(key, e);
    } else if (c->type == ContainerType::kCounter) {
      for (const auto& [id, delta] : c->counter.adds) {
        if (!wanted(id, 1)) continue;
        Op op;
        op.kind = Op::Kind::kCounterAdd;
        op.id = id;
        op.container = cid;
        op.delta = delta;
        ops->push_back(std::move(op));
      }
    } else {
      const bool is_text = c->seq->is_text();
      c->seq->ForEachRun([&, &cid = cid](const Run& r,
                                         internal::RunContent content) {
        if (!wanted(r.id, r.len)) return;
        const uint64_t have = since.Get(r.id.replica);
        const uint64_t cut = have > r.id.counter ? have - r.id.counter : 0;
        Op op;
        op.kind = Op::Kind::kInsert;
        op.id = {r.id.replica, r.id.counter + cut};
        op.len = r.len - cut;
        op.container = cid;
        op.origin_left =
            cut > 0 ? OpId{r.id.replica, op.id.counter - 1} : r.origin_left;
        op.origin_right = r.origin_right;
        op.is_text = is_text;
        op.deleted = r.deleted;
        if (!r.deleted) {
          if (is_text) {
            op.text = std::u32string(content.text.substr(cut));
          } else {
            op.values.assign(
                content.values.begin() + static_cast<ptrdiff_t>(cut),
                content.values.end());
          }
        } else if (!is_text) {
          // Deleted list elements that created containers travel as values
          // (the delete op that follows removes them again), so the
          // containers exist on the other side for the ops inside them.
          std::vector<Value> values;
          bool any = false;
          for (uint64_t i = 0; i < op.len; ++i) {
            auto it = containers_.find(OpId{op.id.replica, op.id.counter + i});
            any = any || it != containers_.end();
            values.push_back(it != containers_.end()
                                 ? Value::NewContainer(it->second->type)
                                 : Value::Null());
          }
          if (any) {
            op.deleted = false;
            op.values = std::move(values);
          }
        }
        ops->push_back(std::move(op));
      });
    }
  }
  for (const auto& [id, d] : deletes_) {
    if (!wanted(id, d.len)) continue;
    Op op;
    op.kind = Op::Kind::kDelete;
    op.id = id;
    op.len = d.len;
    op.container = d.container;
    op.target = d.target;
    op.reversed = d.reversed;
    const uint64_t have = since.Get(id.replica);
    if (have > id.counter) {
      const uint64_t cut = have - id.counter;
      op.id.counter += cut;
      op.len -= cut;
      if (!op.reversed) op.target.counter += cut;
    }
    ops->push_back(std::move(op));
  }
}

std::string Doc::ChangesSince(const VersionVector& since) const {
  std::vector<Op> ops;
  CollectOps(since, &ops);
  std::sort(ops.begin(), ops.end(),
            [](const Op& a, const Op& b) { return a.id < b.id; });
  // Merge runs that continue each other; fill superseded ids with skips.
  std::vector<Op> out;
  out.reserve(ops.size());
  auto next_expected = [&](ReplicaId r) {
    if (!out.empty() && out.back().id.replica == r) return out.back().end();
    return since.Get(r);
  };
  auto fill_to = [&](ReplicaId r, uint64_t counter) {
    const uint64_t from = next_expected(r);
    if (counter > from) {
      Op skip;
      skip.kind = Op::Kind::kSkip;
      skip.id = {r, from};
      skip.len = counter - from;
      out.push_back(std::move(skip));
    }
  };
  for (size_t i = 0; i < ops.size(); ++i) {
    Op& op = ops[i];
    if (out.empty() || out.back().id.replica != op.id.replica) {
      if (!out.empty())
        fill_to(out.back().id.replica, version_.Get(out.back().id.replica));
    }
    fill_to(op.id.replica, op.id.counter);
    if (!out.empty() && ChainsAfter(out.back(), op)) {
      Op& prev = out.back();
      prev.len += op.len;
      prev.text += op.text;
      for (Value& v : op.values) prev.values.push_back(std::move(v));
      continue;
    }
    out.push_back(std::move(op));
  }
  if (!out.empty())
    fill_to(out.back().id.replica, version_.Get(out.back().id.replica));
  // Replicas whose every missing op was superseded.
  for (const auto& [replica, count] : version_.entries()) {
    if (count <= since.Get(replica)) continue;
    bool present = std::any_of(out.begin(), out.end(),
                               [&, &replica = replica](const Op& o) {
                                 return o.id.replica == replica;
                               });
    if (!present) {
      Op skip;
      skip.kind = Op::Kind::kSkip;
      skip.id = {replica, since.Get(replica)};
      skip.len = count - skip.id.counter;
      out.push_back(std::move(skip));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const Op& a, const Op& b) { return a.id < b.id; });
  return internal::EncodeUpdate(out);
}

}  // namespace lattice::crdt
