// RoomStore mutations and the commit queue.
//
// Every mutation becomes a Writer in one FIFO queue (leveldb DBImpl::Write).
// The writer at the front leads a group of queued writers: under mu_ it plans
// them in order against tentative copies of their rooms' metadata (assigning
// seqs, validating epochs and bounds), then without mu_ it encodes all of them
// into one WriteBatch and writes it with one WAL append (and one fsync in
// kSync mode). Only when that write succeeds are the tentative copies
// published; on failure every planned writer fails and no seq is consumed.
// Because groups commit one at a time and seqs are assigned in commit order,
// a room's log never has holes, even transiently, and concurrent appends
// to one room cannot interleave within a batch.
#include <algorithm>
#include <limits>
#include <utility>

#include <rocksdb/db.h>
#include <rocksdb/slice.h>
#include <rocksdb/write_batch.h>

#include "base/logging.h"
#include "base/status_macros.h"
#include "storage/internal/format.h"
#include "storage/internal/read_view.h"
#include "storage/internal/rocksdb_status.h"
#include "storage/internal/room_state.h"
#include "storage/room_store.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace lattice::storage {

using internal::ChangeKey;
using internal::RoomData;
using internal::RoomKey;
using internal::RoomState;
using internal::ToSlice;

struct RoomStore::Writer {
  enum class Kind {
    kAppend,
    kSnapshot,
    kPresence,
    kDelete,
    kRestore,
    kNewEpoch
  };

  Writer(Kind k, RoomState* r) : kind(k), room(r) {}

  // Set by the caller; immutable while queued.
  const Kind kind;
  RoomState* const room;
  absl::Span<const absl::string_view> changes;  // kAppend
  Epoch epoch = 0;                              // kSnapshot: built from it
  Seq seq = 0;                                  // kSnapshot
  Seq trim_limit = 0;                           // kSnapshot: window bound
  absl::string_view bytes;  // kSnapshot, kRestore: snapshot; kPresence: state
  size_t size = 0;          // payload bytes, for bounding a group

  // Set by the leader under mu_ (planning), read when building the batch.
  absl::Status status;
  int64_t micros = 0;      // record time
  AppendResult append;     // kAppend result (epoch, seqs)
  Epoch result_epoch = 0;  // kRestore, kNewEpoch
  Seq trim_begin = 0;      // trim [trim_begin, trim_end) when < trim_end
  Seq trim_end = 0;
  Seq trimmed_through = 0;  // kSnapshot result
  std::string meta_value;   // meta record to write; empty: none

  bool done = false;  // guarded by RoomStore::mu_
  absl::CondVar cv;
};

namespace {

constexpr Seq kMaxSeq = std::numeric_limits<Seq>::max();

std::string Quote(absl::string_view room) {
  return absl::StrCat("\"", absl::CHexEscape(room), "\"");
}

absl::Status RoomNotFound(absl::string_view room) {
  return absl::NotFoundError(
      absl::StrCat("storage: room ", Quote(room), " not found"));
}

}  // namespace

absl::StatusOr<RoomState*> RoomStore::GetRoomState(absl::string_view room) {
  {
    absl::MutexLock lock(&mu_);
    auto it = rooms_.find(room);
    if (it != rooms_.end()) return it->second.get();
  }
  // Not loaded: read it without holding mu_. If another thread loads it
  // meanwhile, its entry wins; no mutation of a room can commit before the
  // room has an entry, so both loads saw the same durable state.
  RoomData data;
  {
    internal::ReadView view(*db_);
    LATTICE_ASSIGN_OR_RETURN(data, ReadRoomData(view, room));
  }
  absl::MutexLock lock(&mu_);
  auto it = rooms_.find(room);
  if (it == rooms_.end()) {
    it = rooms_
             .emplace(std::string(room),
                      std::make_unique<RoomState>(std::string(room), data))
             .first;
  }
  return it->second.get();
}

Epoch RoomStore::DrawEpochLocked(Epoch avoid) {
  Epoch e = 0;
  while (e == 0 || e == avoid) e = absl::Uniform<Epoch>(bitgen_);
  return e;
}

