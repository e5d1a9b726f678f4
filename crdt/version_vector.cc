#include "crdt/version_vector.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace lattice::crdt {

uint64_t VersionVector::Get(ReplicaId replica) const {
  auto it = entries_.find(replica);
  return it == entries_.end() ? 0 : it->second;
}

void VersionVector::Advance(ReplicaId replica, uint64_t count) {
  if (count == 0) return;
  auto [it, inserted] = entries_.try_emplace(replica, count);
  if (inserted) {
    extended_ = nullptr;
  } else {
    it->second = std::max(it->second, count);
  }
}

uint64_t* VersionVector::CacheCountOf(ReplicaId replica) {
  extended_ = &entries_[replica];
  extended_replica_ = replica;
  return extended_;
}

void VersionVector::Merge(const VersionVector& other) {
  for (const auto& [replica, count] : other.entries_) Advance(replica, count);
}

bool VersionVector::Includes(const VersionVector& other) const {
  for (const auto& [replica, count] : other.entries_) {
    if (Get(replica) < count) return false;
  }
  return true;
}

uint64_t VersionVector::Total() const {
  uint64_t total = 0;
  for (const auto& [replica, count] : entries_) total += count;
  return total;
}

void VersionVector::EncodeTo(internal::Writer& w) const {
  w.Varint(entries_.size());
  for (const auto& [replica, count] : entries_) {
    w.Varint(replica);
    w.Varint(count);
  }
}

std::string VersionVector::Encode() const {
  internal::Writer w;
  EncodeTo(w);
  return std::move(w).Finish();
}

absl::StatusOr<VersionVector> VersionVector::DecodeFrom(internal::Reader& r) {
  // Each entry takes at least two bytes, which bounds the count by the input.
  auto n = r.Bounded(std::min<uint64_t>(kMaxReplicas, r.remaining() / 2),
                     "version vector size");
  if (!n.ok()) return n.status();
  VersionVector vv;
  ReplicaId previous = 0;
  for (uint64_t i = 0; i < *n; ++i) {
    auto replica = r.Varint();
    if (!replica.ok()) return replica.status();
    if (*replica <= previous) {  // replica 0 is reserved
      return r.Error(*replica == 0
                         ? "version vector names replica 0"
                         : "version vector replicas not strictly increasing");
    }
    auto count = r.Varint();
    if (!count.ok()) return count.status();
    if (*count == 0) return r.Error("version vector has a zero count");
    vv.entries_.emplace_hint(vv.entries_.end(), *replica, *count);
    previous = *replica;
  }
  return vv;
}

absl::StatusOr<VersionVector> VersionVector::Decode(absl::string_view bytes) {
  internal::Reader r(bytes, "version vector");
  auto vv = DecodeFrom(r);
  if (vv.ok() && !r.done()) return r.Error("trailing bytes");
  return vv;
}

std::string VersionVector::DebugString() const {
  return absl::StrCat("{",
                      absl::StrJoin(entries_, ", ",
                                    [](std::string* out, const auto& e) {
                                      absl::StrAppend(out, e.first, ":",
                                                      e.second);
                                    }),
                      "}");
}

}  // namespace lattice::crdt
