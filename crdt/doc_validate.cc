// The semantic checks of LoadSnapshot. The decoder has checked the syntax
// and that every id lies inside the snapshot's version; these check how the
// records relate, so that what LoadSnapshot accepts is a state ChangesSince
// can hand to any peer, which then holds the same document: every op id is
// used once, every origin and delete target lies in its own container on the
// right side, losing map writes lose, and every container hangs off the root.
// Cost: linear in the records when the version is dense (SpanIndex), else a
// radix sort of the op spans and a binary search per reference.
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "crdt/doc.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::Container;
using internal::ContainerRef;
using internal::Run;

namespace {

// A range of op ids and the record that uses it.
struct Span {
  enum class Owner : uint8_t { kMapEntry, kCounterAdd, kRun, kDelete };
  ReplicaId replica = 0;
  uint64_t start = 0;
  uint64_t len = 0;
  Owner owner = Owner::kMapEntry;
  bool deleted = false;   // kRun: a tombstone run
  ContainerId container;  // the container the record lives in
  uint64_t position = 0;  // kRun: index of the run in document order

  uint64_t end() const { return start + len; }
};

bool SpanBefore(const Span& a, const Span& b) {
  return a.replica != b.replica ? a.replica < b.replica : a.start < b.start;
}

// The span holding `id`, or null. REQUIRES: `spans` sorted, disjoint.
const Span* FindSpan(const std::vector<Span>& spans, const OpId& id) {
  Span key;
  key.replica = id.replica;
  key.start = id.counter;
  auto it = std::upper_bound(spans.begin(), spans.end(), key, SpanBefore);
  if (it == spans.begin()) return nullptr;
  --it;
  if (it->replica != id.replica || id.counter >= it->end()) return nullptr;
  return &*it;
}

// Sorts `spans` by (replica, start) like std::sort with SpanBefore, in
// linear passes: an LSD radix sort of (start, index) pairs by the bytes of
// start that differ, then a stable pass by replica rank (few replicas), then
// one permutation. Comparison sorting was most of the checks' cost.
void SortSpans(std::vector<Span>& spans) {
  const size_t n = spans.size();
  if (n < 2) return;
  std::vector<ReplicaId> replicas;
  for (const Span& s : spans) {
    if (replicas.empty() || replicas.back() != s.replica) {
      replicas.push_back(s.replica);
    }
  }
  std::sort(replicas.begin(), replicas.end());
  replicas.erase(std::unique(replicas.begin(), replicas.end()), replicas.end());
  if (replicas.size() > 256) {  // many writers: comparisons are fine
    std::sort(spans.begin(), spans.end(), SpanBefore);
    return;
  }
  struct Key {
    uint64_t start;
    uint32_t index;
    uint8_t rank;
  };
  std::vector<Key> keys(n);
  uint64_t varying = 0;
  for (size_t i = 0; i < n; ++i) {
    const auto rank = static_cast<uint8_t>(
        std::lower_bound(replicas.begin(), replicas.end(), spans[i].replica) -
        replicas.begin());
    keys[i] = {spans[i].start, static_cast<uint32_t>(i), rank};
    varying |= spans[i].start ^ spans[0].start;
  }
  std::vector<Key> tmp(n);
  auto pass = [&](auto digit) {
    size_t count[257] = {};
    for (const Key& k : keys) ++count[digit(k) + 1];
    for (size_t d = 1; d < 257; ++d) count[d] += count[d - 1];
    for (const Key& k : keys) tmp[count[digit(k)]++] = k;
    keys.swap(tmp);
  };
  for (int shift = 0; shift < 64; shift += 8) {
    if (((varying >> shift) & 0xff) == 0) continue;
    pass([shift](const Key& k) { return (k.start >> shift) & 0xff; });
  }
  if (replicas.size() > 1) pass([](const Key& k) { return size_t{k.rank}; });
  std::vector<Span> sorted;
  sorted.reserve(n);
  for (const Key& k : keys) sorted.push_back(spans[k.index]);
  spans.swap(sorted);
}

// The op spans sorted by (replica, start), and the span holding an id. When
// the version's ops are few next to the spans (every real document: ids are
// dense), a bitmap of span starts over all op ids with a rank directory
// sorts in one pass and finds in O(1); otherwise SortSpans and a binary
// search, so a hostile version naming 2^60 ops costs no memory.
// Set bits of `x` (std::popcount is a libgcc call without -mpopcnt, which
// a portable build cannot assume).
uint64_t PopCount(uint64_t x) {
  x -= (x >> 1) & 0x5555555555555555;
  x = (x & 0x3333333333333333) + ((x >> 2) & 0x3333333333333333);
  x = (x + (x >> 4)) & 0x0f0f0f0f0f0f0f0f;
  return (x * 0x0101010101010101) >> 56;
}

class SpanIndex {
 public:
  // Indexes `spans`. Returns the id of a span starting where another does
  // (an id used twice), if any; the index is then unusable.
  std::optional<OpId> Build(std::vector<Span> spans,
                            const VersionVector& version) {
    spans_ = std::move(spans);
    const size_t n = spans_.size();
    uint64_t total = 0;
    bool overflow = false;
    for (const auto& [replica, count] : version.entries()) {
      bases_.push_back({replica, total, count});
      total += count;
      if (total < count) overflow = true;
    }
    dense_ = !overflow && n < UINT32_MAX && total / 64 <= 4 * n + 1024;
    if (!dense_) {
      SortSpans(spans_);
      for (size_t i = 1; i < n; ++i) {
        if (spans_[i].replica == spans_[i - 1].replica &&
            spans_[i].start == spans_[i - 1].start) {
          return OpId{spans_[i].replica, spans_[i].start};
        }
      }
      return std::nullopt;
    }
    bits_.assign(total / 64 + 1, 0);
    for (const Span& s : spans_) {
      const uint64_t pos = Position({s.replica, s.start});
      uint64_t& word = bits_[pos / 64];
      const uint64_t bit = uint64_t{1} << (pos % 64);
      if (word & bit) return OpId{s.replica, s.start};
      word |= bit;
    }
    rank_.resize(bits_.size());
    uint32_t before = 0;
    for (size_t w = 0; w < bits_.size(); ++w) {
      rank_[w] = before;
      before += static_cast<uint32_t>(PopCount(bits_[w]));
    }
    order_.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const Span& s = spans_[i];
      order_[Rank(Position({s.replica, s.start})) - 1] =
          static_cast<uint32_t>(i);
    }
    return std::nullopt;
  }