absl::Status RoomStore::Commit(Writer& w) {
  mu_.Lock();
  writers_.push_back(&w);
  while (!w.done && &w != writers_.front()) w.cv.Wait(&mu_);
  if (w.done) {
    mu_.Unlock();
    return w.status;
  }

  // Leader: take a prefix of the queue as the group.
  std::vector<Writer*> group;
  size_t group_bytes = 0;
  for (Writer* x : writers_) {
    if (!group.empty() &&
        group_bytes + x->size > options_.max_group_commit_bytes) {
      break;
    }
    group.push_back(x);
    group_bytes += x->size;
  }
  absl::flat_hash_map<RoomState*, RoomData> tentative;
  PlanGroupLocked(group, NowMicros(), tentative);
  mu_.Unlock();

  // Queued writers only append to writers_; the group's writers wait until
  // done, so their fields are ours to read without mu_.
  rocksdb::WriteBatch batch;
  absl::Status write_status;
  for (const Writer* x : group) {
    if (x->status.ok() && write_status.ok()) {
      write_status = AddToBatch(*x, batch);
    }
  }
  if (write_status.ok() && batch.Count() > 0) {
    rocksdb::WriteOptions wo;
    wo.sync = options_.durability == Durability::kSync;
    write_status = internal::FromRocksDb(db_->Write(wo, &batch), "commit");
    if (!write_status.ok()) {
      LATTICE_LOG(kWarning) << write_status.message();
    }
  }

  mu_.Lock();
  if (write_status.ok()) {
    for (auto& [state, data] : tentative) state->committed = data;
  } else {
    for (Writer* x : group) {
      if (x->status.ok()) x->status = write_status;
    }
  }
  for (size_t i = 0; i < group.size(); ++i) writers_.pop_front();
  // Wake the next leader first: its group can start while we wake the rest.
  if (!writers_.empty()) writers_.front()->cv.Signal();
  for (Writer* x : group) {
    if (x == &w) continue;
    x->done = true;
    x->cv.Signal();
  }
  mu_.Unlock();
  return w.status;
}

void RoomStore::PlanGroupLocked(
    const std::vector<Writer*>& group, int64_t now_micros,
    absl::flat_hash_map<RoomState*, RoomData>& tentative) {
  for (Writer* w : group) {
    RoomData& t =
        tentative.try_emplace(w->room, w->room->committed).first->second;
    const std::string& room = w->room->room;
    w->micros = now_micros;
    switch (w->kind) {
      case Writer::Kind::kAppend: {
        const Seq n = w->changes.size();
        if (t.exists && t.last_seq > kMaxSeq - 1 - n) {
          w->status = absl::ResourceExhaustedError(
              absl::StrCat("storage: room ", Quote(room), ": seqs exhausted"));
          break;
        }
        if (!t.exists) {
          t = RoomData();
          t.exists = true;
          t.meta.epoch = DrawEpochLocked(0);
          t.meta.created_micros = now_micros;
          w->meta_value = internal::EncodeMeta(t.meta);
        }
        // Append times never decrease within a room (clock steps back).
        w->micros = std::max(now_micros, t.last_append_micros);
        t.last_append_micros = w->micros;
        w->append.epoch = t.meta.epoch;
        w->append.first_seq = t.last_seq + 1;
        w->append.last_seq = t.last_seq + n;
        t.last_seq += n;
        break;
      }
      case Writer::Kind::kSnapshot: {
        if (!t.exists) {
          w->status = RoomNotFound(room);
        } else if (t.meta.epoch != w->epoch) {
          w->status = absl::FailedPreconditionError(absl::StrCat(
              "storage: room ", Quote(room), ": snapshot of epoch ", w->epoch,
              " but the current epoch is ", t.meta.epoch));
        } else if (w->seq > t.last_seq) {
          w->status = absl::OutOfRangeError(absl::StrCat(
              "storage: room ", Quote(room), ": snapshot seq ", w->seq,
              " is past the end of the log (last seq ", t.last_seq, ")"));
        } else if (t.meta.has_snapshot && w->seq < t.meta.snapshot_seq) {
          w->status = absl::FailedPreconditionError(
              absl::StrCat("storage: room ", Quote(room), ": snapshot seq ",
                           w->seq, " is older than the current snapshot (seq ",
                           t.meta.snapshot_seq, ")"));
        }
        if (!w->status.ok()) break;
        const Seq trim_to = std::min(w->trim_limit, w->seq);
        if (trim_to > t.meta.trimmed_through) {
          w->trim_begin = t.meta.trimmed_through + 1;
          w->trim_end = trim_to + 1;
          t.meta.trimmed_through = trim_to;
        }
        t.meta.has_snapshot = true;
        t.meta.snapshot_seq = w->seq;
        w->trimmed_through = t.meta.trimmed_through;
        w->meta_value = internal::EncodeMeta(t.meta);
        break;
      }
      case Writer::Kind::kPresence:
        if (!t.exists) w->status = RoomNotFound(room);
        break;
      case Writer::Kind::kDelete:
        if (!t.exists) {
          w->status = RoomNotFound(room);
          break;
        }
        t = RoomData();
        break;
      case Writer::Kind::kRestore: {
        const Epoch old = t.exists ? t.meta.epoch : 0;
        t = RoomData();
        t.exists = true;
        t.meta.epoch = DrawEpochLocked(old);
        t.meta.has_snapshot = true;
        t.meta.created_micros = now_micros;
        w->result_epoch = t.meta.epoch;
        w->meta_value = internal::EncodeMeta(t.meta);
        break;
      }
      case Writer::Kind::kNewEpoch:
        if (!t.exists) {
          w->status = RoomNotFound(room);
          break;
        }
        t.meta.epoch = DrawEpochLocked(t.meta.epoch);
        w->result_epoch = t.meta.epoch;
        w->meta_value = internal::EncodeMeta(t.meta);
        break;
    }
  }
}

