// RoomStore: opening and the read paths. Mutations and the commit queue are
// in room_store_write.cc.
#include "storage/room_store.h"

#include <limits>
#include <utility>

#include <rocksdb/cache.h>
#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>

#include "base/logging.h"
#include "base/status_macros.h"
#include "storage/internal/format.h"
#include "storage/internal/log_iterator.h"
#include "storage/internal/read_view.h"
#include "storage/internal/rocksdb_status.h"
#include "storage/internal/room_state.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace lattice::storage {
namespace {

using internal::ChangeKey;
using internal::FromRocksDb;
using internal::ReadView;
using internal::RoomData;
using internal::RoomKey;
using internal::ToSlice;
using internal::ToStringView;

constexpr Seq kMaxSeq = std::numeric_limits<Seq>::max();

std::string Quote(absl::string_view room) {
  return absl::StrCat("\"", absl::CHexEscape(room), "\"");
}

absl::Status RoomNotFound(absl::string_view room) {
  return absl::NotFoundError(
      absl::StrCat("storage: room ", Quote(room), " not found"));
}

// Destroys column family handles, then the DB, when opening fails halfway.
void CloseDb(rocksdb::DB& db,
             const std::vector<rocksdb::ColumnFamilyHandle*>& handles) {
  for (rocksdb::ColumnFamilyHandle* h : handles) {
    (void)db.DestroyColumnFamilyHandle(h);
  }
  rocksdb::Status s = db.Close();
  if (!s.ok()) LATTICE_LOG(kWarning) << "storage: close: " << s.ToString();
}

// Checks the store format marker, writing it into a new store.
absl::Status CheckFormat(rocksdb::DB& db, absl::string_view path) {
  std::string value;
  rocksdb::Status s =
      db.Get(rocksdb::ReadOptions(), internal::kStoreFormatKey, &value);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions wo;
    wo.sync = true;
    const std::string marker(1,
                             static_cast<char>(internal::kStoreFormatVersion));
    return FromRocksDb(db.Put(wo, internal::kStoreFormatKey, marker),
                       "write format marker");
  }
  if (!s.ok()) return FromRocksDb(s, "read format marker");
  if (value.size() != 1 ||
      static_cast<uint8_t>(value[0]) != internal::kStoreFormatVersion) {
    return absl::FailedPreconditionError(absl::StrCat(
        "storage: ", path, " holds store format ",
        absl::BytesToHexString(value), "; this build reads format ",
        static_cast<int>(internal::kStoreFormatVersion)));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<RoomStore>> RoomStore::Open(
    absl::string_view path, const RoomStoreOptions& options) {
  const std::string dir(path);
  rocksdb::Env* env = options.env ? options.env : rocksdb::Env::Default();
  if (!options.create_if_missing && !env->FileExists(dir + "/CURRENT").ok()) {
    return absl::NotFoundError(absl::StrCat("storage: no room store in ", dir));
  }

  rocksdb::DBOptions db_options;
  db_options.env = env;
  db_options.create_if_missing = options.create_if_missing;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 5;
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;

  rocksdb::BlockBasedTableOptions table;
  table.block_cache = rocksdb::NewLRUCache(options.block_cache_bytes);
  rocksdb::ColumnFamilyOptions cf_options;
  cf_options.write_buffer_size = options.write_buffer_bytes;
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, cf_options},
      {internal::kChangesCf, cf_options},
      {internal::kSnapshotsCf, cf_options},
      {internal::kPresenceCf, cf_options},
      {internal::kMetaCf, cf_options},
  };
  rocksdb::DB* raw = nullptr;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::Status s =
      rocksdb::DB::Open(db_options, dir, descriptors, &handles, &raw);
  std::unique_ptr<rocksdb::DB> db(raw);
  if (!s.ok()) return FromRocksDb(s, absl::StrCat("open ", dir));
  if (absl::Status f = CheckFormat(*db, dir); !f.ok()) {
    CloseDb(*db, handles);
    return f;
  }
  return std::unique_ptr<RoomStore>(
      new RoomStore(options, std::move(db), std::move(handles)));
}

RoomStore::RoomStore(const RoomStoreOptions& options,
                     std::unique_ptr<rocksdb::DB> db,
                     std::vector<rocksdb::ColumnFamilyHandle*> handles)
    : options_(options), db_(std::move(db)), handles_(std::move(handles)) {}

RoomStore::~RoomStore() { CloseDb(*db_, handles_); }

int64_t RoomStore::NowMicros() const {
  return absl::ToUnixMicros(options_.clock ? options_.clock() : absl::Now());
}

