// Snapshots: the whole state in one canonical encoding (docs/crdt.md,
// "Snapshot (format 1)"), and loading one with the checks of
// doc_validate.cc.
#include <algorithm>
#include <optional>
#include <utility>

#include "base/status_macros.h"
#include "base/utf8.h"
#include "crdt/doc.h"
#include "crdt/internal/codec.h"
#include "crdt/internal/replica_table.h"
#include "crdt/internal/update_codec.h"
#include "crdt/text_units.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::Container;
using internal::DecodeId;
using internal::DecodeReplicaTable;
using internal::kNoId;
using internal::Reader;
using internal::Run;
using internal::Writer;

namespace {

constexpr uint8_t kSnapshotFormatVersion = 1;

// Whether run `b` continues run `a` (same test as Sequence's merge, but with
// content-independent rules so the result is canonical).
bool RunContinues(const Run& a, const Run& b) {
  return a.id.replica == b.id.replica && b.id.counter == a.id.counter + a.len &&
         b.origin_left == a.last() && b.origin_right == a.origin_right &&
         a.deleted == b.deleted;
}

// A run with its content, as encoded.
struct EncodedRun {
  Run run;
  std::u32string text;
  std::vector<Value> values;  // live list runs; deleted ones holding containers
};

// Runs of a sequence in document order, maximally merged. A deleted list run
// carries values (the container, or null) iff one of its elements created a
// container, which `container_type` reports.
template <typename ContainerTypeOf>
std::vector<EncodedRun> CanonicalRuns(const internal::Sequence& seq,
                                      const ContainerTypeOf& container_type) {
  std::vector<EncodedRun> out;
  seq.ForEachRun([&](const Run& r, internal::RunContent content) {
    if (!out.empty() && RunContinues(out.back().run, r)) {
      EncodedRun& a = out.back();
      a.run.len += r.len;
      a.text.append(content.text.begin(), content.text.end());
      a.values.insert(a.values.end(), content.values.begin(),
                      content.values.end());
      return;
    }
    out.push_back(
        {r, std::u32string(content.text),
         std::vector<Value>(content.values.begin(), content.values.end())});
  });
  if (!seq.is_text()) {
    for (EncodedRun& e : out) {
      if (!e.run.deleted) continue;
      bool any = false;
      std::vector<Value> values;
      values.reserve(e.run.len);
      for (uint64_t i = 0; i < e.run.len; ++i) {
        auto type =
            container_type(OpId{e.run.id.replica, e.run.id.counter + i});
        any = any || type.has_value();
        values.push_back(type ? Value::NewContainer(*type) : Value::Null());
      }
      if (any) e.values = std::move(values);
    }
  }
  return out;
}

// An id as (index + 1, counter - base), the difference zigzag-encoded.
void EncodeRelative(const internal::ReplicaTable& table, const OpId& id,
                    uint64_t base, Writer& w) {
  w.Varint(table.Index(id.replica) + 1);
  w.SignedVarint(static_cast<int64_t>(id.counter - base));
}

// Reads an id written by EncodeRelative. The base counter is `base`'s when
// `base_is_previous_end` and the replica matches (a run's own id against the
// previous run's end), else 0; origins pass their run's id with false and use
// its counter.
absl::StatusOr<OpId> DecodeRelative(Reader& r,
                                    const std::vector<ReplicaId>& table,
                                    const OpId& base,
                                    bool base_is_previous_end) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t index,
                           r.Bounded(table.size(), "replica index"));
  if (index == 0) return r.Error("id without a replica");
  LATTICE_ASSIGN_OR_RETURN(int64_t delta, r.SignedVarint());
  const ReplicaId replica = table[index - 1];
  uint64_t from = base.counter;
  if (base_is_previous_end && base.replica != replica) from = 0;
  return OpId{replica, from + static_cast<uint64_t>(delta)};
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

