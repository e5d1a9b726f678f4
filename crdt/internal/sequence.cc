#include "crdt/internal/sequence.h"

#include <algorithm>
#include <utility>

#include "base/logging.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt::internal {
namespace {

std::string IdString(const OpId& id) {
  return absl::StrCat(id.replica, ":", id.counter);
}

}  // namespace

Sequence::Sequence(bool is_text) : is_text_(is_text) { chunks_.emplace_back(); }

size_t Sequence::run_count() const {
  size_t n = 0;
  for (const Chunk& c : chunks_) n += c.runs.size();
  return n;
}

uint64_t Sequence::ChunkStart(size_t c) const {
  while (cache_chunk_ > c) {
    --cache_chunk_;
    cache_start_ -= chunks_[cache_chunk_].visible;
  }
  while (cache_chunk_ < c) {
    cache_start_ += chunks_[cache_chunk_].visible;
    ++cache_chunk_;
  }
  return cache_start_;
}

Sequence::Pos Sequence::FindVisible(uint64_t index, uint64_t* offset) const {
  size_t c = cache_chunk_;
  uint64_t start = ChunkStart(c);
  while (index < start) {
    --c;
    start -= chunks_[c].visible;
  }
  while (index >= start + chunks_[c].visible) {
    start += chunks_[c].visible;
    ++c;
  }
  cache_chunk_ = c;
  cache_start_ = start;
  uint64_t local = index - start;
  const std::vector<Run>& runs = chunks_[c].runs;
  for (size_t i = 0; i < runs.size(); ++i) {
    const uint64_t v = runs[i].visible();
    if (local < v) {
      *offset = local;
      return {c, i};
    }
    local -= v;
  }
  LATTICE_CHECK(false) << "visible index " << index << " not found";
  return {};
}

bool Sequence::FindId(const OpId& id, Pos* pos, uint64_t* offset) const {
  // Search outward from the cached chunk: remote edits cluster near the last.
  const size_t n = chunks_.size();
  const size_t origin = std::min(cache_chunk_, n - 1);
  for (size_t step = 0; step < 2 * n; ++step) {
    const size_t delta = (step + 1) / 2;
    size_t c;
    if (step % 2 == 0) {
      if (origin + delta >= n) continue;
      c = origin + delta;
    } else {
      if (delta > origin) continue;
      c = origin - delta;
    }
    const std::vector<Run>& runs = chunks_[c].runs;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].Contains(id)) {
        *pos = {c, i};
        *offset = id.counter - runs[i].id.counter;
        return true;
      }
    }
  }
  return false;
}

bool Sequence::Next(Pos& p) const {
  ++p.run;
  while (p.run >= chunks_[p.chunk].runs.size()) {
    if (p.chunk + 1 >= chunks_.size()) return false;
    ++p.chunk;
    p.run = 0;
  }
  return true;
}

uint64_t Sequence::VisibleIndexOf(Pos p) const {
  uint64_t index = ChunkStart(p.chunk);
  for (size_t i = 0; i < p.run; ++i)
    index += chunks_[p.chunk].runs[i].visible();
  return index;
}

void Sequence::AddVisible(size_t chunk, int64_t delta) {
  chunks_[chunk].visible = static_cast<uint64_t>(
      static_cast<int64_t>(chunks_[chunk].visible) + delta);
  size_ = static_cast<uint64_t>(static_cast<int64_t>(size_) + delta);
  if (chunk < cache_chunk_) {
    cache_start_ =
        static_cast<uint64_t>(static_cast<int64_t>(cache_start_) + delta);
  }
}

void Sequence::SplitRun(Pos p, uint64_t offset) {
  Run& left = At(p);
  Run right;
  right.id = {left.id.replica, left.id.counter + offset};
  right.len = left.len - offset;
  right.deleted = left.deleted;
  right.origin_left = {left.id.replica, left.id.counter + offset - 1};
  right.origin_right = left.origin_right;
  if (!left.text.empty()) {
    right.text = left.text.substr(offset);
    left.text.resize(offset);
  }
  if (!left.values.empty()) {
    right.values.assign(std::make_move_iterator(left.values.begin() +
                                                static_cast<ptrdiff_t>(offset)),
                        std::make_move_iterator(left.values.end()));
    left.values.resize(offset);
  }
  left.len = offset;
  auto& runs = chunks_[p.chunk].runs;
  runs.insert(runs.begin() + static_cast<ptrdiff_t>(p.run + 1),
              std::move(right));
}

