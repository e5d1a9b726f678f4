// The sequence CRDT behind List and Text: YATA (the algorithm of Yjs) over
// run-length-encoded items.
//
// Every element has an id, a left origin (the element it was typed after)
// and a right origin (the element that followed it then). A run holds
// consecutive ids of one replica where each element's left origin is its
// predecessor and all share the right origin, so a typed word is one run.
// Deleted elements stay as tombstones without content (their ids anchor
// concurrent inserts). Runs live in chunks of at most kMaxChunkRuns so an
// insert moves a bounded amount of memory; a cursor cache (chunk, visible
// offset) makes local editing near the last edit O(1) in the document size.
//
// Runs are small plain records; each chunk keeps the content of its live
// runs contiguously (text or values), so splitting and merging runs never
// moves content and a run costs no allocation of its own.
//
// One text chunk at a time may hold a gap (a gap buffer): unused code points
// inside its text at the last edit's position, so that typing writes into
// the gap and backspacing widens it, instead of moving the rest of the chunk
// per keystroke. The chunk's text moves only when an edit lands elsewhere in
// it (the gap moves there) or in another chunk (the gap closes). Readers
// (ForEachRun, Text, Utf8Text) read around it and never move it.
//
// Invariants (CheckInvariants):
//  1. Every chunk's `visible` equals the sum of its runs' visible lengths and
//     the size of its content (its text less the gap, if it holds it); the
//     cache's start equals the sum over the chunks before it.
//  2. No chunk is empty unless it is the only one.
//  3. Only a text chunk holds the gap, and the gap lies within its text.
//
// Thread safety: none; owned by a Doc.
#ifndef LATTICE_CRDT_INTERNAL_SEQUENCE_H_
#define LATTICE_CRDT_INTERNAL_SEQUENCE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "crdt/ids.h"
#include "crdt/internal/op.h"
#include "crdt/value.h"

#include "absl/container/flat_hash_map.h"
#include "absl/container/inlined_vector.h"
#include "absl/status/status.h"
#include "absl/types/span.h"

namespace lattice::crdt::internal {

struct Run {
  OpId id;
  uint32_t len = 0;
  bool deleted = false;
  OpId origin_left = kNoId;   // of the first element
  OpId origin_right = kNoId;  // of every element

  OpId last() const { return {id.replica, id.counter + len - 1}; }
  bool Contains(const OpId& x) const {
    return x.replica == id.replica && x.counter >= id.counter &&
           x.counter < id.counter + len;
  }
  uint64_t visible() const { return deleted ? 0 : len; }
};

// The content of a live run: `text` for a Text, `values` for a List. Views
// into the owner's storage, valid until the sequence next changes.
struct RunContent {
  std::u32string_view text;
  absl::Span<const Value> values;
};

class Sequence {
 public:
  // A chunk splits in two past 2 * kMaxChunkRuns runs or kMaxChunkContent
  // live elements, bounding what one insert moves.
  static constexpr size_t kMaxChunkRuns = 32;
  static constexpr uint64_t kMaxChunkContent = 256;
  static constexpr uint64_t kMaxRunLength = uint64_t{1} << 31;

  explicit Sequence(bool is_text);

  bool is_text() const { return is_text_; }
  // Number of visible (non-deleted) elements.
  uint64_t size() const { return size_; }

  // Inserts `run` (id and len set by the caller, not deleted) with `content`
  // so that its first element lands at visible `index`; fills in its
  // origins. REQUIRES: index <= size(), run.len <= kMaxRunLength.
  void LocalInsert(uint64_t index, Run& run, RunContent content);

  // Deletes `n` visible elements from `index`, appending the deleted id
  // ranges, in document order, to `targets`. REQUIRES: index + n <= size().
  void LocalDelete(uint64_t index, uint64_t n,
                   std::vector<std::pair<OpId, uint64_t>>* targets);

  // Integrates a remote run by its origins (`content` ignored when deleted).
  // Sets *index (if given) to the visible index of its first element.
  // Errors: InvalidArgument when an origin is not an element of this
  // sequence.
  absl::Status Integrate(Run run, RunContent content, uint64_t* index);

