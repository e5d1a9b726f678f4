#include "crdt/internal/sequence.h"

#include <algorithm>
#include <cstdint>
#include <tuple>
#include <utility>
#include <vector>

#include "base/logging.h"
#include "crdt/text_units.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt::internal {
namespace {

std::string IdString(const OpId& id) {
  return absl::StrCat(id.replica, ":", id.counter);
}

}  // namespace

Sequence::Sequence(bool is_text) : is_text_(is_text) {
  chunks_.push_back(NewChunk());
}

Sequence::Chunk* Sequence::NewChunk() {
  storage_.push_back(std::make_unique<Chunk>());
  return storage_.back().get();
}

size_t Sequence::run_count() const {
  size_t n = 0;
  for (const auto& c : chunks_) n += c->runs.size();
  return n;
}

uint64_t Sequence::MemoryUsage() const {
  uint64_t bytes = sizeof(Sequence) + chunks_.capacity() * sizeof(chunks_[0]) +
                   storage_.capacity() * sizeof(storage_[0]);
  for (const auto& c : chunks_) {
    bytes += sizeof(Chunk) + c->runs.capacity() * sizeof(Run);
    if (c->text.capacity() > 3)
      bytes += (c->text.capacity() + 1) * sizeof(char32_t);
    bytes += c->values.capacity() * sizeof(Value);
  }
  bytes += id_index_.capacity() * (sizeof(IdBlock) + sizeof(ChunkList) + 1);
  return bytes;
}

uint64_t Sequence::ChunkStart(size_t c) const {
  while (cache_chunk_ > c) {
    --cache_chunk_;
    cache_start_ -= chunks_[cache_chunk_]->visible;
  }
  while (cache_chunk_ < c) {
    cache_start_ += chunks_[cache_chunk_]->visible;
    ++cache_chunk_;
  }
  return cache_start_;
}

Sequence::Pos Sequence::FindVisibleScan(uint64_t index,
                                        uint64_t* offset) const {
  size_t c = cache_chunk_;
  uint64_t start = cache_start_;
  while (index < start) {
    --c;
    start -= chunks_[c]->visible;
  }
  while (index >= start + chunks_[c]->visible) {
    start += chunks_[c]->visible;
    ++c;
  }
  cache_chunk_ = c;
  cache_start_ = start;
  const uint64_t local = index - start;
  const std::vector<Run>& runs = chunks_[c]->runs;
  size_t i = 0;
  uint64_t before = 0;  // visible elements of runs[0 .. i)
  if (cache_run_chunk_ == c && local >= cache_run_start_) {
    i = cache_run_;
    before = cache_run_start_;
  }
  for (; i < runs.size(); ++i) {
    const uint64_t v = runs[i].visible();
    if (local - before < v) {
      cache_run_chunk_ = c;
      cache_run_ = i;
      cache_run_start_ = before;
      *offset = local - before;
      return {c, i};
    }
    before += v;
  }
  LATTICE_CHECK(false) << "visible index " << index << " not found";
  return {};
}

bool Sequence::FindId(const OpId& id, Pos* pos, uint64_t* offset) const {
  if (!id_index_built_) BuildIdIndex();
  if (stale_index_from_ < chunks_.size()) {
    for (size_t c = stale_index_from_; c < chunks_.size(); ++c)
      chunks_[c]->index = c;
  }
  stale_index_from_ = SIZE_MAX;
  for (int level = 0; level < kIdLevels; ++level) {
    if ((id_levels_used_ >> level & 1) == 0) continue;
    auto it = id_index_.find(IdKey(id.replica, id.counter, level));
    if (it != id_index_.end() && FindIdIn(it->second, id, pos, offset))
      return true;
  }
  return false;
}

bool Sequence::FindIdIn(const ChunkList& list, const OpId& id, Pos* pos,
                        uint64_t* offset) const {
  for (const Chunk* chunk : list) {
    const std::vector<Run>& runs = chunk->runs;
    for (size_t i = 0; i < runs.size(); ++i) {
      if (runs[i].Contains(id)) {
        *pos = {chunk->index, i};
        *offset = id.counter - runs[i].id.counter;
        return true;
      }
    }
  }
  return false;
}