void Sequence::InsertRunAt(Pos p, Run run) {
  const int64_t v = static_cast<int64_t>(run.visible());
  auto& runs = chunks_[p.chunk].runs;
  runs.insert(runs.begin() + static_cast<ptrdiff_t>(p.run), std::move(run));
  AddVisible(p.chunk, v);
}

void Sequence::MarkDeleted(Pos p) {
  Run& r = At(p);
  r.deleted = true;
  r.text.clear();
  r.text.shrink_to_fit();
  // Deleted list elements keep only nested containers (ops inside them may
  // still arrive); other values become null placeholders or go entirely.
  if (std::none_of(r.values.begin(), r.values.end(),
                   [](const Value& v) { return v.is_container(); })) {
    r.values.clear();
    r.values.shrink_to_fit();
  } else {
    for (Value& v : r.values) {
      if (!v.is_container()) v = Value::Null();
    }
  }
  AddVisible(p.chunk, -static_cast<int64_t>(r.len));
}

bool Sequence::CanAppend(const Run& a, const Run& b) const {
  return a.id.replica == b.id.replica && b.id.counter == a.id.counter + a.len &&
         b.origin_left == a.last() && b.origin_right == a.origin_right &&
         a.deleted == b.deleted && a.values.empty() == b.values.empty();
}

void Sequence::Append(Run& a, Run& b) {
  a.len += b.len;
  a.text += b.text;
  for (Value& v : b.values) a.values.push_back(std::move(v));
}

Sequence::Pos Sequence::MergeNeighbors(Pos p) {
  auto& runs = chunks_[p.chunk].runs;
  if (p.run > 0 && CanAppend(runs[p.run - 1], runs[p.run])) {
    Append(runs[p.run - 1], runs[p.run]);
    runs.erase(runs.begin() + static_cast<ptrdiff_t>(p.run));
    --p.run;
  }
  if (p.run + 1 < runs.size() && CanAppend(runs[p.run], runs[p.run + 1])) {
    Append(runs[p.run], runs[p.run + 1]);
    runs.erase(runs.begin() + static_cast<ptrdiff_t>(p.run + 1));
  }
  return p;
}

void Sequence::MaybeSplitChunk(size_t c) {
  if (chunks_[c].runs.size() <= 2 * kMaxChunkRuns) return;
  Chunk right;
  auto& runs = chunks_[c].runs;
  const size_t half = runs.size() / 2;
  right.runs.assign(
      std::make_move_iterator(runs.begin() + static_cast<ptrdiff_t>(half)),
      std::make_move_iterator(runs.end()));
  runs.resize(half);
  for (const Run& r : right.runs) right.visible += r.visible();
  chunks_[c].visible -= right.visible;
  chunks_.insert(chunks_.begin() + static_cast<ptrdiff_t>(c + 1),
                 std::move(right));
  if (cache_chunk_ > c) ++cache_chunk_;
}

void Sequence::LocalInsert(uint64_t index, Run& run) {
  if (index == 0) {
    run.origin_left = kNoId;
    const auto& first = chunks_[0].runs;
    run.origin_right = first.empty() ? kNoId : first[0].id;
    InsertRunAt({0, 0}, std::move(run));
    MaybeSplitChunk(0);
    return;
  }
  uint64_t offset;
  Pos p = FindVisible(index - 1, &offset);
  Run& left = At(p);
  run.origin_left = {left.id.replica, left.id.counter + offset};
  if (offset + 1 < left.len) {
    run.origin_right = {left.id.replica, left.id.counter + offset + 1};
    SplitRun(p, offset + 1);
  } else {
    Pos next = p;
    run.origin_right = Next(next) ? At(next).id : kNoId;
    if (CanAppend(left, run)) {
      const int64_t n = static_cast<int64_t>(run.len);
      Append(left, run);
      AddVisible(p.chunk, n);
      return;
    }
  }
  InsertRunAt({p.chunk, p.run + 1}, std::move(run));
  MaybeSplitChunk(p.chunk);
}

