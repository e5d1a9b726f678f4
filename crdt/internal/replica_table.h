// The replica table that updates and snapshots share: the replica ids an
// encoding mentions, sorted and written once as deltas, so that each id is
// then written as a small index (docs/crdt.md, "Update format").
//
// Thread safety: none needed; a table belongs to one encode or decode call.
#ifndef LATTICE_CRDT_INTERNAL_REPLICA_TABLE_H_
#define LATTICE_CRDT_INTERNAL_REPLICA_TABLE_H_

#include <cstdint>
#include <vector>

#include "crdt/ids.h"
#include "crdt/internal/codec.h"

#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"

namespace lattice::crdt::internal {

class ReplicaTable {
 public:
  // Collects the replica of `id` (none for replica 0). Repeats of the last
  // one are skipped: ids come mostly from one replica in a row, and Finish
  // sorts what is collected.
  void Add(const OpId& id) {
    if (id.replica != 0 &&
        (replicas_.empty() || replicas_.back() != id.replica))
      replicas_.push_back(id.replica);
  }
  // Sorts and numbers the collected replicas. REQUIRES: before the rest.
  void Finish();
  // Writes the count, then each replica as the difference to the previous.
  void Encode(Writer& w) const;
  // The 0-based index of `replica`. REQUIRES: it was added.
  uint64_t Index(ReplicaId replica) const { return index_.at(replica); }
  // An id as (index + 1, counter); a lone 0 means none (replica 0).
  void EncodeId(const OpId& id, Writer& w) const;

 private:
  std::vector<ReplicaId> replicas_;
  absl::flat_hash_map<ReplicaId, uint64_t> index_;
};

// Reads a table written by ReplicaTable::Encode.
absl::StatusOr<std::vector<ReplicaId>> DecodeReplicaTable(Reader& r);
// Reads an id written by ReplicaTable::EncodeId.
absl::StatusOr<OpId> DecodeId(Reader& r, const std::vector<ReplicaId>& table);

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_REPLICA_TABLE_H_
