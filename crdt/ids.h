// Identifiers of replicas and operations.
//
// Every operation a replica makes gets the next counter of that replica, so
// (replica, counter) names it uniquely and a replica's operations form the
// gapless sequence 0, 1, 2, ... (a VersionVector summarises a prefix of each).
#ifndef LATTICE_CRDT_IDS_H_
#define LATTICE_CRDT_IDS_H_

#include <compare>
#include <cstdint>

namespace lattice::crdt {

// Chosen by the application (e.g. random 63-bit per session); never 0, which
// is reserved for "no replica".
using ReplicaId = uint64_t;

struct OpId {
  ReplicaId replica = 0;
  uint64_t counter = 0;

  friend bool operator==(const OpId&, const OpId&) = default;
  friend auto operator<=>(const OpId&, const OpId&) = default;
  template <typename H>
  friend H AbslHashValue(H h, const OpId& id) {
    return H::combine(std::move(h), id.replica, id.counter);
  }
};

}  // namespace lattice::crdt

#endif  // LATTICE_CRDT_IDS_H_