void Sequence::BuildIdIndex() const {
  id_index_built_ = true;
  for (const auto& chunk : chunks_)
    for (const Run& r : chunk->runs) IndexIds(r.id, r.len, chunk);
}

int Sequence::IdLevel(uint64_t len) {
  int level = 0;
  while (level + 1 < kIdLevels &&
         (len - 1) >> IdLevelShift(level) >= (uint64_t{1} << kIdLevelBits)) {
    ++level;
  }
  return level;
}

void Sequence::AddToIdIndex(const OpId& first, uint64_t len,
                            Chunk* chunk) const {
  const int level = IdLevel(len);
  id_levels_used_ |= uint32_t{1} << level;
  const IdBlock last = IdKey(first.replica, first.counter + len - 1, level);
  for (IdBlock b = IdKey(first.replica, first.counter, level);
       b.second <= last.second; ++b.second) {
    ChunkList& list = id_index_[b];
    if (std::find(list.begin(), list.end(), chunk) == list.end())
      list.push_back(chunk);
  }
}

bool Sequence::Next(Pos& p) const {
  ++p.run;
  while (p.run >= chunks_[p.chunk]->runs.size()) {
    if (p.chunk + 1 >= chunks_.size()) return false;
    ++p.chunk;
    p.run = 0;
  }
  return true;
}

uint64_t Sequence::ContentOffset(Pos p) const {
  uint64_t at = 0;
  const auto& runs = chunks_[p.chunk]->runs;
  for (size_t i = 0; i < p.run; ++i) at += runs[i].visible();
  return at;
}

uint64_t Sequence::VisibleIndexOf(Pos p) const {
  return ChunkStart(p.chunk) + ContentOffset(p);
}

void Sequence::AddVisible(size_t chunk, int64_t delta) {
  chunks_[chunk]->visible = static_cast<uint64_t>(
      static_cast<int64_t>(chunks_[chunk]->visible) + delta);
  size_ = static_cast<uint64_t>(static_cast<int64_t>(size_) + delta);
  if (chunk < cache_chunk_) {
    cache_start_ =
        static_cast<uint64_t>(static_cast<int64_t>(cache_start_) + delta);
  }
}

void Sequence::SplitRun(Pos p, uint64_t offset) {
  Run& left = At(p);
  Run right = left;
  right.id.counter += offset;
  right.len = static_cast<uint32_t>(left.len - offset);
  right.origin_left = {left.id.replica, left.id.counter + offset - 1};
  left.len = static_cast<uint32_t>(offset);
  auto& runs = chunks_[p.chunk]->runs;
  runs.insert(runs.begin() + static_cast<ptrdiff_t>(p.run + 1), right);
  cache_run_chunk_ = SIZE_MAX;
}

void Sequence::InsertContentSlow(Chunk& c, uint64_t at, RunContent content,
                                 uint64_t len) {
  if (is_text_) {
    MoveGap(c, at, len);
    std::char_traits<char32_t>::copy(&c.text[at], content.text.data(), len);
    gap_at_ += len;
    gap_len_ -= len;
  } else {
    c.values.insert(c.values.begin() + static_cast<ptrdiff_t>(at),
                    content.values.begin(),
                    content.values.begin() + static_cast<ptrdiff_t>(len));
  }
}

void Sequence::MoveGap(Chunk& c, uint64_t at, uint64_t len) {
  if (gap_chunk_ != &c) {
    CloseGap();
    c.text.insert(at, kGapSize + len, U'\0');
    gap_chunk_ = &c;
    gap_at_ = at;
    gap_len_ = kGapSize + len;
    return;
  }
  char32_t* t = c.text.data();
  if (at < gap_at_) {
    std::char_traits<char32_t>::move(t + at + gap_len_, t + at, gap_at_ - at);
  } else if (at > gap_at_) {
    std::char_traits<char32_t>::move(t + gap_at_, t + gap_at_ + gap_len_,
                                     at - gap_at_);
  }
  gap_at_ = at;
  if (gap_len_ < len) {
    c.text.insert(at + gap_len_, kGapSize + len - gap_len_, U'\0');
    gap_len_ = kGapSize + len;
  }
}

