// The state of each container kind, owned by a Doc.
#ifndef LATTICE_CRDT_INTERNAL_CONTAINER_H_
#define LATTICE_CRDT_INTERNAL_CONTAINER_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crdt/ids.h"
#include "crdt/internal/sequence.h"
#include "crdt/value.h"

#include "absl/container/btree_map.h"

namespace lattice::crdt::internal {

// A map register: the op that wrote it, ordered by (lamport, replica), then
// counter: a replica never reuses a Lamport value, but a buggy or hostile
// one might, and the order must stay total for replicas to agree.
struct MapEntry {
  OpId id;
  uint64_t lamport = 0;
  Value value;
  bool Beats(const MapEntry& other) const {
    if (lamport != other.lamport) return lamport > other.lamport;
    if (id.replica != other.id.replica) return id.replica > other.id.replica;
    return id.counter > other.id.counter;
  }
};

struct MapState {
  absl::btree_map<std::string, MapEntry> entries;  // the winners
  // Losing writes that created containers: kept so that ops inside those
  // containers still have their parent (and ChangesSince can send it).
  std::vector<std::pair<std::string, MapEntry>> shadows;
};

struct CounterState {
  int64_t sum = 0;  // wraps modulo 2^64 like the ops it sums
  std::vector<std::pair<OpId, int64_t>> adds;
};

struct Container {
  explicit Container(ContainerType t)
      : type(t),
        seq(t == ContainerType::kList || t == ContainerType::kText
                ? std::make_unique<Sequence>(t == ContainerType::kText)
                : nullptr) {}
  ContainerType type;
  MapState map;                   // kMap
  std::unique_ptr<Sequence> seq;  // kList, kText
  CounterState counter;           // kCounter
};

// A delete op, kept so ChangesSince can send it.
struct DeleteRecord {
  uint64_t len = 0;
  ContainerId container;
  OpId target;
  bool reversed = false;
};

// A value that creates a container, found while loading a snapshot: the
// container `id` of `type`, held by container `parent`.
struct ContainerRef {
  ContainerId id;
  ContainerType type;
  ContainerId parent;
};

// Extends a delete run (target, len, reversed) whose ids are followed by
// those of (op_target, op_len, op_reversed), when the targets continue it in
// one direction. A run of length 1 has no direction. Returns false, changing
// nothing, when they do not. Merging is greedy in id order, so every replica
// that holds the same deletes ends with the same runs.
inline bool ExtendDelete(OpId& target, uint64_t& len, bool& reversed,
                         const OpId& op_target, uint64_t op_len,
                         bool op_reversed) {
  if (target.replica != op_target.replica) return false;
  const bool op_forward = !op_reversed || op_len == 1;
  const bool op_backward = op_reversed || op_len == 1;
  if ((!reversed || len == 1) && op_forward &&
      target.counter + len == op_target.counter) {
    reversed = false;
    len += op_len;
    return true;
  }
  if ((reversed || len == 1) && op_backward &&
      op_target.counter + op_len == target.counter) {
    reversed = true;
    target = op_target;
    len += op_len;
    return true;
  }
  return false;
}

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_CONTAINER_H_