// Sequence runs in a snapshot: all run headers, then all content. Each header
// is a flags byte and only what cannot be inferred from its neighbours:
//   1 deleted               16 deleted run keeps values (created containers)
//   2 left origin = previous run's last element    4 left origin follows
//   8 right origin follows  32 id continues the previous run's ids
//  64 right origin = next run's first id   128 right origin = previous run's
// Ids that follow are (replica index, signed counter delta) against the run's
// own counter; a run's own id against the previous run's end.
enum RunFlags : uint8_t {
  kRunDeleted = 1,
  kRunLeftIsPrev = 2,
  kRunLeft = 4,
  kRunRight = 8,
  kRunValues = 16,
  kRunIdContinues = 32,
  kRunRightIsNext = 64,
  kRunRightIsPrevRight = 128,
};

void EncodeRuns(const std::vector<EncodedRun>& runs, bool is_text,
                const internal::ReplicaTable& table, Writer& w) {
  w.Varint(runs.size());
  OpId prev_end = kNoId;  // id after the previous run's last
  OpId prev_right = kNoId;
  for (size_t k = 0; k < runs.size(); ++k) {
    const Run& r = runs[k].run;
    const OpId next_first = k + 1 < runs.size() ? runs[k + 1].run.id : kNoId;
    const OpId prev_last{prev_end.replica, prev_end.counter - 1};
    uint8_t flags = 0;
    if (r.deleted) flags |= kRunDeleted;
    if (r.deleted && !runs[k].values.empty()) flags |= kRunValues;
    if (k > 0 && r.id == prev_end) flags |= kRunIdContinues;
    if (r.origin_left.replica != 0)
      flags |=
          (k > 0 && r.origin_left == prev_last) ? kRunLeftIsPrev : kRunLeft;
    if (r.origin_right.replica != 0) {
      if (r.origin_right == next_first)
        flags |= kRunRightIsNext;
      else if (k > 0 && r.origin_right == prev_right)
        flags |= kRunRightIsPrevRight;
      else
        flags |= kRunRight;
    }
    w.Byte(flags);
    if (!(flags & kRunIdContinues)) {
      EncodeRelative(table, r.id,
                     prev_end.replica == r.id.replica ? prev_end.counter : 0,
                     w);
    }
    w.Varint(r.len);
    if (flags & kRunLeft) EncodeRelative(table, r.origin_left, r.id.counter, w);
    if (flags & kRunRight)
      EncodeRelative(table, r.origin_right, r.id.counter, w);
    prev_end = {r.id.replica, r.id.counter + r.len};
    prev_right = r.origin_right;
  }
  if (is_text) {
    std::string utf8;
    for (const EncodedRun& e : runs) AppendUtf8(e.text, &utf8);
    w.Bytes(utf8);
  } else {
    for (const EncodedRun& e : runs) {
      for (const Value& v : e.values) internal::EncodeValue(v, w);
    }
  }
}