  // Marks ids target .. target+len-1 deleted; calls `deleted(index, n)` for
  // each newly deleted visible piece (index before the deletion). Errors:
  // InvalidArgument when an id is not an element of this sequence; then
  // nothing is deleted.
  absl::Status DeleteIds(
      OpId target, uint64_t len,
      const std::function<void(uint64_t, uint64_t)>& deleted);

  // Appends a run at the end without integration (snapshot load, where runs
  // arrive in document order).
  void AppendRun(Run run, RunContent content);
  // Appends `runs` (in document order, merged as AppendRun merges) whose
  // live elements read `text`, as a chunk of their own: a snapshot load
  // builds each chunk at its final size, with no copy of the text.
  // REQUIRES: is_text(), runs not empty, runs.size() <= kMaxChunkRuns,
  // text.size() the runs' live length.
  void AppendTextChunk(absl::Span<const Run> runs, std::u32string text);

  // Calls fn(run, content) for every run in document order (content empty
  // for deleted runs). Reads only: the chunk holding the gap is viewed
  // through a copy without it; a read never moves the gap.
  template <typename Fn>
  void ForEachRun(Fn&& fn) const {
    std::u32string joined;  // the gap chunk's text without the gap
    for (const auto& chunk : chunks_) {
      const Chunk& c = *chunk;
      const std::u32string_view text =
          chunk == gap_chunk_ ? TextWithoutGap(&joined) : c.text;
      size_t at = 0;
      for (const Run& r : c.runs) {
        RunContent content;
        if (!r.deleted) {
          if (is_text_) {
            content.text = text.substr(at, r.len);
          } else {
            content.values = absl::MakeConstSpan(c.values).subspan(at, r.len);
          }
          at += r.len;
        }
        fn(r, content);
      }
    }
  }
  size_t run_count() const;
  uint64_t MemoryUsage() const;

  // The visible text (Text) in code points.
  std::u32string Text() const;
  // The visible text (Text) in UTF-8, written chunk by chunk (no code point
  // copy of the whole text).
  std::string Utf8Text() const;
  // The visible element at `index`. REQUIRES: index < size(), list.
  const Value& ValueAt(uint64_t index) const;
  // Id of the visible element at `index`. REQUIRES: index < size().
  OpId IdAt(uint64_t index) const;

  // Aborts on a broken invariant (tests).
  void CheckInvariants() const;

 private:
  // A chunk's content holds the live elements of its runs, in order.
  struct Chunk {
    std::vector<Run> runs;
    std::u32string text;        // Text (with the gap, if it holds it)
    std::vector<Value> values;  // List
    uint64_t visible = 0;
    size_t index = 0;  // position in chunks_, unless stale (see below)
  };
  // The id index: for each block of consecutive counters of a replica, the
  // chunks holding ids of it (usually one or two). A run is indexed at the
  // finest level whose blocks, 2^(kIdBlockBits + kIdLevelBits * level)
  // counters, it spans at most 2^kIdLevelBits + 1 of: a run costs at most
  // nine entries whatever its length (with one level of 32-counter blocks,
  // a deleted run of 2^31 ids, a few bytes of an update, cost 2^26 entries
  // and a minute). Ids keep the level they were indexed at when their run
  // is split or merged, so FindId tries every level in use.
  static constexpr int kIdBlockBits = 5;
  static constexpr int kIdLevelBits = 3;
  static constexpr int kIdLevels = 9;  // 2^(5 + 3 * 8) * 8 >= 2^32
  // {replica, level << 60 | block}: blocks are below 2^59.
  using IdBlock = std::pair<ReplicaId, uint64_t>;
  using ChunkList = absl::InlinedVector<Chunk*, 2>;
  struct Pos {
    size_t chunk = 0;
    size_t run = 0;
  };