absl::StatusOr<RoomData> RoomStore::ReadRoomData(const ReadView& view,
                                                 absl::string_view room) {
  const std::string room_key = RoomKey(room);
  LATTICE_ASSIGN_OR_RETURN(
      std::optional<std::string> meta_value,
      view.Get(meta_cf(), room_key, absl::StrCat("read meta of room ", room)));
  RoomData data;
  if (meta_value.has_value()) {
    LATTICE_ASSIGN_OR_RETURN(data.meta,
                             internal::DecodeMeta(room, room_key, *meta_value));
    data.exists = true;
  }

  // The last change: the greatest key of the room's range.
  const std::string lower = ChangeKey(room, 0);
  const rocksdb::Slice lower_slice = ToSlice(lower);
  rocksdb::ReadOptions ro = view.options();
  ro.iterate_lower_bound = &lower_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, changes_cf()));
  it->SeekForPrev(ToSlice(ChangeKey(room, kMaxSeq)));
  if (!it->status().ok()) {
    return FromRocksDb(it->status(), absl::StrCat("read log of room ", room));
  }
  data.last_seq = data.meta.trimmed_through;
  if (it->Valid()) {
    const absl::string_view key = ToStringView(it->key());
    LATTICE_ASSIGN_OR_RETURN(Seq seq, internal::DecodeChangeKey(room, key));
    if (!data.exists) {
      return internal::CorruptionError(internal::kChangesCf, room, key,
                                       "change without room metadata");
    }
    if (seq <= data.meta.trimmed_through) {
      return internal::CorruptionError(
          internal::kChangesCf, room, key,
          absl::StrCat("change at or below trimmed seq ",
                       data.meta.trimmed_through));
    }
    LATTICE_ASSIGN_OR_RETURN(
        internal::ChangeRecord record,
        internal::DecodeChangeValue(room, key, ToStringView(it->value())));
    data.last_seq = seq;
    data.last_append_micros = record.append_micros;
  }
  if (data.exists && data.meta.has_snapshot &&
      data.meta.snapshot_seq > data.last_seq) {
    return internal::CorruptionError(
        internal::kMetaCf, room, room_key,
        absl::StrCat("snapshot seq ", data.meta.snapshot_seq,
                     " beyond last change ", data.last_seq));
  }
  return data;
}

absl::StatusOr<std::unique_ptr<ChangeIterator>> RoomStore::ReadAfter(
    absl::string_view room, Epoch epoch, Seq after) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  auto view = std::make_unique<ReadView>(*db_);
  LATTICE_ASSIGN_OR_RETURN(RoomData data, ReadRoomData(*view, room));
  if (!data.exists) return RoomNotFound(room);
  if (data.meta.epoch != epoch) {
    return absl::FailedPreconditionError(
        absl::StrCat("storage: room ", Quote(room), ": epoch ", epoch,
                     " is not the current epoch ", data.meta.epoch));
  }
  if (after > data.last_seq) {
    return absl::OutOfRangeError(absl::StrCat(
        "storage: room ", Quote(room), ": seq ", after,
        " is past the end of the log (last seq ", data.last_seq, ")"));
  }
  if (after < data.meta.trimmed_through) {
    return absl::OutOfRangeError(
        absl::StrCat("storage: room ", Quote(room), ": seq ", after,
                     " is below the retained log (trimmed through ",
                     data.meta.trimmed_through, ")"));
  }
  return std::make_unique<internal::LogIterator>(
      *db_, changes_cf(), std::move(view), room, after + 1, data.last_seq);
}

absl::StatusOr<LoadedRoom> RoomStore::LoadRoom(absl::string_view room) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  auto view = std::make_unique<ReadView>(*db_);
  LATTICE_ASSIGN_OR_RETURN(RoomData data, ReadRoomData(*view, room));
  if (!data.exists) return RoomNotFound(room);
  LoadedRoom loaded;
  loaded.epoch = data.meta.epoch;
  loaded.last_seq = data.last_seq;
  if (data.meta.has_snapshot) {
    const std::string key = RoomKey(room);
    LATTICE_ASSIGN_OR_RETURN(
        std::optional<std::string> value,
        view->Get(snapshots_cf(), key,
                  absl::StrCat("read snapshot of room ", room)));
    if (!value.has_value()) {
      return internal::CorruptionError(
          internal::kMetaCf, room, key,
          absl::StrCat("metadata names snapshot seq ", data.meta.snapshot_seq,
                       " but there is no snapshot record"));
    }
    LATTICE_ASSIGN_OR_RETURN(internal::SnapshotRecord record,
                             internal::DecodeSnapshot(room, key, *value));
    if (record.seq != data.meta.snapshot_seq) {
      return internal::CorruptionError(
          internal::kSnapshotsCf, room, key,
          absl::StrCat("snapshot seq ", record.seq, " but metadata says ",
                       data.meta.snapshot_seq));
    }
    Snapshot snapshot;
    snapshot.seq = record.seq;
    value->erase(0, internal::kSnapshotHeaderSize);  // no second copy
    snapshot.bytes = std::move(*value);
    loaded.snapshot = std::move(snapshot);
  }
  const Seq from = loaded.snapshot.has_value() ? loaded.snapshot->seq : 0;
  loaded.tail = std::make_unique<internal::LogIterator>(
      *db_, changes_cf(), std::move(view), room, from + 1, data.last_seq);
  return loaded;
}