template <typename CheckId>
absl::Status DecodeRuns(Reader& r, const std::vector<ReplicaId>& table,
                        bool is_text, const CheckId& check_id, ContainerId self,
                        std::vector<internal::ContainerRef>& refs,
                        internal::Sequence& seq) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t n,
                           r.Bounded(r.remaining() / 2, "run count"));
  std::vector<Run> runs;
  std::vector<uint8_t> flags_of;
  runs.reserve(n);
  flags_of.reserve(n);
  OpId prev_end = kNoId;
  OpId prev_right = kNoId;
  uint64_t visible = 0;
  for (uint64_t k = 0; k < n; ++k) {
    Run run;
    LATTICE_ASSIGN_OR_RETURN(uint8_t flags, r.Byte());
    const int right_kinds = !!(flags & kRunRight) +
                            !!(flags & kRunRightIsNext) +
                            !!(flags & kRunRightIsPrevRight);
    if (((flags & kRunLeftIsPrev) && (flags & kRunLeft)) || right_kinds > 1 ||
        (k == 0 &&
         (flags & (kRunLeftIsPrev | kRunIdContinues | kRunRightIsPrevRight))) ||
        ((flags & kRunValues) && (is_text || !(flags & kRunDeleted)))) {
      return r.Error("bad run flags");
    }
    run.deleted = flags & kRunDeleted;
    if (flags & kRunIdContinues) {
      run.id = prev_end;
    } else {
      LATTICE_ASSIGN_OR_RETURN(run.id,
                               DecodeRelative(r, table, prev_end, true));
    }
    if (k > 0 && (flags_of.back() & kRunRightIsNext)) {
      runs.back().origin_right = run.id;
      prev_right = run.id;
    }
    LATTICE_ASSIGN_OR_RETURN(uint64_t len, r.Varint());
    if (len == 0 || len > internal::Sequence::kMaxRunLength)
      return r.Error("bad run length");
    run.len = static_cast<uint32_t>(len);
    LATTICE_RETURN_IF_ERROR(check_id(run.id, run.len, "run"));
    if (flags & kRunLeftIsPrev)
      run.origin_left = {prev_end.replica, prev_end.counter - 1};
    if (flags & kRunLeft) {
      LATTICE_ASSIGN_OR_RETURN(run.origin_left,
                               DecodeRelative(r, table, run.id, false));
    }
    if (flags & kRunRight) {
      LATTICE_ASSIGN_OR_RETURN(run.origin_right,
                               DecodeRelative(r, table, run.id, false));
    }
    if (flags & kRunRightIsPrevRight) run.origin_right = prev_right;
    prev_end = {run.id.replica, run.id.counter + run.len};
    prev_right = run.origin_right;
    if (!run.deleted) visible += run.len;
    runs.push_back(run);
    flags_of.push_back(flags);
  }
  if (n > 0 && (flags_of.back() & kRunRightIsNext))
    return r.Error("last run's right origin is next");
  if (is_text) {
    LATTICE_ASSIGN_OR_RETURN(absl::string_view utf8, r.Bytes());
    auto cps = Utf8ToCodePoints(utf8);
    if (!cps.ok()) return r.Error("text content is not valid utf-8");
    if (cps->size() != visible) return r.Error("text content length mismatch");
    uint64_t at = 0;
    for (const Run& run : runs) {
      internal::RunContent content;
      if (!run.deleted) {
        content.text = std::u32string_view(*cps).substr(at, run.len);
        at += run.len;
      }
      seq.AppendRun(run, content);
    }
    return absl::OkStatus();
  }
  std::vector<Value> values;
  for (size_t k = 0; k < runs.size(); ++k) {
    const Run& run = runs[k];
    values.clear();
    if (!run.deleted || (flags_of[k] & kRunValues)) {
      // Each value takes at least one byte: bounds the reservation.
      if (run.len > r.remaining())
        return r.Error("list value count exceeds input");
      values.reserve(run.len);
      bool any_container = false;
      for (uint64_t e = 0; e < run.len; ++e) {
        LATTICE_ASSIGN_OR_RETURN(Value v, internal::DecodeValue(r));
        if (v.kind() == Value::Kind::kDeleted)
          return r.Error("list value is a deletion marker");
        if (v.is_container()) {
          any_container = true;
          refs.push_back({OpId{run.id.replica, run.id.counter + e},
                          v.container_type(), self});
        } else if (run.deleted && v.kind() != Value::Kind::kNull) {
          return r.Error("deleted list value is not a container or null");
        }
        values.push_back(std::move(v));
      }
      if (run.deleted && !any_container)
        return r.Error("deleted list run holds no container");
    }
    seq.AppendRun(run, {{},
                        run.deleted ? absl::Span<const Value>()
                                    : absl::MakeConstSpan(values)});
  }
  return absl::OkStatus();
}

}  // namespace