  size_t size() const { return spans_.size(); }
  // The i-th span in (replica, start) order.
  const Span& sorted(size_t i) const {
    return dense_ ? spans_[order_[i]] : spans_[i];
  }

  // The span holding `id`, or null.
  const Span* Find(const OpId& id) const {
    if (!dense_) return FindSpan(spans_, id);
    const Base* b = BaseOf(id.replica);
    if (b == nullptr || id.counter >= b->count) return nullptr;
    const uint64_t rank = Rank(b->offset + id.counter);
    if (rank == 0) return nullptr;
    const Span& s = spans_[order_[rank - 1]];
    if (s.replica != id.replica || id.counter >= s.end()) return nullptr;
    return &s;
  }

 private:
  struct Base {
    ReplicaId replica;
    uint64_t offset;  // position of the replica's counter 0
    uint64_t count;   // its ops in the version
  };
  // Consecutive lookups mostly share a replica: the last base found is
  // tried before the binary search.
  const Base* BaseOf(ReplicaId replica) const {
    if (last_base_ != nullptr && last_base_->replica == replica)
      return last_base_;
    auto it = std::lower_bound(
        bases_.begin(), bases_.end(), replica,
        [](const Base& b, ReplicaId r) { return b.replica < r; });
    if (it == bases_.end() || it->replica != replica) return nullptr;
    last_base_ = &*it;
    return last_base_;
  }
  // REQUIRES: dense_ and `id` inside the version.
  uint64_t Position(const OpId& id) const {
    return BaseOf(id.replica)->offset + id.counter;
  }
  // Number of span starts at positions <= pos.
  uint64_t Rank(uint64_t pos) const {
    const uint64_t word = bits_[pos / 64];
    const unsigned shift = 63 - static_cast<unsigned>(pos % 64);
    return rank_[pos / 64] + PopCount(word << shift);
  }

  std::vector<Span> spans_;
  std::vector<Base> bases_;  // not changed once Build returns
  mutable const Base* last_base_ = nullptr;
  bool dense_ = false;
  std::vector<uint64_t> bits_;   // dense_: bit p set = a span starts at p
  std::vector<uint32_t> rank_;   // dense_: set bits in the words before
  std::vector<uint32_t> order_;  // dense_: spans_ indices in sorted order
};

std::string Str(const OpId& id) {
  return absl::StrCat(id.replica, ":", id.counter);
}

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("decode snapshot: ", what));
}

