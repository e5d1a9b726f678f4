#include "crdt/internal/snapshot_runs.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <utility>

#include "base/status_macros.h"
#include "base/utf8.h"
#include "crdt/internal/huffman.h"
#include "crdt/internal/update_codec.h"
#include "crdt/text_units.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt::internal {

namespace {

// A run header is a flags byte and only what its neighbours do not imply:
//   1 deleted    2 deleted run keeps values (created containers)
//   4 id continues the previous run's ids (else the id follows in the ids
//     column, near the previous run's end)
//   8 len is 1 (else len - 2 follows in the lengths column)
//  16..48 left origin: 0 none, 16 the previous run's last element, 32 the
//     element before the run's own id (typed just before it), 48 follows
//  64..192 right origin: 0 none, 64 the next run's first element, 128 the
//     previous run's right origin, 192 follows
// Origins that follow are near the run's own id.
enum RunFlags : uint8_t {
  kRunDeleted = 1,
  kRunValues = 2,
  kRunIdContinues = 4,
  kRunLenOne = 8,
  kRunLeftMask = 48,
  kRunLeftIsPrev = 16,
  kRunLeftIsOwnPred = 32,
  kRunLeftFollows = 48,
  kRunRightMask = 192,
  kRunRightIsNext = 64,
  kRunRightIsPrevRight = 128,
  kRunRightFollows = 192,
};

// How far back a run's id may point to an earlier run's end (see
// EncodeRunId): an insert into the middle of a run splits it, and the rest
// of the split run follows the insert, whose own runs are few.
constexpr size_t kMaxRunBack = 16;

uint64_t ZigZag(int64_t v) {
  return (static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63);
}

// Reads `count` code points of UTF-8 from `text` (strict: base/utf8.h).
absl::StatusOr<std::u32string> ReadCodePoints(Reader& text, uint64_t count) {
  const absl::string_view rest = text.rest();
  // Each code point takes at least a byte: bounds the allocation.
  if (count > rest.size())
    return text.Error("text content shorter than its runs");
  std::u32string out(count, U'\0');
  char32_t* const o = out.data();
  const auto* in = reinterpret_cast<const uint8_t*>(rest.data());
  const size_t m = rest.size();
  size_t at = 0;
  uint64_t k = 0;
  while (k < count) {
    // Eight ASCII bytes at a time: the bulk of most texts.
    if (count - k >= 8 && m - at >= 8) {
      uint64_t word;
      std::memcpy(&word, in + at, sizeof word);
      if ((word & 0x8080808080808080) == 0) {
        for (size_t j = 0; j < 8; ++j) o[k + j] = in[at + j];
        k += 8;
        at += 8;
        continue;
      }
    }
    if (at >= m) return text.Error("text content shorter than its runs");
    if (in[at] < 0x80) {
      o[k++] = in[at++];
      continue;
    }
    const Utf8Step step = DecodeUtf8At(rest, at);
    if (step.error != nullptr)
      return text.Error(absl::StrCat("text content is not valid utf-8 (",
                                     step.error, ") ", at, " bytes on"));
    o[k++] = step.code_point;
    at += step.length;
  }
  LATTICE_RETURN_IF_ERROR(text.Raw(at).status());
  return out;
}

}  // namespace

void SnapshotColumnWriters::PackInto(Writer& out) {
  for (Writer* w :
       {&main, &run_flags, &ids, &delete_ids, &lens, &text, &delete_flags})
    EncodePacked(w->buffer(), out);
}

absl::Status SnapshotColumnReaders::Unpack(Reader& in) {
  Reader* readers[] = {&main, &run_flags, &ids,         &delete_ids,
                       &lens, &text,      &delete_flags};
  for (size_t i = 0; i < std::size(readers); ++i) {
    LATTICE_ASSIGN_OR_RETURN(bytes_[i], DecodePacked(in));
    const absl::string_view what = readers[i]->what();
    *readers[i] = Reader(bytes_[i], what);
  }
  if (!in.done()) return in.Error("trailing bytes");
  return absl::OkStatus();
}

absl::Status SnapshotColumnReaders::CheckDone() const {
  for (const Reader* r :
       {&main, &run_flags, &ids, &delete_ids, &lens, &text, &delete_flags})
    if (!r->done()) return r->Error("trailing bytes");
  return absl::OkStatus();
}

void EncodeNear(const ReplicaTable& table, const OpId& id, const OpId& base,
                Writer& w) {
  if (base.replica != 0 && id.replica == base.replica) {
    const uint64_t zigzag =
        ZigZag(static_cast<int64_t>(id.counter - base.counter));
    if ((zigzag >> 63) == 0) {
      w.Varint(zigzag << 1);
      return;
    }
  }
  w.Varint(table.Index(id.replica) << 1 | 1);
  w.Varint(id.counter);
}

