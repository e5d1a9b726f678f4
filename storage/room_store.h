// RoomStore: the durable home of every room's history, over one RocksDB
// instance. It keeps, per room, a log of opaque encoded changes numbered
// 1, 2, 3, ... within an epoch, the latest snapshot, the latest presence
// checkpoint, and metadata. It knows nothing of CRDTs: the bytes it stores are
// encoded by crdt/. Formats and durability are specified in docs/storage.md.
//
//   RoomStoreOptions options;  // Durability::kSync by default
//   LATTICE_ASSIGN_OR_RETURN(std::unique_ptr<RoomStore> store,
//                            RoomStore::Open(dir, options));
//   LATTICE_ASSIGN_OR_RETURN(AppendResult r, store->Append("room-1",
//   {update}));
//   // r.last_seq is durable now; acknowledge (r.epoch, r.last_seq).
//   LATTICE_ASSIGN_OR_RETURN(auto tail, store->ReadAfter("room-1", epoch,
//   seq));
//
// Calls block on disk I/O (an Append in kSync mode waits for an fsync); the
// engine makes them through a StoreExecutor (storage/store_executor.h), never
// on network threads.
//
// Thread safety: a RoomStore is safe for concurrent use by any number of
// threads (the leveldb DB contract). Mutations of all rooms are serialized
// through one commit queue that merges concurrent calls into one WriteBatch
// and one WAL write (and one fsync in kSync mode); reads never wait for it.
#ifndef LATTICE_STORAGE_ROOM_STORE_H_
#define LATTICE_STORAGE_ROOM_STORE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "storage/change_iterator.h"
#include "storage/room_store_options.h"
#include "storage/types.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace rocksdb {
class ColumnFamilyHandle;
class DB;
class Snapshot;
class WriteBatch;
}  // namespace rocksdb

namespace lattice::storage {

namespace internal {
class ReadView;
struct RoomData;
struct RoomState;
}  // namespace internal

// What LoadRoom returns: everything needed to rebuild a room's state.
struct LoadedRoom {
  Epoch epoch = 0;
  // The latest snapshot, if the room has one.
  std::optional<Snapshot> snapshot;
  // Every change after the snapshot (after seq 0 without one), streamed.
  std::unique_ptr<ChangeIterator> tail;
  // The last seq of the log when loaded; `tail` ends there.
  Seq last_seq = 0;
};

// Invariants, per room (held at every commit, checked on read):
//   1. The retained log is exactly the changes trimmed_through+1..last_seq:
//      no holes, every record decodable.
//   2. trimmed_through <= snapshot seq <= last_seq when a snapshot exists;
//      nothing is trimmed without one.
//   3. A snapshot, the trim below it and the metadata naming both are written
//      in one WriteBatch, so a crash leaves all of the old or all of the new.
//   4. The epoch changes whenever the sequence numbering restarts or the
//      history is rewritten; seqs are never reused within an epoch (except
//      after a power loss in kProcess mode, see docs/storage.md).
class RoomStore {
 public:
  // Opens (or creates) the store in directory `path`.
  // Errors: NotFound when the directory holds no store and
  // !options.create_if_missing; FailedPrecondition when it was written by an
  // incompatible format version; Unavailable when another process holds it or
  // on I/O errors; DataLoss when RocksDB finds corruption.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RoomStore>> Open(
      absl::string_view path, const RoomStoreOptions& options);

  RoomStore(const RoomStore&) = delete;
  RoomStore& operator=(const RoomStore&) = delete;
  // Waits for no one: REQUIRES no call in progress and no live iterator.
  ~RoomStore();

  // Appends `changes` to the room's log in order, assigning the next
  // consecutive seqs, and returns them with the room's epoch. The first Append
  // to an unknown room creates it (new epoch, seqs from 1). All or nothing:
  // on error no seq is consumed. Returns once durable per options.durability.
  // Errors: InvalidArgument (bad room id, empty batch); Unavailable or
  // ResourceExhausted when the write fails (the store then rejects further
  // writes until reopened); DataLoss when the room's records are corrupt.
  [[nodiscard]] absl::StatusOr<AppendResult> Append(
      absl::string_view room, absl::Span<const absl::string_view> changes);