std::u32string_view Sequence::TextWithoutGap(std::u32string* out) const {
  const std::u32string_view text = gap_chunk_->text;
  out->assign(text.substr(0, gap_at_));
  out->append(text.substr(gap_at_ + gap_len_));
  return *out;
}

void Sequence::CloseGapSlow() {
  gap_chunk_->text.erase(gap_at_, gap_len_);
  gap_chunk_ = nullptr;
  gap_at_ = 0;
  gap_len_ = 0;
}

void Sequence::InsertRunAt(Pos p, Run run, RunContent content) {
  if (!run.deleted) InsertContent(p.chunk, ContentOffset(p), content, run.len);
  auto& runs = chunks_[p.chunk]->runs;
  runs.insert(runs.begin() + static_cast<ptrdiff_t>(p.run), run);
  cache_run_chunk_ = SIZE_MAX;
  IndexIds(run.id, run.len, chunks_[p.chunk]);
  AddVisible(p.chunk, static_cast<int64_t>(run.visible()));
}

void Sequence::EraseContentSlow(Chunk& c, size_t chunk, uint64_t at,
                                uint64_t n) {
  if (is_text_) {
    // The erased elements join the gap (become it, in another chunk).
    if (gap_chunk_ != &c) {
      CloseGap();
      gap_chunk_ = &c;
      gap_at_ = at;
      gap_len_ = n;
    } else if (at + n == gap_at_) {  // backspacing
      gap_at_ = at;
      gap_len_ += n;
    } else {
      MoveGap(c, at, 0);
      gap_len_ += n;
    }
  } else {
    c.values.erase(c.values.begin() + static_cast<ptrdiff_t>(at),
                   c.values.begin() + static_cast<ptrdiff_t>(at + n));
  }
  AddVisible(chunk, -static_cast<int64_t>(n));
}

void Sequence::MarkDeleted(Pos p) {
  Run& r = At(p);
  EraseContent(p.chunk, ContentOffset(p), r.len);
  r.deleted = true;
  cache_run_chunk_ = SIZE_MAX;
}

bool Sequence::CanAppend(const Run& a, const Run& b) {
  return a.id.replica == b.id.replica && b.id.counter == a.id.counter + a.len &&
         b.origin_left == a.last() && b.origin_right == a.origin_right &&
         a.deleted == b.deleted && uint64_t{a.len} + b.len <= kMaxRunLength;
}

Sequence::Pos Sequence::MergeNeighbors(Pos p) {
  auto& runs = chunks_[p.chunk]->runs;
  if (p.run > 0 && CanAppend(runs[p.run - 1], runs[p.run])) {
    runs[p.run - 1].len += runs[p.run].len;
    runs.erase(runs.begin() + static_cast<ptrdiff_t>(p.run));
    --p.run;
    cache_run_chunk_ = SIZE_MAX;
  }
  if (p.run + 1 < runs.size() && CanAppend(runs[p.run], runs[p.run + 1])) {
    runs[p.run].len += runs[p.run + 1].len;
    runs.erase(runs.begin() + static_cast<ptrdiff_t>(p.run + 1));
    cache_run_chunk_ = SIZE_MAX;
  }
  return p;
}