void Sequence::LocalDelete(uint64_t index, uint64_t n,
                           std::vector<std::pair<OpId, uint64_t>>* targets) {
  if (n == 0) return;
  uint64_t offset;
  Pos p = FindVisible(index, &offset);
  if (offset > 0) {
    SplitRun(p, offset);
    ++p.run;
  }
  const size_t first_chunk = p.chunk;
  uint64_t remaining = n;
  while (true) {
    if (!At(p).deleted) {
      if (At(p).len > remaining) SplitRun(p, remaining);
      Run& r = At(p);
      targets->emplace_back(r.id, r.len);
      remaining -= r.len;
      MarkDeleted(p);
      p = MergeNeighbors(p);
      if (remaining == 0) break;
    }
    LATTICE_CHECK(Next(p)) << "delete past the end";
  }
  for (size_t c = p.chunk + 1; c-- > first_chunk;) MaybeSplitChunk(c);
}

absl::Status Sequence::Integrate(Run run, uint64_t* index) {
  const bool has_left = run.origin_left.replica != 0;
  const bool has_right = run.origin_right.replica != 0;
  Pos pos;
  uint64_t offset;
  // Split so that origin_right starts a run and origin_left ends one.
  if (has_right) {
    if (!FindId(run.origin_right, &pos, &offset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("insert ", IdString(run.id), ": right origin ",
                       IdString(run.origin_right), " is not in its container"));
    }
    if (offset > 0) {
      SplitRun(pos, offset);
      MaybeSplitChunk(pos.chunk);
    }
  }
  bool left_is_head = true;
  Pos left{};
  if (has_left) {
    if (!FindId(run.origin_left, &pos, &offset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("insert ", IdString(run.id), ": left origin ",
                       IdString(run.origin_left), " is not in its container"));
    }
    if (offset + 1 < At(pos).len) {
      SplitRun(pos, offset + 1);
      MaybeSplitChunk(pos.chunk);
      FindId(run.origin_left, &pos, &offset);
    }
    left = pos;
    left_is_head = false;
  }

  // YATA (Yjs Item.integrate): scan the runs between the origins and place
  // the new run after every run that must precede it.
  Pos o = left;
  bool valid;
  if (left_is_head) {
    o = {0, 0};
    valid = !chunks_[0].runs.empty();
    if (!valid) valid = Next(o);
  } else {
    valid = Next(o);
  }
  struct Scanned {
    OpId id;
    uint64_t len;
  };
  std::vector<Scanned> scanned;
  size_t conflict_start = 0;
  auto in_scanned = [&](const OpId& id, size_t from) {
    for (size_t i = from; i < scanned.size(); ++i) {
      if (id.replica == scanned[i].id.replica &&
          id.counter >= scanned[i].id.counter &&
          id.counter < scanned[i].id.counter + scanned[i].len) {
        return true;
      }
    }
    return false;
  };
  while (valid) {
    const Run& other = At(o);
    if (has_right && other.id == run.origin_right) break;
    scanned.push_back({other.id, other.len});
    if (other.origin_left == run.origin_left) {
      if (other.id.replica < run.id.replica) {
        left = o;
        left_is_head = false;
        conflict_start = scanned.size();
      } else if (other.origin_right == run.origin_right) {
        break;
      }
    } else if (other.origin_left.replica != 0 &&
               in_scanned(other.origin_left, 0)) {
      if (!in_scanned(other.origin_left, conflict_start)) {
        left = o;
        left_is_head = false;
        conflict_start = scanned.size();
      }
    } else {
      break;
    }
    valid = Next(o);
  }

  if (!left_is_head && CanAppend(At(left), run)) {
    if (index) *index = VisibleIndexOf(left) + At(left).visible();
    const int64_t n = static_cast<int64_t>(run.visible());
    Append(At(left), run);
    AddVisible(left.chunk, n);
    return absl::OkStatus();
  }
  Pos at = left_is_head ? Pos{0, 0} : Pos{left.chunk, left.run + 1};
  if (index) *index = VisibleIndexOf(at);
  InsertRunAt(at, std::move(run));
  MaybeSplitChunk(at.chunk);
  return absl::OkStatus();
}