absl::StatusOr<OpId> DecodeNear(Reader& r, const std::vector<ReplicaId>& table,
                                const OpId& base) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t v, r.Varint());
  if ((v & 1) == 0) {
    if (base.replica == 0) return r.Error("relative id without a base");
    const uint64_t zigzag = v >> 1;
    const uint64_t diff = (zigzag >> 1) ^ (~(zigzag & 1) + 1);
    return OpId{base.replica, base.counter + diff};
  }
  if ((v >> 1) >= table.size()) return r.Error("replica index out of range");
  LATTICE_ASSIGN_OR_RETURN(uint64_t counter, r.Varint());
  return OpId{table[v >> 1], counter};
}

size_t NearSize(const OpId& id, const OpId& base) {
  if (base.replica == 0 || id.replica != base.replica) return 16;
  uint64_t zigzag = ZigZag(static_cast<int64_t>(id.counter - base.counter));
  size_t n = 1;
  while (zigzag >= 0x40) {
    zigzag >>= 7;
    ++n;
  }
  return n;
}

absl::Status VersionBound::CheckOtherReplica(const Reader& r, const OpId& id,
                                             uint64_t len,
                                             absl::string_view what) {
  if (id.replica != replica_) {
    replica_ = id.replica;
    count_ = version_.Get(id.replica);
  }
  if (id.replica == 0 || len == 0 || id.counter + len < id.counter ||
      id.counter + len > count_) {
    return r.Error(absl::StrCat(what, " id ", id.replica, ":", id.counter,
                                " outside the snapshot's version"));
  }
  return absl::OkStatus();
}

namespace {

// A run's own id, when it does not continue the previous run's: a varint
// whose two low bits say what follows:
//   0  zigzag(id - previous run's end) << 2 (same replica)
//   1  replica index << 2 | 1, then varint counter
//   2  (j - 2) << 2 | 2: the id is the end of the run j back (2 <= j)
void EncodeRunId(const ReplicaTable& table, const std::vector<EncodedRun>& runs,
                 size_t k, const OpId& prev_end, Writer& w) {
  const OpId& id = runs[k].run.id;
  for (size_t j = 2; j <= std::min(k, kMaxRunBack); ++j) {
    const Run& back = runs[k - j].run;
    if (id.replica == back.id.replica &&
        id.counter == back.id.counter + back.len) {
      w.Varint((j - 2) << 2 | 2);
      return;
    }
  }
  if (prev_end.replica != 0 && id.replica == prev_end.replica) {
    const uint64_t zigzag =
        ZigZag(static_cast<int64_t>(id.counter - prev_end.counter));
    if ((zigzag >> 62) == 0) {
      w.Varint(zigzag << 2);
      return;
    }
  }
  w.Varint(table.Index(id.replica) << 2 | 1);
  w.Varint(id.counter);
}

absl::StatusOr<OpId> DecodeRunId(Reader& r, const std::vector<ReplicaId>& table,
                                 const std::vector<Run>& runs,
                                 const OpId& prev_end) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t v, r.Varint());
  switch (v & 3) {
    case 0: {
      if (prev_end.replica == 0) return r.Error("relative id without a base");
      const uint64_t zigzag = v >> 2;
      const uint64_t diff = (zigzag >> 1) ^ (~(zigzag & 1) + 1);
      return OpId{prev_end.replica, prev_end.counter + diff};
    }
    case 1: {
      if ((v >> 2) >= table.size())
        return r.Error("replica index out of range");
      LATTICE_ASSIGN_OR_RETURN(uint64_t counter, r.Varint());
      return OpId{table[v >> 2], counter};
    }
    case 2: {
      const uint64_t j = (v >> 2) + 2;
      if (j > runs.size()) return r.Error("run id refers before the first run");
      const Run& back = runs[runs.size() - j];
      return OpId{back.id.replica, back.id.counter + back.len};
    }
  }
  return r.Error("bad run id form");
}