  Run& At(Pos p) { return chunks_[p.chunk]->runs[p.run]; }
  // A new empty chunk, owned by storage_.
  Chunk* NewChunk();
  // Moves the cache to chunk `c` and returns the visible count before it.
  uint64_t ChunkStart(size_t c) const;
  // Finds the run holding visible element `index` and the offset in it.
  // Inline for the cached run (typing, backspacing); else FindVisibleScan.
  Pos FindVisible(uint64_t index, uint64_t* offset) const {
    if (cache_run_chunk_ == cache_chunk_) {
      // Wraps (and fails the test) when `index` lies before the run.
      const uint64_t local = index - cache_start_ - cache_run_start_;
      if (local < chunks_[cache_chunk_]->runs[cache_run_].visible()) {
        *offset = local;
        return {cache_chunk_, cache_run_};
      }
    }
    return FindVisibleScan(index, offset);
  }
  Pos FindVisibleScan(uint64_t index, uint64_t* offset) const;
  // Finds the run holding `id`; false when absent. O(1) expected: it looks
  // the id's block up in the id index (built on the first call).
  bool FindId(const OpId& id, Pos* pos, uint64_t* offset) const;
  void BuildIdIndex() const;
  // Records that `chunk` holds ids first .. first+len-1 (once built).
  void IndexIds(const OpId& first, uint64_t len, Chunk* chunk) const {
    if (id_index_built_) AddToIdIndex(first, len, chunk);
  }
  void AddToIdIndex(const OpId& first, uint64_t len, Chunk* chunk) const;
  // The level a run of `len` ids is indexed at.
  static int IdLevel(uint64_t len);
  static int IdLevelShift(int level) {
    return kIdBlockBits + kIdLevelBits * level;
  }
  static IdBlock IdKey(ReplicaId replica, uint64_t counter, int level) {
    return {replica, uint64_t(level) << 60 | counter >> IdLevelShift(level)};
  }
  // The chunk of `list` holding `id`, and its run; false when none does.
  bool FindIdIn(const ChunkList& list, const OpId& id, Pos* pos,
                uint64_t* offset) const;
  bool Next(Pos& p) const;
  // Visible elements before run p within its chunk (its content offset).
  uint64_t ContentOffset(Pos p) const;
  uint64_t VisibleIndexOf(Pos p) const;
  // Splits At(p) so that its element `offset` starts a new run right after
  // it. REQUIRES: 0 < offset < len. p stays valid (the left piece).
  void SplitRun(Pos p, uint64_t offset);
  // Inserts `len` elements of `content` at content offset `at` of `chunk`
  // (its visible count is the caller's). Text goes into the gap, moved
  // there first unless a keystroke continues the previous one.
  void InsertContent(size_t chunk, uint64_t at, RunContent content,
                     uint64_t len) {
    Chunk* c = chunks_[chunk];
    if (is_text_ && gap_chunk_ == c && gap_at_ == at && gap_len_ >= len) {
      char32_t* to = &c->text[at];
      if (len == 1) {  // a keystroke: no call
        *to = content.text[0];
      } else {
        std::char_traits<char32_t>::copy(to, content.text.data(), len);
      }
      gap_at_ += len;
      gap_len_ -= len;
      return;
    }
    InsertContentSlow(*c, at, content, len);
  }
  void InsertContentSlow(Chunk& c, uint64_t at, RunContent content,
                         uint64_t len);
  // Gap buffer (text only). Makes the gap start at content offset `at` of
  // `c`, at least `len` long: moves it within c, or closes it elsewhere and
  // opens one (moving c's text after `at` once).
  void MoveGap(Chunk& c, uint64_t at, uint64_t len);
  // Copies the gap chunk's text less the gap to *out; returns it.
  std::u32string_view TextWithoutGap(std::u32string* out) const;
  // Removes the gap from its chunk's text (none afterwards).
  void CloseGap() {
    if (gap_chunk_ != nullptr) CloseGapSlow();
  }
  void CloseGapSlow();
  void InsertRunAt(Pos p, Run run, RunContent content);
  // Removes content [at, at+n) of `chunk` and its visible count. Text joins
  // the gap: inline when it borders it (backspacing, forward deleting).
  void EraseContent(size_t chunk, uint64_t at, uint64_t n) {
    Chunk* c = chunks_[chunk];
    if (is_text_ && gap_chunk_ == c && (at + n == gap_at_ || at == gap_at_)) {
      if (at != gap_at_) gap_at_ = at;
      gap_len_ += n;
      AddVisible(chunk, -static_cast<int64_t>(n));
      return;
    }
    EraseContentSlow(*c, chunk, at, n);
  }
  void EraseContentSlow(Chunk& c, size_t chunk, uint64_t at, uint64_t n);
  void MarkDeleted(Pos p);
  // Merges At(p) with mergeable neighbours in its chunk; returns its new pos.
  Pos MergeNeighbors(Pos p);
  static bool CanAppend(const Run& a, const Run& b);
  void AddVisible(size_t chunk, int64_t delta);
  // Splits chunk `c` in two when it outgrew the bounds (kMaxChunkRuns,
  // kMaxChunkContent).
  void MaybeSplitChunk(size_t c) {
    const Chunk& chunk = *chunks_[c];
    const size_t n = chunk.runs.size();
    if (n > 2 * kMaxChunkRuns || (chunk.visible > kMaxChunkContent && n >= 2))
      SplitChunk(c);
  }
  void SplitChunk(size_t c);
  // The fast paths of LocalDelete: the `n` deleted elements at run p's end
  // (its start) join the tombstone run after (before) it, so no run is
  // split or merged. False (nothing changed) when that does not apply.
  // `content_at` is the content offset of the first deleted element; the
  // deleted id range goes to `targets`.
  bool DeleteIntoNextTombstone(Pos p, uint64_t offset, uint64_t n,
                               uint64_t content_at,
                               std::vector<std::pair<OpId, uint64_t>>* targets);
  bool DeleteIntoPrevTombstone(Pos p, uint64_t n, uint64_t content_at,
                               std::vector<std::pair<OpId, uint64_t>>* targets);
  // After a split of `left`: indexes the runs that moved to `right`, and
  // unlists `left` from the blocks it no longer holds.
  void MoveIdsToSplit(Chunk& left, Chunk& right);

