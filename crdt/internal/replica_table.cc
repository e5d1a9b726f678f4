#include "crdt/internal/replica_table.h"

#include <algorithm>

#include "base/status_macros.h"

namespace lattice::crdt::internal {

void ReplicaTable::Finish() {
  std::sort(replicas_.begin(), replicas_.end());
  replicas_.erase(std::unique(replicas_.begin(), replicas_.end()),
                  replicas_.end());
  for (size_t i = 0; i < replicas_.size(); ++i) index_[replicas_[i]] = i;
}

void ReplicaTable::Encode(Writer& w) const {
  w.Varint(replicas_.size());
  ReplicaId prev = 0;
  for (ReplicaId r : replicas_) {
    w.Varint(r - prev);
    prev = r;
  }
}

void ReplicaTable::EncodeId(const OpId& id, Writer& w) const {
  if (id.replica == 0) {
    w.Varint(0);
    return;
  }
  w.Varint(Index(id.replica) + 1);
  w.Varint(id.counter);
}

absl::StatusOr<std::vector<ReplicaId>> DecodeReplicaTable(Reader& r) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t n,
                           r.Bounded(r.remaining(), "replica count"));
  std::vector<ReplicaId> table;
  table.reserve(n);
  ReplicaId prev = 0;
  for (uint64_t i = 0; i < n; ++i) {
    LATTICE_ASSIGN_OR_RETURN(uint64_t delta, r.Varint());
    if (delta == 0 || prev + delta < prev) {
      return r.Error("replica table not strictly increasing");
    }
    prev += delta;
    table.push_back(prev);
  }
  return table;
}

absl::StatusOr<OpId> DecodeId(Reader& r, const std::vector<ReplicaId>& table) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t index,
                           r.Bounded(table.size(), "replica index"));
  if (index == 0) return OpId{0, 0};
  LATTICE_ASSIGN_OR_RETURN(uint64_t counter, r.Varint());
  return OpId{table[index - 1], counter};
}

}  // namespace lattice::crdt::internal