void Sequence::SplitChunk(size_t c) {
  const size_t n = chunks_[c]->runs.size();
  const size_t half = n / 2;
  const uint64_t left_visible = ContentOffset({c, half});
  Chunk* right_ptr = NewChunk();
  Chunk& right = *right_ptr;
  Chunk& left = *chunks_[c];
  if (gap_chunk_ == &left) CloseGap();
  right.runs.assign(left.runs.begin() + static_cast<ptrdiff_t>(half),
                    left.runs.end());
  left.runs.resize(half);
  if (is_text_) {
    right.text = left.text.substr(left_visible);
    left.text.resize(left_visible);
  } else {
    right.values.assign(
        std::make_move_iterator(left.values.begin() +
                                static_cast<ptrdiff_t>(left_visible)),
        std::make_move_iterator(left.values.end()));
    left.values.resize(left_visible);
  }
  right.visible = left.visible - left_visible;
  left.visible = left_visible;
  chunks_.insert(chunks_.begin() + static_cast<ptrdiff_t>(c + 1), right_ptr);
  stale_index_from_ = std::min(stale_index_from_, c + 1);
  if (cache_chunk_ > c) ++cache_chunk_;
  cache_run_chunk_ = SIZE_MAX;
  if (id_index_built_) MoveIdsToSplit(left, right);
}

void Sequence::MoveIdsToSplit(Chunk& left, Chunk& right) {
  // The id ranges left keeps, by (replica, first counter); disjoint.
  std::vector<std::pair<OpId, uint64_t>> kept;  // first, end
  kept.reserve(left.runs.size());
  for (const Run& r : left.runs) kept.push_back({r.id, r.id.counter + r.len});
  std::sort(kept.begin(), kept.end(), [](const auto& a, const auto& b) {
    return std::tie(a.first.replica, a.first.counter) <
           std::tie(b.first.replica, b.first.counter);
  });
  // Whether left keeps an id of replica `replica` in [lo, hi). Left's ids
  // there may be indexed at any level, so only a block left holds none of
  // may forget it.
  auto keeps = [&kept](ReplicaId replica, uint64_t lo, uint64_t hi) {
    auto after = std::lower_bound(
        kept.begin(), kept.end(), std::make_pair(replica, hi),
        [](const auto& k, const std::pair<ReplicaId, uint64_t>& v) {
          return std::tie(k.first.replica, k.first.counter) <
                 std::tie(v.first, v.second);
        });
    if (after == kept.begin()) return false;
    --after;
    return after->first.replica == replica && after->second > lo;
  };
  for (const Run& r : right.runs) {
    IndexIds(r.id, r.len, &right);
    const int level = IdLevel(r.len);
    const int shift = IdLevelShift(level);
    const IdBlock last = IdKey(r.id.replica, r.id.counter + r.len - 1, level);
    for (IdBlock b = IdKey(r.id.replica, r.id.counter, level);
         b.second <= last.second; ++b.second) {
      const uint64_t lo = (b.second & ~(uint64_t{15} << 60)) << shift;
      const uint64_t size = uint64_t{1} << shift;
      const uint64_t hi = lo > UINT64_MAX - size ? UINT64_MAX : lo + size;
      if (keeps(r.id.replica, lo, hi)) continue;
      auto it = id_index_.find(b);
      if (it == id_index_.end()) continue;
      ChunkList& list = it->second;
      list.erase(std::remove(list.begin(), list.end(), &left), list.end());
    }
  }
}

void Sequence::LocalInsert(uint64_t index, Run& run, RunContent content) {
  if (index == 0) {
    run.origin_left = kNoId;
    const auto& first = chunks_[0]->runs;
    run.origin_right = first.empty() ? kNoId : first[0].id;
    InsertRunAt({0, 0}, run, content);
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
      // Typing at the end of one's own run, the common case: the content
      // goes right after element index-1 of this chunk (FindVisible left the
      // cache on it).
      InsertContent(p.chunk, index - cache_start_, content, run.len);
      left.len += run.len;
      IndexIds(run.id, run.len, chunks_[p.chunk]);
      AddVisible(p.chunk, static_cast<int64_t>(run.len));
      MaybeSplitChunk(p.chunk);
      return;
    }
  }
  InsertRunAt({p.chunk, p.run + 1}, run, content);
  MaybeSplitChunk(p.chunk);
}