std::string Doc::EncodeSnapshot() const {
  auto containers = Sorted(containers_);
  std::vector<std::vector<EncodedRun>> runs(containers.size());
  internal::ReplicaTable table;
  for (size_t i = 0; i < containers.size(); ++i) {
    const Container& c = *containers[i].second;
    table.Add(containers[i].first);
    if (c.seq) {
      runs[i] = CanonicalRuns(
          *c.seq, [&](const OpId& id) -> std::optional<ContainerType> {
            auto it = containers_.find(id);
            if (it == containers_.end()) return std::nullopt;
            return it->second->type;
          });
      for (const EncodedRun& e : runs[i]) {
        const Run& r = e.run;
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
        EncodeRuns(runs[i], c.type == ContainerType::kText, table, w);
        break;
      }
    }
  }
  // Deletes in id order. Flags: 1 reversed, 2 id continues the previous
  // record, 4 same container as the previous record. The target is relative
  // to the record's own counter.
  w.Varint(deletes_.size());
  OpId prev_end = kNoId;
  ContainerId prev_container = kNoId;
  for (const auto& [id, d] : deletes_) {
    uint8_t flags = d.reversed ? 1 : 0;
    if (id == prev_end) flags |= 2;
    if (d.container == prev_container && prev_end.replica != 0) flags |= 4;
    w.Byte(flags);
    if (!(flags & 2))
      EncodeRelative(table, id,
                     prev_end.replica == id.replica ? prev_end.counter : 0, w);
    w.Varint(d.len);
    if (!(flags & 4)) table.EncodeId(d.container, w);
    EncodeRelative(table, d.target, id.counter, w);
    prev_end = {id.replica, id.counter + d.len};
    prev_container = d.container;
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
  LATTICE_ASSIGN_OR_RETURN(std::vector<ReplicaId> table, DecodeReplicaTable(r));
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
  std::vector<internal::ContainerRef> refs;

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
          if (!IsValidUtf8(key)) return r.Error("map key is not valid utf-8");
          if (e.value.is_container())
            refs.push_back({e.id, e.value.container_type(), cid});
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
          if (!IsValidUtf8(key)) return r.Error("map key is not valid utf-8");
          refs.push_back({e.id, e.value.container_type(), cid});
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
        LATTICE_RETURN_IF_ERROR(DecodeRuns(r, table,
                                           type == ContainerType::kText,
                                           check_id, cid, refs, *c.seq));
        break;
      }
    }
  }
  LATTICE_ASSIGN_OR_RETURN(uint64_t n_deletes,
                           r.Bounded(r.remaining(), "delete count"));
  OpId prev_end = kNoId;
  ContainerId prev_container = kNoId;
  for (uint64_t k = 0; k < n_deletes; ++k) {
    LATTICE_ASSIGN_OR_RETURN(uint8_t flags, r.Byte());
    if (flags > 7 || (k == 0 && (flags & 6)))
      return r.Error("bad delete flags");
    OpId id = prev_end;
    if (!(flags & 2)) {
      LATTICE_ASSIGN_OR_RETURN(id, DecodeRelative(r, table, prev_end, true));
    }
    internal::DeleteRecord d;
    d.reversed = flags & 1;
    LATTICE_ASSIGN_OR_RETURN(d.len, r.Varint());
    LATTICE_RETURN_IF_ERROR(check_id(id, d.len, "delete"));
    d.container = prev_container;
    if (!(flags & 4)) {
      LATTICE_ASSIGN_OR_RETURN(d.container, DecodeId(r, table));
    }
    LATTICE_ASSIGN_OR_RETURN(d.target, DecodeRelative(r, table, id, false));
    LATTICE_RETURN_IF_ERROR(check_id(d.target, d.len, "delete target"));
    if (!doc->deletes_.empty() && !(doc->deletes_.rbegin()->first < id)) {
      return r.Error("deletes not in id order");
    }
    doc->deletes_.emplace_hint(doc->deletes_.end(), id, d);
    prev_end = {id.replica, id.counter + d.len};
    prev_container = d.container;
  }
  if (!r.done()) return r.Error("trailing bytes");
  LATTICE_RETURN_IF_ERROR(doc->ValidateLoaded(refs));
  if (options.snapshot_check == SnapshotCheck::kFull) {
    // A peer fed the loaded doc's history must hold the same state.
    Doc scratch(replica, options);
    auto applied = scratch.ApplyUpdate(doc->ChangesSince(VersionVector()));
    if (!applied.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("decode snapshot: its history does not replay: ",
                       applied.status().message()));
    }
    scratch.max_lamport_ =
        doc->max_lamport_;  // superseded writes leave no trace
    if (scratch.pending_ops() != 0 ||
        scratch.EncodeSnapshot() != doc->EncodeSnapshot()) {
      return absl::InvalidArgumentError(
          "decode snapshot: its history replays to another state (order of "
          "concurrent inserts)");
    }
  }
  return doc;
}

}  // namespace lattice::crdt