// Ids covered by delete records, merged into disjoint sorted ranges.
class Covered {
 public:
  void Add(const OpId& target, uint64_t len) {
    Span s;
    s.replica = target.replica;
    s.start = target.counter;
    s.len = len;
    ranges_.push_back(s);
  }
  // Sorts on the first call only: most documents hold no deleted list
  // element that created a container, and never ask.
  bool Contains(const OpId& id) {
    if (!finished_) Finish();
    return FindSpan(ranges_, id) != nullptr;
  }

 private:
  void Finish() {
    finished_ = true;
    SortSpans(ranges_);
    std::vector<Span> merged;
    for (const Span& s : ranges_) {
      if (!merged.empty() && merged.back().replica == s.replica &&
          s.start <= merged.back().end()) {
        merged.back().len =
            std::max(merged.back().end(), s.end()) - merged.back().start;
      } else {
        merged.push_back(s);
      }
    }
    ranges_ = std::move(merged);
  }

  std::vector<Span> ranges_;
  bool finished_ = false;
};

}  // namespace

absl::Status Doc::ValidateLoaded(const std::vector<ContainerRef>& refs) const {
  // 1. Every op id is used by one record at most.
  std::vector<Span> spans;
  size_t n_spans = deletes_.size();
  for (const auto& [cid, c] : containers_) {
    n_spans += c->map.entries.size() + c->map.shadows.size() +
               c->counter.adds.size() + (c->seq ? c->seq->run_count() : 0);
  }
  spans.reserve(n_spans);
  for (const auto& [cid, c] : containers_) {
    for (const auto& [key, e] : c->map.entries) {
      if (e.lamport > max_lamport_) {
        return Invalid(absl::StrCat("map entry ", Str(e.id), " has lamport ",
                                    e.lamport, " above the snapshot's ",
                                    max_lamport_));
      }
      spans.push_back({e.id.replica, e.id.counter, 1, Span::Owner::kMapEntry,
                       false, cid, 0});
    }
    for (const auto& [key, e] : c->map.shadows) {
      // 2. A shadow lost to the winner of its key; otherwise a peer fed
      // ChangesSince would show the shadow.
      auto winner = c->map.entries.find(key);
      if (winner == c->map.entries.end() || !winner->second.Beats(e)) {
        return Invalid(absl::StrCat("map shadow ", Str(e.id),
                                    " does not lose to its key's entry"));
      }
      if (e.lamport > max_lamport_) {
        return Invalid(absl::StrCat("map shadow ", Str(e.id), " has lamport ",
                                    e.lamport, " above the snapshot's ",
                                    max_lamport_));
      }
      spans.push_back({e.id.replica, e.id.counter, 1, Span::Owner::kMapEntry,
                       false, cid, 0});
    }
    for (const auto& [id, delta] : c->counter.adds) {
      spans.push_back(
          {id.replica, id.counter, 1, Span::Owner::kCounterAdd, false, cid, 0});
    }
    if (c->seq) {
      uint64_t position = 0;
      // clang before 16 cannot capture a structured binding implicitly.
      c->seq->ForEachRun([&, &cid = cid](const Run& r, internal::RunContent) {
        spans.push_back({r.id.replica, r.id.counter, r.len, Span::Owner::kRun,
                         r.deleted, cid, position++});
      });
    }
  }
  for (const auto& [id, d] : deletes_) {
    spans.push_back({id.replica, id.counter, d.len, Span::Owner::kDelete, false,
                     d.container, 0});
  }
  SpanIndex index;
  if (std::optional<OpId> twice = index.Build(std::move(spans), version_)) {
    return Invalid(absl::StrCat("op id ", Str(*twice), " is used twice"));
  }
  for (size_t i = 1; i < index.size(); ++i) {
    const Span& a = index.sorted(i - 1);
    const Span& b = index.sorted(i);
    if (b.replica == a.replica && b.start < a.end()) {
      return Invalid(
          absl::StrCat("op id ", Str({b.replica, b.start}), " is used twice"));
    }
  }

  // 3. Origins are elements of their own sequence, the left one before the
  // run and the right one after it in document order. Most origins are
  // settled by the neighbours (the previous run's last element, the next
  // run's first, the right origin the previous run shares); the rest are
  // looked up.
  for (const auto& [cid, c] : containers_) {
    if (!c->seq) continue;
    uint64_t position = 0;
    absl::Status status;
    Run prev;
    bool prev_right_pending = false;  // prev's right origin is unchecked
    bool prev_right_ok = false;       // prev's right origin is checked
    auto check = [&, cid = cid](const Run& r, uint64_t here, const OpId& origin,
                                bool left) {
      const Span* s = index.Find(origin);
      if (s == nullptr || s->owner != Span::Owner::kRun ||
          s->container != cid ||
          (left ? s->position >= here : s->position <= here)) {
        status = Invalid(absl::StrCat(
            "run ", Str(r.id), ": ", left ? "left" : "right", " origin ",
            Str(origin), " is not an element on that side in its container"));
      }
    };
    c->seq->ForEachRun([&](const Run& r, internal::RunContent) {
      const uint64_t here = position++;
      if (!status.ok()) return;
      if (prev_right_pending) {
        if (prev.origin_right != r.id)
          check(prev, here - 1, prev.origin_right, false);
        prev_right_ok = status.ok();
        if (!status.ok()) return;
      }
      if (r.origin_left.replica != 0 &&
          !(here > 0 && r.origin_left == prev.last())) {
        check(r, here, r.origin_left, true);
      }
      // A right origin the previous run shares lies after that run and is
      // not in this one, so it lies after this one too.
      const OpId& right = r.origin_right;
      const bool inside = right.replica == r.id.replica &&
                          right.counter >= r.id.counter &&
                          right.counter - r.id.counter < r.len;
      const bool shared =
          here > 0 && prev_right_ok && right == prev.origin_right && !inside;
      prev_right_ok = right.replica != 0 && shared;
      prev_right_pending = right.replica != 0 && !shared;
      prev = r;
    });
    if (status.ok() && prev_right_pending)
      check(prev, position - 1, prev.origin_right, false);
    if (!status.ok()) return status;
  }

  // 4. Delete targets are tombstones of the delete's container.
  Covered covered;
  ContainerId checked = kRootId;  // a sequence, once a delete passed
  for (const auto& [id, d] : deletes_) {
    if (d.container != checked || checked == kRootId) {
      auto it = containers_.find(d.container);
      if (it == containers_.end() || !it->second->seq) {
        return Invalid(absl::StrCat("delete ", Str(id), ": container ",
                                    Str(d.container), " is not a sequence"));
      }
      checked = d.container;
    }
    for (uint64_t at = d.target.counter; at < d.target.counter + d.len;) {
      const Span* s = index.Find({d.target.replica, at});
      if (s == nullptr || s->owner != Span::Owner::kRun ||
          s->container != d.container || !s->deleted) {
        return Invalid(absl::StrCat(
            "delete ", Str(id), ": target ", Str({d.target.replica, at}),
            " is not a deleted element of its container"));
      }
      at = s->end();
    }
    covered.Add(d.target, d.len);
  }

  // 5. Every container but the root is created by exactly one value of its
  // type, and hangs off the root (no cycles, no orphans). A deleted list
  // element that created a container travels as a live insert followed by
  // its delete (CollectOps), so the delete must be there.
  if (refs.size() + 1 != containers_.size()) {
    return Invalid(absl::StrCat(containers_.size() - 1,
                                " nested containers but ", refs.size(),
                                " values create containers"));
  }
  absl::flat_hash_map<ContainerId, std::vector<ContainerId>> children;
  for (const ContainerRef& ref : refs) {
    auto it = containers_.find(ref.id);
    if (it == containers_.end() || it->second->type != ref.type) {
      return Invalid(absl::StrCat("value names container ", Str(ref.id),
                                  " of type ", ContainerTypeName(ref.type),
                                  " that the snapshot lacks"));
    }
    const Span* s = index.Find(ref.id);
    if (s != nullptr && s->owner == Span::Owner::kRun && s->deleted &&
        !covered.Contains(ref.id)) {
      return Invalid(
          absl::StrCat("deleted list element ", Str(ref.id),
                       " holds a container but no delete removes it"));
    }
    children[ref.parent].push_back(ref.id);
  }
  std::vector<ContainerId> stack = {kRootId};
  size_t reached = 0;
  while (!stack.empty() && reached <= containers_.size()) {
    const ContainerId id = stack.back();
    stack.pop_back();
    ++reached;
    auto it = children.find(id);
    if (it != children.end())
      stack.insert(stack.end(), it->second.begin(), it->second.end());
  }
  if (reached != containers_.size()) {
    return Invalid("a nested container does not hang off the root");
  }
  return absl::OkStatus();
}

}  // namespace lattice::crdt