// A right origin that follows: a varint whose two low bits say what it is:
//   0  zigzag(origin - run's id) << 2 (same replica)
//   1  replica index << 2 | 1, then varint counter
//   2  (j - 2) << 2 | 2: the right origin of the run j back (2 <= j)
//   3  (j - 2) << 2 | 3: the first id of the run j ahead (2 <= j)
// (j = 1 either way has a flag of its own.) A run typed before older text
// was split keeps that text's later pieces as neighbours of its right origin.
void EncodeRightOrigin(const ReplicaTable& table,
                       const std::vector<EncodedRun>& runs, size_t k,
                       Writer& w) {
  const Run& r = runs[k].run;
  const OpId& right = r.origin_right;
  for (size_t j = 2; j <= std::min(k, kMaxRunBack); ++j) {
    if (runs[k - j].run.origin_right == right) {
      w.Varint((j - 2) << 2 | 2);
      return;
    }
  }
  for (size_t j = 2; j <= kMaxRunBack && k + j < runs.size(); ++j) {
    if (runs[k + j].run.id == right) {
      w.Varint((j - 2) << 2 | 3);
      return;
    }
  }
  if (right.replica == r.id.replica) {
    const uint64_t zigzag =
        ZigZag(static_cast<int64_t>(right.counter - r.id.counter));
    if ((zigzag >> 62) == 0) {
      w.Varint(zigzag << 2);
      return;
    }
  }
  w.Varint(table.Index(right.replica) << 2 | 1);
  w.Varint(right.counter);
}

// A right origin as read by DecodeRightOrigin: an id, or the index of a
// later run whose first id it is (known once that run is read).
struct RightRef {
  OpId id = kNoId;
  size_t ahead = SIZE_MAX;
};

// Reads a right origin written by EncodeRightOrigin for run `k` (`run`,
// whose id is read), given the references read for the runs before it.
absl::StatusOr<RightRef> DecodeRightOrigin(Reader& r,
                                           const std::vector<ReplicaId>& table,
                                           const std::vector<Run>& runs,
                                           const std::vector<size_t>& aheads,
                                           const Run& run, uint64_t n) {
  const size_t k = runs.size();
  LATTICE_ASSIGN_OR_RETURN(uint64_t v, r.Varint());
  RightRef ref;
  switch (v & 3) {
    case 0: {
      const uint64_t zigzag = v >> 2;
      const uint64_t diff = (zigzag >> 1) ^ (~(zigzag & 1) + 1);
      ref.id = {run.id.replica, run.id.counter + diff};
      return ref;
    }
    case 1: {
      if ((v >> 2) >= table.size())
        return r.Error("replica index out of range");
      LATTICE_ASSIGN_OR_RETURN(uint64_t counter, r.Varint());
      ref.id = {table[v >> 2], counter};
      return ref;
    }
    case 2: {
      if ((v >> 2) + 2 > k)
        return r.Error("right origin refers before the first run");
      const size_t back = k - static_cast<size_t>((v >> 2) + 2);
      ref.id = runs[back].origin_right;
      ref.ahead = aheads[back];
      if (ref.id.replica == 0 && ref.ahead == SIZE_MAX)
        return r.Error("right origin refers to none");
      return ref;
    }
    default:
      if ((v >> 2) + 2 > n - 1 - k)
        return r.Error("right origin refers past the last run");
      ref.ahead = k + static_cast<size_t>((v >> 2) + 2);
      return ref;
  }
}

}  // namespace

void EncodeRuns(const std::vector<EncodedRun>& runs, bool is_text,
                const ReplicaTable& table, SnapshotColumnWriters& out) {
  out.main.Varint(runs.size());
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
    if (r.len == 1) flags |= kRunLenOne;
    if (r.origin_left.replica != 0) {
      if (k > 0 && r.origin_left == prev_last) {
        flags |= kRunLeftIsPrev;
      } else if (r.id.counter > 0 &&
                 r.origin_left == OpId{r.id.replica, r.id.counter - 1}) {
        flags |= kRunLeftIsOwnPred;
      } else {
        flags |= kRunLeftFollows;
      }
    }
    if (r.origin_right.replica != 0) {
      if (r.origin_right == next_first) {
        flags |= kRunRightIsNext;
      } else if (k > 0 && r.origin_right == prev_right) {
        flags |= kRunRightIsPrevRight;
      } else {
        flags |= kRunRightFollows;
      }
    }
    out.run_flags.Byte(flags);
    if (!(flags & kRunIdContinues))
      EncodeRunId(table, runs, k, prev_end, out.ids);
    if (!(flags & kRunLenOne)) out.lens.Varint(r.len - 2);
    if ((flags & kRunLeftMask) == kRunLeftFollows)
      EncodeNear(table, r.origin_left, r.id, out.ids);
    if ((flags & kRunRightMask) == kRunRightFollows)
      EncodeRightOrigin(table, runs, k, out.ids);
    prev_end = {r.id.replica, r.id.counter + r.len};
    prev_right = r.origin_right;
  }
  if (is_text) {
    for (const EncodedRun& e : runs) AppendUtf8(e.text, &out.text.buffer());
  } else {
    for (const EncodedRun& e : runs) {
      for (const Value& v : e.values) EncodeValue(v, out.main);
    }
  }
}