absl::StatusOr<std::string> RoomStore::GetPresence(absl::string_view room) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  ReadView view(*db_);
  const std::string key = RoomKey(room);
  LATTICE_ASSIGN_OR_RETURN(
      std::optional<std::string> meta,
      view.Get(meta_cf(), key, absl::StrCat("read meta of room ", room)));
  if (!meta.has_value()) return RoomNotFound(room);
  LATTICE_ASSIGN_OR_RETURN(
      std::optional<std::string> value,
      view.Get(presence_cf(), key,
               absl::StrCat("read presence of room ", room)));
  if (!value.has_value()) {
    return absl::NotFoundError(absl::StrCat("storage: room ", Quote(room),
                                            " has no presence checkpoint"));
  }
  LATTICE_ASSIGN_OR_RETURN(internal::PresenceRecord record,
                           internal::DecodePresence(room, key, *value));
  return std::string(record.state);
}

absl::StatusOr<std::vector<std::string>> RoomStore::ListRooms(
    absl::string_view start_after, size_t limit) {
  ReadView view(*db_);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(view.options(), meta_cf()));
  std::string start_key;
  if (start_after.empty()) {
    it->SeekToFirst();
  } else {
    LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(start_after));
    start_key = RoomKey(start_after);
    it->Seek(ToSlice(start_key));
  }
  std::vector<std::string> rooms;
  for (; it->Valid() && rooms.size() < limit; it->Next()) {
    if (!start_key.empty() && ToStringView(it->key()) == start_key) continue;
    LATTICE_ASSIGN_OR_RETURN(
        std::string room,
        internal::DecodeRoomKey(internal::kMetaCf, ToStringView(it->key())));
    rooms.push_back(std::move(room));
  }
  if (!it->status().ok()) return FromRocksDb(it->status(), "list rooms");
  return rooms;
}

absl::StatusOr<RoomInfo> RoomStore::GetRoomInfo(absl::string_view room) {
  LATTICE_RETURN_IF_ERROR(internal::ValidateRoomId(room));
  RoomData data;
  {
    ReadView view(*db_);
    LATTICE_ASSIGN_OR_RETURN(data, ReadRoomData(view, room));
  }
  if (!data.exists) return RoomNotFound(room);
  RoomInfo info;
  info.epoch = data.meta.epoch;
  info.first_seq = data.meta.trimmed_through + 1;
  info.last_seq = data.last_seq;
  if (data.meta.has_snapshot) info.snapshot_seq = data.meta.snapshot_seq;
  info.created = absl::FromUnixMicros(data.meta.created_micros);

  rocksdb::SizeApproximationOptions size_options;
  size_options.include_memtables = true;
  size_options.include_files = true;
  const std::string log_begin = ChangeKey(room, 0);
  const std::string log_end = ChangeKey(room, kMaxSeq);
  const std::string snapshot_begin = RoomKey(room);
  const std::string snapshot_end = snapshot_begin + std::string(1, '\0');
  const rocksdb::Range log_range(ToSlice(log_begin), ToSlice(log_end));
  const rocksdb::Range snapshot_range(ToSlice(snapshot_begin),
                                      ToSlice(snapshot_end));
  uint64_t log_bytes = 0;
  uint64_t snapshot_bytes = 0;
  rocksdb::Status s = db_->GetApproximateSizes(size_options, changes_cf(),
                                               &log_range, 1, &log_bytes);
  if (s.ok()) {
    s = db_->GetApproximateSizes(size_options, snapshots_cf(), &snapshot_range,
                                 1, &snapshot_bytes);
  }
  if (!s.ok()) return FromRocksDb(s, "approximate room size");
  info.approximate_bytes = log_bytes + snapshot_bytes;
  return info;
}

absl::Status RoomStore::Flush() {
  rocksdb::FlushOptions flush_options;
  flush_options.wait = true;
  return FromRocksDb(db_->Flush(flush_options, handles_), "flush memtables");
}

}  // namespace lattice::storage
