// A VersionVector records, for each replica, how many of its operations a
// replica has seen: {A: 5} means A's operations 0..4. Two replicas exchange
// version vectors to compute what the other lacks (Doc::ChangesSince).
//
//   VersionVector mine = doc.version();
//   std::string wire = mine.Encode();
//   auto theirs = VersionVector::Decode(wire);   // StatusOr
//
// Thread safety: const methods may be called concurrently; mutation requires
// external synchronization.
#ifndef LATTICE_CRDT_VERSION_VECTOR_H_
#define LATTICE_CRDT_VERSION_VECTOR_H_

#include <cstdint>
#include <string>
#include <utility>

#include "crdt/ids.h"
#include "crdt/internal/codec.h"

#include "absl/container/btree_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt {

class VersionVector {
 public:
  // Largest number of replicas a decoded vector may name (bounds hostile
  // input; a room with more distinct writers than this is not supported).
  static constexpr uint64_t kMaxReplicas = 1 << 20;

  VersionVector() = default;
  // Copies and moves drop the Extend cache (it points into the tree).
  VersionVector(const VersionVector& other) : entries_(other.entries_) {}
  VersionVector(VersionVector&& other) noexcept
      : entries_(std::move(other.entries_)) {
    other.extended_ = nullptr;
  }
  VersionVector& operator=(const VersionVector& other) {
    entries_ = other.entries_;
    extended_ = nullptr;
    return *this;
  }
  VersionVector& operator=(VersionVector&& other) noexcept {
    entries_ = std::move(other.entries_);
    extended_ = nullptr;
    other.extended_ = nullptr;
    return *this;
  }

  // Returns how many operations of `replica` are included (0 if none).
  uint64_t Get(ReplicaId replica) const;
  // Returns whether operation `id` is included.
  bool Contains(const OpId& id) const { return id.counter < Get(id.replica); }
  // Raises `replica`'s count to `count` (never lowers it).
  void Advance(ReplicaId replica, uint64_t count);
  // Adds `n` > 0 to `replica`'s count and returns the count before: a local
  // replica numbering its next op, in one lookup.
  uint64_t Extend(ReplicaId replica, uint64_t n) {
    uint64_t* count = extended_ != nullptr && extended_replica_ == replica
                          ? extended_
                          : CacheCountOf(replica);
    const uint64_t before = *count;
    *count += n;
    return before;
  }
  // Raises every entry to the maximum of both.
  void Merge(const VersionVector& other);
  // Returns whether every operation in `other` is included here.
  bool Includes(const VersionVector& other) const;
  // Total number of operations included.
  uint64_t Total() const;

  const absl::btree_map<ReplicaId, uint64_t>& entries() const {
    return entries_;
  }
  bool empty() const { return entries_.empty(); }

  friend bool operator==(const VersionVector& a, const VersionVector& b) {
    return a.entries_ == b.entries_;
  }

  // Canonical encoding: entries in replica order, zero counts omitted.
  std::string Encode() const;
  void EncodeTo(internal::Writer& w) const;
  // Errors: InvalidArgument for malformed or truncated input, duplicate or
  // unordered replicas, or more than kMaxReplicas entries.
  static absl::StatusOr<VersionVector> Decode(absl::string_view bytes);
  static absl::StatusOr<VersionVector> DecodeFrom(internal::Reader& r);

  // "{1:5, 7:2}", for logs and test failures.
  std::string DebugString() const;

 private:
  // Points extended_ at `replica`'s count (inserting it) and returns it.
  uint64_t* CacheCountOf(ReplicaId replica);

  absl::btree_map<ReplicaId, uint64_t> entries_;  // no zero counts
  // The count Extend last raised, and its replica: a replica numbering its
  // ops looks its count up once, not per op. Null after any insertion of a
  // key, which may move the tree's values.
  uint64_t* extended_ = nullptr;
  ReplicaId extended_replica_ = 0;
};

}  // namespace lattice::crdt

#endif  // LATTICE_CRDT_VERSION_VECTOR_H_