absl::Status Sequence::DeleteIds(
    OpId target, uint64_t len,
    const std::function<void(uint64_t, uint64_t)>& deleted) {
  uint64_t c = target.counter;
  const uint64_t end = target.counter + len;
  while (c < end) {
    Pos p;
    uint64_t offset;
    if (!FindId({target.replica, c}, &p, &offset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("delete: element ", target.replica, ":", c,
                       " is not in its container"));
    }
    if (offset > 0) {
      SplitRun(p, offset);
      ++p.run;
    }
    const uint64_t n = std::min(At(p).len, end - c);
    if (n < At(p).len) SplitRun(p, n);
    if (!At(p).deleted) {
      if (deleted) deleted(VisibleIndexOf(p), n);
      MarkDeleted(p);
    }
    p = MergeNeighbors(p);
    MaybeSplitChunk(p.chunk);
    c += n;
  }
  return absl::OkStatus();
}

void Sequence::AppendRun(Run run) {
  size_t c = chunks_.size() - 1;
  if (chunks_[c].runs.size() >= kMaxChunkRuns) {
    chunks_.emplace_back();
    ++c;
  }
  auto& runs = chunks_[c].runs;
  if (!runs.empty() && CanAppend(runs.back(), run)) {
    const int64_t n = static_cast<int64_t>(run.visible());
    Append(runs.back(), run);
    AddVisible(c, n);
    return;
  }
  InsertRunAt({c, runs.size()}, std::move(run));
}

std::u32string Sequence::Text() const {
  std::u32string out;
  out.reserve(size_);
  ForEachRun([&](const Run& r) {
    if (!r.deleted) out += r.text;
  });
  return out;
}

const Value& Sequence::ValueAt(uint64_t index) const {
  uint64_t offset;
  Pos p = FindVisible(index, &offset);
  return chunks_[p.chunk].runs[p.run].values[offset];
}

OpId Sequence::IdAt(uint64_t index) const {
  uint64_t offset;
  Pos p = FindVisible(index, &offset);
  const Run& r = chunks_[p.chunk].runs[p.run];
  return {r.id.replica, r.id.counter + offset};
}

void Sequence::CheckInvariants() const {
  uint64_t total = 0;
  uint64_t before_cache = 0;
  LATTICE_CHECK(!chunks_.empty());
  LATTICE_CHECK(cache_chunk_ < chunks_.size());
  for (size_t c = 0; c < chunks_.size(); ++c) {
    if (c == cache_chunk_) before_cache = total;
    LATTICE_CHECK(chunks_.size() == 1 || !chunks_[c].runs.empty())
        << "empty chunk " << c;
    uint64_t visible = 0;
    for (const Run& r : chunks_[c].runs) {
      LATTICE_CHECK(r.len > 0);
      visible += r.visible();
      if (is_text_) {
        LATTICE_CHECK(r.values.empty());
        LATTICE_CHECK(r.deleted ? r.text.empty() : r.text.size() == r.len);
      } else {
        LATTICE_CHECK(r.text.empty());
        LATTICE_CHECK(r.deleted || r.values.size() == r.len);
        LATTICE_CHECK(r.values.empty() || r.values.size() == r.len);
      }
    }
    LATTICE_CHECK(visible == chunks_[c].visible)
        << "chunk " << c << " visible count";
    total += visible;
  }
  LATTICE_CHECK(total == size_);
  LATTICE_CHECK(before_cache == cache_start_) << "cursor cache out of date";
}

}  // namespace lattice::crdt::internal
