// Snapshots: the whole state in one canonical encoding (docs/crdt.md,
// "Snapshot (format 2)"), and loading one with the checks of
// doc_validate.cc. Sequence runs and the columns: internal/snapshot_runs.h.
#include <algorithm>
#include <optional>
#include <utility>

#include "base/status_macros.h"
#include "base/utf8.h"
#include "crdt/doc.h"
#include "crdt/internal/codec.h"
#include "crdt/internal/replica_table.h"
#include "crdt/internal/snapshot_runs.h"
#include "crdt/internal/update_codec.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::Container;
using internal::DecodeId;
using internal::DecodeNear;
using internal::DecodeReplicaTable;
using internal::EncodedRun;
using internal::EncodeNear;
using internal::kNoId;
using internal::NearSize;
using internal::Reader;
using internal::Run;
using internal::Writer;

namespace {

constexpr uint8_t kSnapshotFormatVersion = 2;

// Whether run `b` continues run `a` (same test as Sequence's merge, but with
// content-independent rules so the result is canonical).
bool RunContinues(const Run& a, const Run& b) {
  return a.id.replica == b.id.replica && b.id.counter == a.id.counter + a.len &&
         b.origin_left == a.last() && b.origin_right == a.origin_right &&
         a.deleted == b.deleted;
}

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

// A delete record's flags byte: what the record does not spell out.
enum DeleteFlags : uint8_t {
  kDeleteReversed = 1,       // a run of backspaces (docs/crdt.md)
  kDeleteIdContinues = 2,    // id = the previous record's end
  kDeleteSameContainer = 4,  // container = the previous record's
  kDeleteLenOne = 8,         // else len >= 2 follows, less 2
  kDeleteTargetNearId = 16,  // target near the record's id, else near the
                             // previous record's target end
  kDeleteFlagsEnd = 32,
};

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

  internal::SnapshotColumnWriters cols;
  Writer& w = cols.main;
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
        EncodeRuns(runs[i], c.type == ContainerType::kText, table, cols);
        break;
      }
    }
  }
  // Deletes in id order: a flags byte (DeleteFlags) and what it does not
  // imply.
  w.Varint(deletes_.size());
  OpId prev_end = kNoId;
  OpId prev_target_end = kNoId;
  ContainerId prev_container = kNoId;
  for (const auto& [id, d] : deletes_) {
    uint8_t flags = d.reversed ? kDeleteReversed : 0;
    if (id == prev_end) flags |= kDeleteIdContinues;
    if (d.container == prev_container && prev_end.replica != 0)
      flags |= kDeleteSameContainer;
    if (d.len == 1) flags |= kDeleteLenOne;
    if (NearSize(d.target, id) < NearSize(d.target, prev_target_end))
      flags |= kDeleteTargetNearId;
    cols.delete_flags.Byte(flags);
    if (!(flags & kDeleteIdContinues))
      EncodeNear(table, id, prev_end, cols.delete_ids);
    if (!(flags & kDeleteLenOne)) cols.lens.Varint(d.len - 2);
    if (!(flags & kDeleteSameContainer)) table.EncodeId(d.container, w);
    EncodeNear(table, d.target,
               (flags & kDeleteTargetNearId) ? id : prev_target_end,
               cols.delete_ids);
    prev_end = {id.replica, id.counter + d.len};
    prev_target_end = {d.target.replica, d.target.counter + d.len};
    prev_container = d.container;
  }
  Writer out;
  out.Byte(kSnapshotFormatVersion);
  cols.PackInto(out);
  return std::move(out).Finish();
}

absl::StatusOr<std::unique_ptr<Doc>> Doc::LoadSnapshot(ReplicaId replica,
                                                       absl::string_view bytes,
                                                       DocOptions options) {
  if (replica == 0) return absl::InvalidArgumentError("replica 0 is reserved");
  Reader packed(bytes, "snapshot");
  LATTICE_ASSIGN_OR_RETURN(uint8_t version, packed.Byte());
  if (version != kSnapshotFormatVersion) {
    return packed.Error(absl::StrCat("unsupported format version ", version));
  }
  internal::SnapshotColumnReaders cols;
  LATTICE_RETURN_IF_ERROR(cols.Unpack(packed));
  Reader& r = cols.main;
  auto doc = std::make_unique<Doc>(replica, options);
  LATTICE_ASSIGN_OR_RETURN(doc->version_, VersionVector::DecodeFrom(r));
  LATTICE_ASSIGN_OR_RETURN(doc->max_lamport_, r.Varint());
  LATTICE_ASSIGN_OR_RETURN(std::vector<ReplicaId> table, DecodeReplicaTable(r));
  const VersionVector& vv = doc->version_;
  internal::VersionBound bound(vv);
  auto check_id = [&](const OpId& id, uint64_t len,
                      absl::string_view what) -> absl::Status {
    return bound.Check(r, id, len, what);
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
        LATTICE_RETURN_IF_ERROR(
            internal::DecodeRuns(cols, table, bound, cid, refs, *c.seq));
        break;
      }
    }
  }
  LATTICE_ASSIGN_OR_RETURN(
      uint64_t n_deletes,
      r.Bounded(cols.delete_flags.remaining(), "delete count"));
  OpId prev_delete_id = kNoId;
  OpId prev_end = kNoId;
  OpId prev_target_end = kNoId;
  ContainerId prev_container = kNoId;
  for (uint64_t k = 0; k < n_deletes; ++k) {
    LATTICE_ASSIGN_OR_RETURN(uint8_t flags, cols.delete_flags.Byte());
    if (flags >= kDeleteFlagsEnd ||
        (k == 0 && (flags & (kDeleteIdContinues | kDeleteSameContainer))))
      return cols.delete_flags.Error("bad delete flags");
    OpId id = prev_end;
    if (!(flags & kDeleteIdContinues)) {
      LATTICE_ASSIGN_OR_RETURN(id,
                               DecodeNear(cols.delete_ids, table, prev_end));
    }
    internal::DeleteRecord d;
    d.reversed = flags & kDeleteReversed;
    d.len = 1;
    if (!(flags & kDeleteLenOne)) {
      LATTICE_ASSIGN_OR_RETURN(d.len, cols.lens.Varint());
      if (d.len > UINT64_MAX - 2) return cols.lens.Error("bad delete length");
      d.len += 2;
    }
    LATTICE_RETURN_IF_ERROR(bound.Check(cols.delete_ids, id, d.len, "delete"));
    d.container = prev_container;
    if (!(flags & kDeleteSameContainer)) {
      LATTICE_ASSIGN_OR_RETURN(d.container, DecodeId(r, table));
    }
    LATTICE_ASSIGN_OR_RETURN(
        d.target,
        DecodeNear(cols.delete_ids, table,
                   (flags & kDeleteTargetNearId) ? id : prev_target_end));
    LATTICE_RETURN_IF_ERROR(
        bound.Check(cols.delete_ids, d.target, d.len, "delete target"));
    if (k > 0 && !(prev_delete_id < id)) {
      return cols.delete_ids.Error("deletes not in id order");
    }
    prev_delete_id = id;
    doc->deletes_.emplace_hint(doc->deletes_.end(), id, d);
    prev_end = {id.replica, id.counter + d.len};
    prev_target_end = {d.target.replica, d.target.counter + d.len};
    prev_container = d.container;
  }
  LATTICE_RETURN_IF_ERROR(cols.CheckDone());
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