void Sequence::LocalDelete(uint64_t index, uint64_t n,
                           std::vector<std::pair<OpId, uint64_t>>* targets) {
  if (n == 0) return;
  uint64_t offset;
  Pos p = FindVisible(index, &offset);
  // FindVisible left the cache on p's chunk: the content offset of `index`.
  const uint64_t content_at = index - cache_start_;
  if (offset > 0 ? DeleteIntoNextTombstone(p, offset, n, content_at, targets)
                 : DeleteIntoPrevTombstone(p, n, content_at, targets)) {
    return;
  }
  if (offset > 0) {
    SplitRun(p, offset);
    ++p.run;
  }
  const size_t first_chunk = p.chunk;
  uint64_t remaining = n;
  while (true) {
    if (!At(p).deleted) {
      if (At(p).len > remaining) SplitRun(p, remaining);
      const Run& r = At(p);
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

bool Sequence::DeleteIntoNextTombstone(
    Pos p, uint64_t offset, uint64_t n, uint64_t content_at,
    std::vector<std::pair<OpId, uint64_t>>* targets) {
  auto& runs = chunks_[p.chunk]->runs;
  Run& live = runs[p.run];
  if (offset + n != live.len || p.run + 1 >= runs.size()) return false;
  Run& dead = runs[p.run + 1];
  if (!dead.deleted || dead.id.replica != live.id.replica ||
      dead.id.counter != live.id.counter + live.len ||
      dead.origin_left != live.last() ||
      dead.origin_right != live.origin_right || dead.len + n > kMaxRunLength) {
    return false;
  }
  live.len = static_cast<uint32_t>(offset);
  dead.id.counter -= n;
  dead.len += static_cast<uint32_t>(n);
  dead.origin_left = live.last();
  targets->emplace_back(dead.id, n);
  EraseContent(p.chunk, content_at, n);
  return true;
}

bool Sequence::DeleteIntoPrevTombstone(
    Pos p, uint64_t n, uint64_t content_at,
    std::vector<std::pair<OpId, uint64_t>>* targets) {
  auto& runs = chunks_[p.chunk]->runs;
  Run& live = runs[p.run];
  if (n >= live.len || p.run == 0) return false;
  Run& dead = runs[p.run - 1];
  if (!dead.deleted || live.id.replica != dead.id.replica ||
      live.id.counter != dead.id.counter + dead.len ||
      live.origin_left != dead.last() ||
      live.origin_right != dead.origin_right || dead.len + n > kMaxRunLength) {
    return false;
  }
  targets->emplace_back(live.id, n);
  dead.len += static_cast<uint32_t>(n);
  live.id.counter += n;
  live.len -= static_cast<uint32_t>(n);
  live.origin_left = {live.id.replica, live.id.counter - 1};
  EraseContent(p.chunk, content_at, n);
  return true;
}

absl::Status Sequence::Integrate(Run run, RunContent content, uint64_t* index) {
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
    // The right origin must follow the left one, or the scan below would
    // run past it and peers could order the run differently.
    Pos right;
    if (has_right && (!FindId(run.origin_right, &right, &offset) ||
                      std::make_pair(right.chunk, right.run) <=
                          std::make_pair(left.chunk, left.run))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "insert ", IdString(run.id), ": right origin ",
          IdString(run.origin_right), " does not follow left origin ",
          IdString(run.origin_left)));
    }
  }

  // YATA (Yjs Item.integrate): scan the runs between the origins and place
  // the new run after every run that must precede it.
  Pos o = left;
  bool valid;
  if (left_is_head) {
    o = {0, 0};
    valid = !chunks_[0]->runs.empty();
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
    const uint64_t start = VisibleIndexOf(left);
    if (index) *index = start + At(left).visible();
    if (!run.deleted) {
      InsertContent(left.chunk, start - cache_start_ + At(left).len, content,
                    run.len);
    }
    At(left).len += run.len;
    cache_run_chunk_ = SIZE_MAX;
    IndexIds(run.id, run.len, chunks_[left.chunk]);
    AddVisible(left.chunk, static_cast<int64_t>(run.visible()));
    return absl::OkStatus();
  }
  Pos at = left_is_head ? Pos{0, 0} : Pos{left.chunk, left.run + 1};
  if (index) *index = VisibleIndexOf(at);
  InsertRunAt(at, run, content);
  MaybeSplitChunk(at.chunk);
  return absl::OkStatus();
}