  bool is_text_;
  uint64_t size_ = 0;
  // Chunks in document order. Raw pointers so that inserting one (a split)
  // is a memmove, not a move-assignment per later chunk; storage_ owns them
  // (chunks are never freed before the sequence).
  std::vector<Chunk*> chunks_;
  std::vector<std::unique_ptr<Chunk>> storage_;
  // Chunks from this position on may hold a stale `index` (a split shifted
  // them); FindId, the only reader, renumbers them. Renumbering at every
  // split made local typing O(chunks) per split.
  mutable size_t stale_index_from_ = SIZE_MAX;
  // Cursor cache: chunk index and the visible count before it.
  mutable size_t cache_chunk_ = 0;
  mutable uint64_t cache_start_ = 0;
  // The run FindVisible last found in chunk cache_run_chunk_ and the visible
  // count before it in that chunk, so that typing and backspacing find their
  // run without scanning the chunk. Any change to the runs before it or to
  // their number drops it (cache_run_chunk_ = SIZE_MAX).
  mutable size_t cache_run_chunk_ = SIZE_MAX;
  mutable size_t cache_run_ = 0;
  mutable uint64_t cache_run_start_ = 0;
  // Built by the first FindId, so that a replica that only edits locally
  // (and a freshly loaded one) never pays for it; maintained from then on
  // wherever ids enter a chunk (IndexIds) or move to another (chunk split).
  mutable bool id_index_built_ = false;
  mutable absl::flat_hash_map<IdBlock, ChunkList> id_index_;
  mutable uint32_t id_levels_used_ = 0;  // bit per level
  // The gap: chunk gap_chunk_ (null: none) has gap_len_ unused code points
  // at text offset gap_at_, which is also the content offset of the element
  // after them. Grows by kGapSize when it opens or runs out.
  static constexpr uint64_t kGapSize = 32;
  Chunk* gap_chunk_ = nullptr;
  uint64_t gap_at_ = 0;
  uint64_t gap_len_ = 0;
};

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_SEQUENCE_H_