namespace {

// Adds writes to a WriteBatch, keeping the first error (WriteBatch fails only
// when the batch outgrows its size limit).
class BatchBuilder {
 public:
  explicit BatchBuilder(rocksdb::WriteBatch& batch) : batch_(batch) {}

  // Puts key -> header + payload without concatenating them first.
  void Put(rocksdb::ColumnFamilyHandle* cf, absl::string_view key,
           absl::string_view header, absl::string_view payload) {
    const rocksdb::Slice key_slice = ToSlice(key);
    const rocksdb::Slice parts[2] = {ToSlice(header), ToSlice(payload)};
    Keep(batch_.Put(cf, rocksdb::SliceParts(&key_slice, 1),
                    rocksdb::SliceParts(parts, 2)));
  }
  void Put(rocksdb::ColumnFamilyHandle* cf, absl::string_view key,
           absl::string_view value) {
    Keep(batch_.Put(cf, ToSlice(key), ToSlice(value)));
  }
  void Delete(rocksdb::ColumnFamilyHandle* cf, absl::string_view key) {
    Keep(batch_.Delete(cf, ToSlice(key)));
  }
  void DeleteRange(rocksdb::ColumnFamilyHandle* cf, absl::string_view begin,
                   absl::string_view end) {
    Keep(batch_.DeleteRange(cf, ToSlice(begin), ToSlice(end)));
  }
  const rocksdb::Status& status() const { return status_; }

 private:
  void Keep(const rocksdb::Status& s) {
    if (status_.ok()) status_ = s;
  }
  rocksdb::WriteBatch& batch_;
  rocksdb::Status status_;
};

template <size_t N>
absl::string_view View(const std::array<char, N>& a) {
  return absl::string_view(a.data(), a.size());
}

}  // namespace

absl::Status RoomStore::AddToBatch(const Writer& w,
                                   rocksdb::WriteBatch& batch) {
  const std::string& room = w.room->room;
  const std::string room_key = RoomKey(room);
  BatchBuilder b(batch);
  switch (w.kind) {
    case Writer::Kind::kAppend: {
      const auto header = internal::EncodeChangeHeader(w.micros);
      std::string key = ChangeKey(room, 0);
      const size_t seq_pos = key.size() - 8;
      for (size_t i = 0; i < w.changes.size(); ++i) {
        key.resize(seq_pos);
        internal::PutBigEndian64(key, w.append.first_seq + i);
        b.Put(changes_cf(), key, View(header), w.changes[i]);
      }
      break;
    }
    case Writer::Kind::kSnapshot:
      if (w.trim_begin < w.trim_end) {
        b.DeleteRange(changes_cf(), ChangeKey(room, w.trim_begin),
                      ChangeKey(room, w.trim_end));
      }
      b.Put(snapshots_cf(), room_key,
            View(internal::EncodeSnapshotHeader(w.seq, w.micros)), w.bytes);
      break;
    case Writer::Kind::kPresence:
      b.Put(presence_cf(), room_key,
            View(internal::EncodePresenceHeader(w.micros)), w.bytes);
      break;
    case Writer::Kind::kDelete:
      b.DeleteRange(changes_cf(), ChangeKey(room, 0), ChangeKey(room, kMaxSeq));
      b.Delete(presence_cf(), room_key);
      b.Delete(snapshots_cf(), room_key);
      b.Delete(meta_cf(), room_key);
      break;
    case Writer::Kind::kRestore:
      b.DeleteRange(changes_cf(), ChangeKey(room, 0), ChangeKey(room, kMaxSeq));
      b.Delete(presence_cf(), room_key);
      b.Put(snapshots_cf(), room_key,
            View(internal::EncodeSnapshotHeader(0, w.micros)), w.bytes);
      break;
    case Writer::Kind::kNewEpoch:
      break;
  }
  if (!w.meta_value.empty()) b.Put(meta_cf(), room_key, w.meta_value);
  return internal::FromRocksDb(b.status(), "build write batch");
}