  // Streams the changes after `after` for a client resuming at (epoch, after).
  // Errors: NotFound (no such room); FailedPrecondition when `epoch` is not
  // the room's current epoch (the client must fall back to version-vector
  // sync); OutOfRange when `after` is below the retained log
  // (after < trimmed_through: those changes are only in the snapshot) or past
  // its end (after > last_seq); DataLoss on corrupt metadata.
  // after == last_seq yields an empty, OK iterator.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<ChangeIterator>> ReadAfter(
      absl::string_view room, Epoch epoch, Seq after);

  // Stores `bytes` as the room's snapshot at `seq` (replacing the previous
  // one) and, in the same WriteBatch, trims the log through
  // min(seq, last_seq - replay_window_changes, <last change older than
  // replay_window_age>). `epoch` is the epoch the snapshot was built from.
  // Errors: NotFound (no such room); FailedPrecondition when `epoch` is stale
  // or `seq` is below the current snapshot's seq; OutOfRange when
  // seq > last_seq; InvalidArgument (bad room id).
  [[nodiscard]] absl::StatusOr<SnapshotResult> WriteSnapshot(
      absl::string_view room, Epoch epoch, Seq seq, absl::string_view bytes);

  // Returns the room's epoch, latest snapshot and a stream of the changes
  // after it: all that is needed to rebuild the room lazily.
  // Errors: NotFound (no such room); DataLoss when the snapshot and metadata
  // disagree or a record is corrupt.
  [[nodiscard]] absl::StatusOr<LoadedRoom> LoadRoom(absl::string_view room);

  // Replaces the room's presence checkpoint (state only, no history).
  // Errors: NotFound (no such room); InvalidArgument; write errors as Append.
  [[nodiscard]] absl::Status PutPresence(absl::string_view room,
                                         absl::string_view state);
  // Returns the latest presence checkpoint.
  // Errors: NotFound when the room or its checkpoint does not exist.
  [[nodiscard]] absl::StatusOr<std::string> GetPresence(absl::string_view room);

  // Returns up to `limit` room ids in key order (shorter ids first, then
  // bytewise) strictly after `start_after` ("" = from the beginning).
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> ListRooms(
      absl::string_view start_after = {}, size_t limit = 1000);

  // Errors: NotFound (no such room); DataLoss on corrupt metadata.
  [[nodiscard]] absl::StatusOr<RoomInfo> GetRoomInfo(absl::string_view room);

  // Deletes the room's log, snapshot, presence and metadata in one
  // WriteBatch. A later Append re-creates it under a new epoch.
  // Errors: NotFound (no such room).
  [[nodiscard]] absl::Status DeleteRoom(absl::string_view room);

  // Replaces the room's whole history by `snapshot` (seq 0) under a new
  // epoch, creating the room if needed; the next Append gets seq 1. For
  // restoring a room from an export or rewriting its history. Returns the
  // new epoch.
  [[nodiscard]] absl::StatusOr<Epoch> RestoreRoom(absl::string_view room,
                                                  absl::string_view snapshot);

  // Gives the room a new epoch without changing its contents, invalidating
  // every client's resume point. Use after restoring the data directory from
  // a backup (clients may hold seqs the backup does not). Returns the epoch.
  // Errors: NotFound (no such room).
  [[nodiscard]] absl::StatusOr<Epoch> StartNewEpoch(absl::string_view room);

  // Writes all memtables to SST files and waits, so reopening replays no
  // WAL. For shutdown, backups and benchmarks; never needed for durability.
  [[nodiscard]] absl::Status Flush();

 private:
  struct Writer;

  RoomStore(const RoomStoreOptions& options, std::unique_ptr<rocksdb::DB> db,
            std::vector<rocksdb::ColumnFamilyHandle*> handles);

  // Returns the commit-queue state of `room`, loading it from disk on first
  // use.
  absl::StatusOr<internal::RoomState*> GetRoomState(absl::string_view room)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Reads the room's metadata and last change through `view`.
  // Errors: DataLoss when they are corrupt or inconsistent.
  absl::StatusOr<internal::RoomData> ReadRoomData(
      const internal::ReadView& view, absl::string_view room);

  // Runs `w` through the commit queue (group commit) and returns its status;
  // the leader fills `w`'s results.
  absl::Status Commit(Writer& w) ABSL_LOCKS_EXCLUDED(mu_);
  // Leader: decides each writer's effect on `tentative` copies of the room
  // states (published only if the write succeeds) and sets failed writers'
  // statuses.
  void PlanGroupLocked(
      const std::vector<Writer*>& group, int64_t now_micros,
      absl::flat_hash_map<internal::RoomState*, internal::RoomData>& tentative)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Leader, outside mu_: adds the planned writes of `w` to `batch`.
  absl::Status AddToBatch(const Writer& w, rocksdb::WriteBatch& batch);
  Epoch DrawEpochLocked(Epoch avoid) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Largest seq <= limit that WriteSnapshot may trim under the age window.
  absl::StatusOr<Seq> AgeTrimLimit(absl::string_view room, Seq trimmed_through,
                                   Seq limit);
  int64_t NowMicros() const;

  rocksdb::ColumnFamilyHandle* changes_cf() const { return handles_[1]; }
  rocksdb::ColumnFamilyHandle* snapshots_cf() const { return handles_[2]; }
  rocksdb::ColumnFamilyHandle* presence_cf() const { return handles_[3]; }
  rocksdb::ColumnFamilyHandle* meta_cf() const { return handles_[4]; }

  // Immutable after construction.
  const RoomStoreOptions options_;
  const std::unique_ptr<rocksdb::DB> db_;
  // default, changes, snapshots, presence, meta (owned; destroyed before db_).
  const std::vector<rocksdb::ColumnFamilyHandle*> handles_;

  absl::Mutex mu_;
  // Commit queue: the front writer is the leader of the next group.
  std::deque<Writer*> writers_ ABSL_GUARDED_BY(mu_);
  // Rooms touched by a mutation since Open. Entries are never erased, so the
  // pointers held by queued writers stay valid.
  absl::flat_hash_map<std::string, std::unique_ptr<internal::RoomState>> rooms_
      ABSL_GUARDED_BY(mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lattice::storage

#endif  // LATTICE_STORAGE_ROOM_STORE_H_