absl::Status DecodeRuns(SnapshotColumnReaders& in,
                        const std::vector<ReplicaId>& table,
                        VersionBound& version, ContainerId self,
                        std::vector<ContainerRef>& refs, Sequence& seq) {
  const bool is_text = seq.is_text();
  Reader& flags_in = in.run_flags;
  Reader& ids = in.ids;
  // Each run takes a flags byte: bounds the reservation.
  LATTICE_ASSIGN_OR_RETURN(uint64_t n,
                           in.main.Bounded(flags_in.remaining(), "run count"));
  std::vector<Run> runs;
  std::vector<uint8_t> flags_of;
  runs.reserve(n);
  flags_of.reserve(n);
  OpId prev_end = kNoId;
  OpId prev_right = kNoId;
  // Per run, the later run whose first id is its right origin (SIZE_MAX:
  // none, or known); resolved once every id is read.
  std::vector<size_t> aheads;
  aheads.reserve(n);
  size_t prev_ahead = SIZE_MAX;
  for (uint64_t k = 0; k < n; ++k) {
    Run run;
    LATTICE_ASSIGN_OR_RETURN(uint8_t flags, flags_in.Byte());
    if ((k == 0 && ((flags & kRunIdContinues) ||
                    (flags & kRunLeftMask) == kRunLeftIsPrev ||
                    (flags & kRunRightMask) == kRunRightIsPrevRight)) ||
        ((flags & kRunValues) && (is_text || !(flags & kRunDeleted)))) {
      return flags_in.Error("bad run flags");
    }
    run.deleted = flags & kRunDeleted;
    if (flags & kRunIdContinues) {
      run.id = prev_end;
    } else {
      LATTICE_ASSIGN_OR_RETURN(run.id, DecodeRunId(ids, table, runs, prev_end));
    }
    if (k > 0 && (flags_of.back() & kRunRightMask) == kRunRightIsNext) {
      runs.back().origin_right = run.id;
      prev_right = run.id;
    }
    uint64_t len = 1;
    if (!(flags & kRunLenOne)) {
      LATTICE_ASSIGN_OR_RETURN(
          len, in.lens.Bounded(Sequence::kMaxRunLength - 2, "run length"));
      len += 2;
    }
    run.len = static_cast<uint32_t>(len);
    LATTICE_RETURN_IF_ERROR(version.Check(ids, run.id, len, "run"));
    switch (flags & kRunLeftMask) {
      case kRunLeftIsPrev:
        run.origin_left = {prev_end.replica, prev_end.counter - 1};
        break;
      case kRunLeftIsOwnPred:
        if (run.id.counter == 0)
          return flags_in.Error("run has no own predecessor");
        run.origin_left = {run.id.replica, run.id.counter - 1};
        break;
      case kRunLeftFollows:
        LATTICE_ASSIGN_OR_RETURN(run.origin_left,
                                 DecodeNear(ids, table, run.id));
        break;
    }
    size_t ahead = SIZE_MAX;
    switch (flags & kRunRightMask) {
      case kRunRightIsPrevRight:
        run.origin_right = prev_right;
        ahead = prev_ahead;
        break;
      case kRunRightFollows: {
        LATTICE_ASSIGN_OR_RETURN(
            RightRef ref, DecodeRightOrigin(ids, table, runs, aheads, run, n));
        run.origin_right = ref.id;
        ahead = ref.ahead;
        break;
      }
    }
    prev_end = {run.id.replica, run.id.counter + run.len};
    prev_right = run.origin_right;
    prev_ahead = ahead;
    runs.push_back(run);
    aheads.push_back(ahead);
    flags_of.push_back(flags);
  }
  if (n > 0 && (flags_of.back() & kRunRightMask) == kRunRightIsNext)
    return flags_in.Error("last run's right origin is next");
  for (size_t k = 0; k < runs.size(); ++k) {
    if (aheads[k] != SIZE_MAX) runs[k].origin_right = runs[aheads[k]].id;
  }
  if (is_text) {
    // Chunk by chunk, each decoding its text straight into its own string.
    const auto all = absl::MakeConstSpan(runs);
    for (size_t k = 0; k < runs.size(); k += Sequence::kMaxChunkRuns) {
      const auto chunk = all.subspan(k, Sequence::kMaxChunkRuns);
      uint64_t live = 0;
      for (const Run& run : chunk) live += run.visible();
      LATTICE_ASSIGN_OR_RETURN(std::u32string cps,
                               ReadCodePoints(in.text, live));
      seq.AppendTextChunk(chunk, std::move(cps));
    }
    return absl::OkStatus();
  }
  Reader& r = in.main;
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
        LATTICE_ASSIGN_OR_RETURN(Value v, DecodeValue(r));
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

}  // namespace lattice::crdt::internal