absl::StatusOr<AppendResult> RoomStore::Append(
    absl::string_view room, absl::Span<const absl::string_view> changes) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  if (changes.empty()) {
    return absl::InvalidArgumentError("storage: append of an empty batch");
  }
  LATTICE_ASSIGN_OR_RETURN(RoomState * state, GetRoomState(room));
  Writer w(Writer::Kind::kAppend, state);
  w.changes = changes;
  for (absl::string_view c : changes) w.size += c.size();
  LATTICE_RETURN_IF_ERROR(Commit(w));
  return w.append;
}

absl::StatusOr<Seq> RoomStore::AgeTrimLimit(absl::string_view room,
                                            Seq trimmed_through, Seq limit) {
  if (options_.replay_window_age <= absl::ZeroDuration()) return limit;
  if (options_.replay_window_age == absl::InfiniteDuration()) {
    return trimmed_through;
  }
  const int64_t cutoff =
      NowMicros() - absl::ToInt64Microseconds(options_.replay_window_age);
  // Append times never decrease along the log, so bisect for the first
  // change young enough to keep, in (trimmed_through, limit + 1].
  internal::ReadView view(*db_);
  Seq lo = trimmed_through + 1;
  Seq hi = limit + 1;
  while (lo < hi) {
    const Seq mid = lo + (hi - lo) / 2;
    const std::string key = ChangeKey(room, mid);
    LATTICE_ASSIGN_OR_RETURN(
        std::optional<std::string> value,
        view.Get(changes_cf(), key, absl::StrCat("read log of room ", room)));
    // Missing: a concurrent snapshot trimmed it; trim nothing this time.
    if (!value.has_value()) return trimmed_through;
    LATTICE_ASSIGN_OR_RETURN(internal::ChangeRecord record,
                             internal::DecodeChangeValue(room, key, *value));
    if (record.append_micros >= cutoff) {
      hi = mid;
    } else {
      lo = mid + 1;
    }
  }
  return lo - 1;
}

absl::StatusOr<SnapshotResult> RoomStore::WriteSnapshot(
    absl::string_view room, Epoch epoch, Seq seq, absl::string_view bytes) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  LATTICE_ASSIGN_OR_RETURN(RoomState * state, GetRoomState(room));
  RoomData committed;
  {
    absl::MutexLock lock(&mu_);
    committed = state->committed;
  }
  // The window bound from the committed log. Appends committed before our
  // turn only move the window forward, so the bound stays conservative; the
  // leader re-checks the epoch and clamps to the current trim point.
  const uint64_t keep = options_.replay_window_changes;
  Seq limit = std::min(
      seq, committed.last_seq > keep ? committed.last_seq - keep : Seq{0});
  if (committed.exists && committed.meta.epoch == epoch &&
      limit > committed.meta.trimmed_through) {
    LATTICE_ASSIGN_OR_RETURN(
        limit, AgeTrimLimit(room, committed.meta.trimmed_through, limit));
  }
  Writer w(Writer::Kind::kSnapshot, state);
  w.epoch = epoch;
  w.seq = seq;
  w.trim_limit = limit;
  w.bytes = bytes;
  w.size = bytes.size();
  LATTICE_RETURN_IF_ERROR(Commit(w));
  SnapshotResult result;
  result.trimmed_through = w.trimmed_through;
  return result;
}

absl::Status RoomStore::PutPresence(absl::string_view room,
                                    absl::string_view state_bytes) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  LATTICE_ASSIGN_OR_RETURN(RoomState * state, GetRoomState(room));
  Writer w(Writer::Kind::kPresence, state);
  w.bytes = state_bytes;
  w.size = state_bytes.size();
  return Commit(w);
}

absl::Status RoomStore::DeleteRoom(absl::string_view room) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  LATTICE_ASSIGN_OR_RETURN(RoomState * state, GetRoomState(room));
  Writer w(Writer::Kind::kDelete, state);
  return Commit(w);
}

absl::StatusOr<Epoch> RoomStore::RestoreRoom(absl::string_view room,
                                             absl::string_view snapshot) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  LATTICE_ASSIGN_OR_RETURN(RoomState * state, GetRoomState(room));
  Writer w(Writer::Kind::kRestore, state);
  w.bytes = snapshot;
  w.size = snapshot.size();
  LATTICE_RETURN_IF_ERROR(Commit(w));
  return w.result_epoch;
}

absl::StatusOr<Epoch> RoomStore::StartNewEpoch(absl::string_view room) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  LATTICE_ASSIGN_OR_RETURN(RoomState * state, GetRoomState(room));
  Writer w(Writer::Kind::kNewEpoch, state);
  LATTICE_RETURN_IF_ERROR(Commit(w));
  return w.result_epoch;
}

}  // namespace lattice::storage
