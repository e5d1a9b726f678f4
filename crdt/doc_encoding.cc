// ChangesSince and snapshots: both are built from the state, never from a
// history log, so a replica loaded from a snapshot serves any peer.
#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "crdt/doc.h"
#include "crdt/internal/update_codec.h"
#include "crdt/text_units.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::Container;
using internal::kNoId;
using internal::Op;
using internal::Reader;
using internal::Run;
using internal::Writer;

namespace {

constexpr uint8_t kSnapshotFormatVersion = 1;

bool ChainsAfter(const Op& a, const Op& b) {
  return a.kind == Op::Kind::kInsert && b.kind == Op::Kind::kInsert &&
         a.container == b.container && a.id.replica == b.id.replica &&
         a.end() == b.id.counter &&
         b.origin_left == OpId{a.id.replica, a.end() - 1} &&
         b.origin_right == a.origin_right && a.deleted == b.deleted &&
         a.is_text == b.is_text;
}

// Whether run `b` continues run `a` (same test as Sequence's merge, but with
// content-independent rules so the result is canonical).
bool RunContinues(const Run& a, const Run& b) {
  return a.id.replica == b.id.replica && b.id.counter == a.id.counter + a.len &&
         b.origin_left == a.last() && b.origin_right == a.origin_right &&
         a.deleted == b.deleted;
}

bool HoldsContainer(const Run& r) {
  return std::any_of(r.values.begin(), r.values.end(),
                     [](const Value& v) { return v.is_container(); });
}

// Runs of a sequence in document order, maximally merged, with deleted list
// runs holding values (null but for containers) iff they hold a container.
std::vector<Run> CanonicalRuns(const internal::Sequence& seq) {
  std::vector<Run> out;
  seq.ForEachRun([&](const Run& r) {
    if (!out.empty() && RunContinues(out.back(), r)) {
      Run& a = out.back();
      if (!seq.is_text() && a.values.empty() != r.values.empty()) {
        if (a.values.empty()) a.values.assign(a.len, Value::Null());
        a.values.insert(a.values.end(), r.values.begin(), r.values.end());
        if (r.values.empty()) a.values.resize(a.len + r.len, Value::Null());
      } else {
        a.values.insert(a.values.end(), r.values.begin(), r.values.end());
      }
      a.text += r.text;
      a.len += r.len;
      return;
    }
    out.push_back(r);
  });
  // A deleted piece split off a run that held a container may hold only
  // nulls: canonically it holds nothing.
  for (Run& r : out) {
    if (r.deleted && !HoldsContainer(r)) r.values.clear();
  }
  return out;
}

class IdTable {
 public:
  void Add(const OpId& id) {
    if (id.replica != 0) replicas_.push_back(id.replica);
  }
  void Finish() {
    std::sort(replicas_.begin(), replicas_.end());
    replicas_.erase(std::unique(replicas_.begin(), replicas_.end()),
                    replicas_.end());
    for (size_t i = 0; i < replicas_.size(); ++i) index_[replicas_[i]] = i + 1;
  }
  void Encode(Writer& w) const {
    w.Varint(replicas_.size());
    ReplicaId prev = 0;
    for (ReplicaId r : replicas_) {
      w.Varint(r - prev);
      prev = r;
    }
  }
  void EncodeId(const OpId& id, Writer& w) const {
    if (id.replica == 0) {
      w.Varint(0);
      return;
    }
    w.Varint(index_.at(id.replica));
    w.Varint(id.counter);
  }

 private:
  std::vector<ReplicaId> replicas_;
  absl::flat_hash_map<ReplicaId, uint64_t> index_;
};

absl::StatusOr<std::vector<ReplicaId>> DecodeTable(Reader& r) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t n,
                           r.Bounded(r.remaining(), "replica count"));
  std::vector<ReplicaId> table;
  table.reserve(n);
  ReplicaId prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    LATTICE_ASSIGN_OR_RETURN(uint64_t delta, r.Varint());
    if (delta == 0 || prev + delta < prev)
      return r.Error("replica table not strictly increasing");
    prev += delta;
    table.push_back(prev);
  }
  return table;
}