absl::Status Sequence::DeleteIds(
    OpId target, uint64_t len,
    const std::function<void(uint64_t, uint64_t)>& deleted) {
  const uint64_t end = target.counter + len;
  // All or nothing: a delete naming an id this sequence lacks changes
  // nothing, as its caller records only deletes that applied (a partial one
  // made the state differ from what the history replays to).
  for (uint64_t c = target.counter; c < end;) {
    Pos p;
    uint64_t offset;
    if (!FindId({target.replica, c}, &p, &offset)) {
      return absl::InvalidArgumentError(
          absl::StrCat("delete: element ", target.replica, ":", c,
                       " is not in its container"));
    }
    c += std::min<uint64_t>(At(p).len - offset, end - c);
  }
  uint64_t c = target.counter;
  while (c < end) {
    Pos p;
    uint64_t offset;
    LATTICE_CHECK(FindId({target.replica, c}, &p, &offset));
    if (offset > 0) {
      SplitRun(p, offset);
      ++p.run;
    }
    const uint64_t n = std::min<uint64_t>(At(p).len, end - c);
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

void Sequence::AppendRun(Run run, RunContent content) {
  size_t c = chunks_.size() - 1;
  if (chunks_[c]->runs.size() >= kMaxChunkRuns) {
    chunks_.push_back(NewChunk());
    ++c;
    chunks_[c]->index = c;
  }
  auto& runs = chunks_[c]->runs;
  cache_run_chunk_ = SIZE_MAX;
  if (!run.deleted) {
    if (is_text_) {  // no gap: a loaded chunk keeps none
      if (gap_chunk_ == chunks_[c]) CloseGap();
      chunks_[c]->text.append(content.text.data(), run.len);
    } else {
      InsertContent(c, chunks_[c]->visible, content, run.len);
    }
  }
  if (!runs.empty() && CanAppend(runs.back(), run)) {
    runs.back().len += run.len;
  } else {
    runs.push_back(run);
  }
  IndexIds(run.id, run.len, chunks_[c]);
  AddVisible(c, static_cast<int64_t>(run.visible()));
}

void Sequence::AppendTextChunk(absl::Span<const Run> runs,
                               std::u32string text) {
  if (!chunks_.back()->runs.empty()) {
    chunks_.push_back(NewChunk());
    chunks_.back()->index = chunks_.size() - 1;
  }
  Chunk& chunk = *chunks_.back();
  cache_run_chunk_ = SIZE_MAX;
  chunk.runs.reserve(runs.size());
  for (const Run& r : runs) {
    if (!chunk.runs.empty() && CanAppend(chunk.runs.back(), r)) {
      chunk.runs.back().len += r.len;
    } else {
      chunk.runs.push_back(r);
    }
    IndexIds(r.id, r.len, &chunk);
  }
  const auto live = static_cast<int64_t>(text.size());
  chunk.text = std::move(text);
  AddVisible(chunks_.size() - 1, live);
}

std::string Sequence::Utf8Text() const {
  std::string out;
  out.reserve(size_);  // exact for ASCII, the usual case
  for (const auto& c : chunks_) {
    const std::u32string_view text = c->text;
    if (c == gap_chunk_) {
      AppendUtf8(text.substr(0, gap_at_), &out);
      AppendUtf8(text.substr(gap_at_ + gap_len_), &out);
    } else {
      AppendUtf8(text, &out);
    }
  }
  return out;
}

std::u32string Sequence::Text() const {
  std::u32string out;
  out.reserve(size_);
  for (const auto& c : chunks_) {
    const std::u32string_view text = c->text;
    if (c == gap_chunk_) {
      out += text.substr(0, gap_at_);
      out += text.substr(gap_at_ + gap_len_);
    } else {
      out += text;
    }
  }
  return out;
}

const Value& Sequence::ValueAt(uint64_t index) const {
  uint64_t offset;
  Pos p = FindVisible(index, &offset);
  return chunks_[p.chunk]->values[index - cache_start_];
}

OpId Sequence::IdAt(uint64_t index) const {
  uint64_t offset;
  Pos p = FindVisible(index, &offset);
  const Run& r = chunks_[p.chunk]->runs[p.run];
  return {r.id.replica, r.id.counter + offset};
}

void Sequence::CheckInvariants() const {
  uint64_t total = 0;
  uint64_t before_cache = 0;
  LATTICE_CHECK(!chunks_.empty());
  LATTICE_CHECK(cache_chunk_ < chunks_.size());
  for (size_t c = 0; c < chunks_.size(); ++c) {
    if (c == cache_chunk_) before_cache = total;
    const Chunk& chunk = *chunks_[c];
    LATTICE_CHECK(chunks_.size() == 1 || !chunk.runs.empty())
        << "empty chunk " << c;
    uint64_t visible = 0;
    for (const Run& r : chunk.runs) {
      LATTICE_CHECK(r.len > 0);
      visible += r.visible();
    }
    LATTICE_CHECK(visible == chunk.visible)
        << "chunk " << c << " visible count";
    const uint64_t gap = chunks_[c] == gap_chunk_ ? gap_len_ : 0;
    LATTICE_CHECK((is_text_ ? chunk.text.size() - gap : chunk.values.size()) ==
                  visible)
        << "chunk " << c << " content size";
    if (chunks_[c] == gap_chunk_)
      LATTICE_CHECK(gap_at_ <= visible) << "gap past chunk " << c;
    LATTICE_CHECK(is_text_ ? chunk.values.empty() : chunk.text.empty());
    total += visible;
  }
  LATTICE_CHECK(total == size_);
  if (gap_chunk_ != nullptr) {
    LATTICE_CHECK(is_text_);
    LATTICE_CHECK(std::find(chunks_.begin(), chunks_.end(), gap_chunk_) !=
                  chunks_.end())
        << "gap in no chunk";
  }
  LATTICE_CHECK(before_cache == cache_start_) << "cursor cache out of date";
  if (cache_run_chunk_ != SIZE_MAX) {
    LATTICE_CHECK(cache_run_chunk_ < chunks_.size());
    const auto& runs = chunks_[cache_run_chunk_]->runs;
    LATTICE_CHECK(cache_run_ < runs.size());
    uint64_t before_run = 0;
    for (size_t i = 0; i < cache_run_; ++i) before_run += runs[i].visible();
    LATTICE_CHECK(before_run == cache_run_start_) << "run cache out of date";
  }
  for (size_t c = 0; c < chunks_.size(); ++c) {
    LATTICE_CHECK(c >= stale_index_from_ || chunks_[c]->index == c)
        << "chunk " << c << " index";
    if (!id_index_built_) continue;
    // Every id of every run is in a block, of some level, that lists the
    // run's chunk; coarsest first, so a long run takes few steps.
    for (const Run& r : chunks_[c]->runs) {
      const uint64_t end = r.id.counter + r.len;
      for (uint64_t at = r.id.counter; at < end;) {
        int level = kIdLevels - 1;
        for (; level >= 0; --level) {
          if ((id_levels_used_ >> level & 1) == 0) continue;
          auto it = id_index_.find(IdKey(r.id.replica, at, level));
          if (it != id_index_.end() &&
              std::find(it->second.begin(), it->second.end(), chunks_[c]) !=
                  it->second.end()) {
            break;
          }
        }
        LATTICE_CHECK(level >= 0)
            << "id index misses id " << IdString(OpId{r.id.replica, at})
            << " of run " << IdString(r.id) << " in chunk " << c;
        const int shift = IdLevelShift(level);
        const uint64_t next = ((at >> shift) + 1) << shift;
        if (next <= at) break;  // the last block of the counter space
        at = next;
      }
    }
  }
}

}  // namespace lattice::crdt::internal