absl::StatusOr<OpId> DecodeId(Reader& r, const std::vector<ReplicaId>& table) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t index,
                           r.Bounded(table.size(), "replica index"));
  if (index == 0) return kNoId;
  LATTICE_ASSIGN_OR_RETURN(uint64_t counter, r.Varint());
  return OpId{table[index - 1], counter};
}

template <typename T>
std::vector<std::pair<ContainerId, const T*>> Sorted(
    const absl::flat_hash_map<ContainerId, std::unique_ptr<T>>& m) {
  std::vector<std::pair<ContainerId, const T*>> out;
  out.reserve(m.size());
  for (const auto& [id, c] : m) out.emplace_back(id, c.get());
  std::sort(out.begin(), out.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace

void Doc::CollectOps(const VersionVector& since, std::vector<Op>* ops) const {
  auto wanted = [&](const OpId& id, uint64_t len) {
    return id.counter + len > since.Get(id.replica);
  };
  for (const auto& [cid, c] : containers_) {
    if (c->type == ContainerType::kMap) {
      auto add = [&](const std::string& key, const internal::MapEntry& e) {
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
      c->seq->ForEachRun([&](const Run& r) {
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
        // Deleted list elements that hold containers travel as values (the
        // delete op that follows removes them) so the containers exist.
        op.deleted = r.deleted && !HoldsContainer(r);
        if (!op.deleted) {
          if (is_text) {
            op.text = r.text.substr(cut);
          } else {
            op.values.assign(r.values.begin() + static_cast<ptrdiff_t>(cut),
                             r.values.end());
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
    bool present = std::any_of(out.begin(), out.end(), [&](const Op& o) {
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

// ---- Snapshot
// -------------------------------------------------------------------

std::string Doc::EncodeSnapshot() const {
  auto containers = Sorted(containers_);
  std::vector<std::vector<Run>> runs(containers.size());
  IdTable table;
  for (size_t i = 0; i < containers.size(); ++i) {
    const Container& c = *containers[i].second;
    table.Add(containers[i].first);
    if (c.seq) {
      runs[i] = CanonicalRuns(*c.seq);
      for (const Run& r : runs[i]) {
        table.Add(r.id);
        table.Add(r.origin_left);
        table.Add(r.origin_right);
      }
    }
    for (const auto& [k, e] : c.map.entries) table.Add(e.id);
    for (const auto& [k, e] : c.map.shadows) table.Add(e.id);
    for (const auto& [id, d] : c.counter.adds) table.Add(id);
  }
  for (const auto& [id, d] : deletes_) {
    table.Add(id);
    table.Add(d.container);
    table.Add(d.target);
  }
  table.Finish();

  Writer w;
  w.Byte(kSnapshotFormatVersion);
  version_.EncodeTo(w);
  w.Varint(max_lamport_);
  table.Encode(w);
  w.Varint(containers.size());
  for (size_t i = 0; i < containers.size(); ++i) {
    const Container& c = *containers[i].second;
    table.EncodeId(containers[i].first, w);
    w.Byte(static_cast<uint8_t>(c.type));
    switch (c.type) {
      case ContainerType::kMap: {
        w.Varint(c.map.entries.size());
        for (const auto& [key, e] : c.map.entries) {
          w.Bytes(key);
          table.EncodeId(e.id, w);
          w.Varint(e.lamport);
          internal::EncodeValue(e.value, w);
        }
        auto shadows = c.map.shadows;
        std::sort(shadows.begin(), shadows.end(),
                  [](const auto& a, const auto& b) {
                    return a.second.id < b.second.id;
                  });
        w.Varint(shadows.size());
        for (const auto& [key, e] : shadows) {
          w.Bytes(key);
          table.EncodeId(e.id, w);
          w.Varint(e.lamport);
          internal::EncodeValue(e.value, w);
        }
        break;
      }
      case ContainerType::kCounter: {
        auto adds = c.counter.adds;
        std::sort(adds.begin(), adds.end());
        w.Varint(adds.size());
        for (const auto& [id, delta] : adds) {
          table.EncodeId(id, w);
          w.SignedVarint(delta);
        }
        break;
      }
      case ContainerType::kList:
      case ContainerType::kText: {
        // Run headers first, then all content together.
        w.Varint(runs[i].size());
        OpId prev_last = kNoId;
        for (const Run& r : runs[i]) {
          uint8_t flags = 0;
          if (r.deleted) flags |= 1;
          if (r.origin_left == prev_last && prev_last.replica != 0)
            flags |= 2;
          else if (r.origin_left.replica != 0)
            flags |= 4;
          if (r.origin_right.replica != 0) flags |= 8;
          if (r.deleted && !r.values.empty()) flags |= 16;
          w.Byte(flags);
          table.EncodeId(r.id, w);
          w.Varint(r.len);
          if (flags & 4) table.EncodeId(r.origin_left, w);
          if (flags & 8) table.EncodeId(r.origin_right, w);
          prev_last = r.last();
        }
        if (c.type == ContainerType::kText) {
          std::string utf8;
          for (const Run& r : runs[i]) AppendUtf8(r.text, &utf8);
          w.Bytes(utf8);
        } else {
          for (const Run& r : runs[i]) {
            for (const Value& v : r.values) internal::EncodeValue(v, w);
          }
        }
        break;
      }
    }
  }
  w.Varint(deletes_.size());
  for (const auto& [id, d] : deletes_) {
    table.EncodeId(id, w);
    w.Varint(d.len);
    table.EncodeId(d.container, w);
    table.EncodeId(d.target, w);
    w.Byte(d.reversed ? 1 : 0);
  }
  return std::move(w).Finish();
}

absl::StatusOr<std::unique_ptr<Doc>> Doc::LoadSnapshot(ReplicaId replica,
                                                       absl::string_view bytes,
                                                       DocOptions options) {
  if (replica == 0) return absl::InvalidArgumentError("replica 0 is reserved");
  Reader r(bytes, "snapshot");
  LATTICE_ASSIGN_OR_RETURN(uint8_t version, r.Byte());
  if (version != kSnapshotFormatVersion) {
    return r.Error(absl::StrCat("unsupported format version ", version));
  }
  auto doc = std::make_unique<Doc>(replica, options);
  LATTICE_ASSIGN_OR_RETURN(doc->version_, VersionVector::DecodeFrom(r));
  LATTICE_ASSIGN_OR_RETURN(doc->max_lamport_, r.Varint());
  LATTICE_ASSIGN_OR_RETURN(std::vector<ReplicaId> table, DecodeTable(r));
  const VersionVector& vv = doc->version_;
  auto check_id = [&](const OpId& id, uint64_t len,
                      absl::string_view what) -> absl::Status {
    if (id.replica == 0 || len == 0 || id.counter + len < id.counter ||
        id.counter + len > vv.Get(id.replica)) {
      return r.Error(absl::StrCat(what, " id ", id.replica, ":", id.counter,
                                  " outside the snapshot's version"));
    }
    return absl::OkStatus();
  };
  // Container values seen, to check each names a container of its type.
  std::vector<std::pair<ContainerId, ContainerType>> refs;

  LATTICE_ASSIGN_OR_RETURN(uint64_t n_containers,
                           r.Bounded(r.remaining() / 2, "container count"));
  if (n_containers == 0) return r.Error("no root container");
  ContainerId prev_id = kNoId;
  for (uint64_t i = 0; i < n_containers; ++i) {
    LATTICE_ASSIGN_OR_RETURN(ContainerId cid, DecodeId(r, table));
    LATTICE_ASSIGN_OR_RETURN(uint8_t type_byte, r.Byte());
    if (type_byte < 1 || type_byte > 4)
      return r.Error("unknown container type");
    const auto type = static_cast<ContainerType>(type_byte);
    if (i == 0 && (cid != kRootId || type != ContainerType::kMap)) {
      return r.Error("first container is not the root map");
    }
    if (i > 0) {
      if (!(prev_id < cid)) return r.Error("containers not in id order");
      LATTICE_RETURN_IF_ERROR(check_id(cid, 1, "container"));
      doc->RegisterContainer(cid, type);
    }
    prev_id = cid;
    Container& c = *doc->containers_.at(cid);
    switch (type) {
      case ContainerType::kMap: {
        LATTICE_ASSIGN_OR_RETURN(uint64_t n,
                                 r.Bounded(r.remaining(), "map size"));
        for (uint64_t k = 0; k < n; ++k) {
          LATTICE_ASSIGN_OR_RETURN(absl::string_view key, r.Bytes());
          internal::MapEntry e;
          LATTICE_ASSIGN_OR_RETURN(e.id, DecodeId(r, table));
          LATTICE_RETURN_IF_ERROR(check_id(e.id, 1, "map entry"));
          LATTICE_ASSIGN_OR_RETURN(e.lamport, r.Varint());
          LATTICE_ASSIGN_OR_RETURN(e.value, internal::DecodeValue(r));
          if (e.value.is_container())
            refs.emplace_back(e.id, e.value.container_type());
          if (!c.map.entries.empty() &&
              !(c.map.entries.rbegin()->first < key)) {
            return r.Error("map keys not in order");
          }
          c.map.entries.emplace_hint(c.map.entries.end(), std::string(key),
                                     std::move(e));
        }
        LATTICE_ASSIGN_OR_RETURN(uint64_t n_shadows,
                                 r.Bounded(r.remaining(), "shadow count"));
        for (uint64_t k = 0; k < n_shadows; ++k) {
          LATTICE_ASSIGN_OR_RETURN(absl::string_view key, r.Bytes());
          internal::MapEntry e;
          LATTICE_ASSIGN_OR_RETURN(e.id, DecodeId(r, table));
          LATTICE_RETURN_IF_ERROR(check_id(e.id, 1, "map shadow"));
          LATTICE_ASSIGN_OR_RETURN(e.lamport, r.Varint());
          LATTICE_ASSIGN_OR_RETURN(e.value, internal::DecodeValue(r));
          if (!e.value.is_container())
            return r.Error("map shadow is not a container");
          refs.emplace_back(e.id, e.value.container_type());
          c.map.shadows.emplace_back(std::string(key), std::move(e));
        }
        break;
      }
      case ContainerType::kCounter: {
        LATTICE_ASSIGN_OR_RETURN(uint64_t n,
                                 r.Bounded(r.remaining(), "counter size"));
        for (uint64_t k = 0; k < n; ++k) {
          LATTICE_ASSIGN_OR_RETURN(OpId id, DecodeId(r, table));
          LATTICE_RETURN_IF_ERROR(check_id(id, 1, "counter add"));
          LATTICE_ASSIGN_OR_RETURN(int64_t delta, r.SignedVarint());
          c.counter.sum =
              static_cast<int64_t>(static_cast<uint64_t>(c.counter.sum) +
                                   static_cast<uint64_t>(delta));
          c.counter.adds.emplace_back(id, delta);
        }
        break;
      }
      case ContainerType::kList:
      case ContainerType::kText: {
        LATTICE_ASSIGN_OR_RETURN(uint64_t n,
                                 r.Bounded(r.remaining(), "run count"));
        std::vector<Run> runs;
        std::vector<bool> has_values;
        runs.reserve(n);
        OpId prev_last = kNoId;
        uint64_t visible = 0;
        for (uint64_t k = 0; k < n; ++k) {
          Run run;
          LATTICE_ASSIGN_OR_RETURN(uint8_t flags, r.Byte());
          if (flags > 31 || ((flags & 2) && (flags & 4)) ||
              ((flags & 2) && prev_last.replica == 0)) {
            return r.Error("bad run flags");
          }
          if ((flags & 16) && (type == ContainerType::kText || !(flags & 1))) {
            return r.Error("run values flag on a text or live run");
          }
          run.deleted = flags & 1;
          LATTICE_ASSIGN_OR_RETURN(run.id, DecodeId(r, table));
          LATTICE_ASSIGN_OR_RETURN(run.len, r.Varint());
          if (run.len > (uint64_t{1} << 31)) return r.Error("run too long");
          LATTICE_RETURN_IF_ERROR(check_id(run.id, run.len, "run"));
          if (flags & 2) run.origin_left = prev_last;
          if (flags & 4) {
            LATTICE_ASSIGN_OR_RETURN(run.origin_left, DecodeId(r, table));
          }
          if (flags & 8) {
            LATTICE_ASSIGN_OR_RETURN(run.origin_right, DecodeId(r, table));
          }
          prev_last = run.last();
          if (!run.deleted) visible += run.len;
          has_values.push_back((flags & 16) ||
                               (!run.deleted && type == ContainerType::kList));
          runs.push_back(std::move(run));
        }
        if (type == ContainerType::kText) {
          LATTICE_ASSIGN_OR_RETURN(absl::string_view utf8, r.Bytes());
          auto cps = Utf8ToCodePoints(utf8);
          if (!cps.ok()) return r.Error("text content is not valid utf-8");
          if (cps->size() != visible)
            return r.Error("text content length mismatch");
          uint64_t at = 0;
          for (Run& run : runs) {
            if (run.deleted) continue;
            run.text = cps->substr(at, run.len);
            at += run.len;
          }
        } else {
          for (size_t k = 0; k < runs.size(); ++k) {
            if (!has_values[k]) continue;
            Run& run = runs[k];
            // Each value takes at least one byte: bounds the reservation.
            if (run.len > r.remaining())
              return r.Error("list value count exceeds input");
            run.values.reserve(run.len);
            bool any_container = false;
            for (uint64_t e = 0; e < run.len; ++e) {
              LATTICE_ASSIGN_OR_RETURN(Value v, internal::DecodeValue(r));
              if (v.kind() == Value::Kind::kDeleted)
                return r.Error("list value is a deletion marker");
              if (v.is_container()) {
                any_container = true;
                refs.emplace_back(OpId{run.id.replica, run.id.counter + e},
                                  v.container_type());
              } else if (run.deleted && v.kind() != Value::Kind::kNull) {
                return r.Error("deleted list value is not a container or null");
              }
              run.values.push_back(std::move(v));
            }
            if (run.deleted && !any_container)
              return r.Error("deleted list run holds no container");
          }
        }
        for (Run& run : runs) c.seq->AppendRun(std::move(run));
        break;
      }
    }
  }
  LATTICE_ASSIGN_OR_RETURN(uint64_t n_deletes,
                           r.Bounded(r.remaining(), "delete count"));
  for (uint64_t k = 0; k < n_deletes; ++k) {
    LATTICE_ASSIGN_OR_RETURN(OpId id, DecodeId(r, table));
    internal::DeleteRecord d;
    LATTICE_ASSIGN_OR_RETURN(d.len, r.Varint());
    LATTICE_RETURN_IF_ERROR(check_id(id, d.len, "delete"));
    LATTICE_ASSIGN_OR_RETURN(d.container, DecodeId(r, table));
    LATTICE_ASSIGN_OR_RETURN(d.target, DecodeId(r, table));
    LATTICE_RETURN_IF_ERROR(check_id(d.target, d.len, "delete target"));
    LATTICE_ASSIGN_OR_RETURN(uint8_t reversed, r.Byte());
    if (reversed > 1) return r.Error("delete direction not 0 or 1");
    d.reversed = reversed == 1;
    if (!doc->deletes_.empty() && !(doc->deletes_.rbegin()->first < id)) {
      return r.Error("deletes not in id order");
    }
    doc->deletes_.emplace_hint(doc->deletes_.end(), id, d);
  }
  if (!r.done()) return r.Error("trailing bytes");
  for (const auto& [id, type] : refs) {
    auto it = doc->containers_.find(id);
    if (it == doc->containers_.end() || it->second->type != type) {
      return absl::InvalidArgumentError(
          absl::StrCat("decode snapshot: value names container ", id.replica,
                       ":", id.counter, " of type ", ContainerTypeName(type),
                       " that the snapshot lacks"));
    }
  }
  return doc;
}

}  // namespace lattice::crdt
