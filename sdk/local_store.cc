#include "sdk/local_store.h"

#include <utility>

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include "absl/strings/str_cat.h"

namespace lattice::sdk {
namespace {

// Key layout (docs/sdk-cpp.md, "Local store format"); integers big-endian
// so that log entries sort by index.
constexpr char kVersionKey[] = "\x00v";
constexpr char kReplicaKey[] = "\x00r";
constexpr char kFormatVersion = 1;
constexpr char kRoomTag = 'R';
constexpr char kResumeTag = 'P';
constexpr char kDocTag = 'D';
constexpr char kSnapshotTag = 'S';
constexpr char kLogTag = 'L';

void PutBe(std::string* out, uint64_t v, int bytes) {
  for (int i = bytes - 1; i >= 0; --i) {
    out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
}

uint64_t GetBe(absl::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) {
    v = (v << 8) | static_cast<uint8_t>(in[at + static_cast<size_t>(i)]);
  }
  return v;
}

// Length-prefixed, so that any name (even with NULs) sorts and parses.
void PutName(std::string* out, const std::string& name) {
  PutBe(out, name.size(), 4);
  out->append(name);
}

std::string RoomPrefix(const std::string& room) {
  std::string k(1, kRoomTag);
  PutName(&k, room);
  return k;
}

std::string ResumeKey(const std::string& room) {
  return RoomPrefix(room) + kResumeTag;
}

std::string DocPrefix(const std::string& room, const std::string& doc) {
  std::string k = RoomPrefix(room) + kDocTag;
  PutName(&k, doc);
  return k;
}

std::string SnapshotKey(const std::string& room, const std::string& doc) {
  return DocPrefix(room, doc) + kSnapshotTag;
}

std::string LogKey(const std::string& room, const std::string& doc,
                   uint64_t index) {
  std::string k = DocPrefix(room, doc) + kLogTag;
  PutBe(&k, index, 8);
  return k;
}

absl::Status ToStatus(const rocksdb::Status& s, absl::string_view what) {
  if (s.ok()) return absl::OkStatus();
  const std::string msg =
      absl::StrCat("local store: ", what, ": ", s.ToString());
  if (s.IsCorruption()) return absl::DataLossError(msg);
  if (s.IsIOError() || s.IsBusy() || s.IsTryAgain()) {
    return absl::UnavailableError(msg);
  }
  return absl::InternalError(msg);
}

absl::Status Malformed(absl::string_view what) {
  return absl::DataLossError(absl::StrCat("local store: malformed ", what));
}

}  // namespace

LocalStore::LocalStore(std::unique_ptr<rocksdb::DB> db) : db_(std::move(db)) {}
LocalStore::~LocalStore() = default;

absl::StatusOr<std::unique_ptr<LocalStore>> LocalStore::Open(
    const std::string& dir) {
  rocksdb::Options options;
  options.create_if_missing = true;
  // A client store is small; keep RocksDB's footprint small too.
  options.max_open_files = 64;
  options.keep_log_file_num = 2;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, dir, &raw);
  std::unique_ptr<rocksdb::DB> db(raw);
  if (!s.ok()) return ToStatus(s, absl::StrCat("open ", dir));
  std::string version;
  s = db->Get(rocksdb::ReadOptions(), kVersionKey, &version);
  if (s.IsNotFound()) {
    s = db->Put(rocksdb::WriteOptions(), rocksdb::Slice(kVersionKey, 2),
                rocksdb::Slice(&kFormatVersion, 1));
    if (!s.ok()) return ToStatus(s, "write format version");
  } else if (!s.ok()) {
    return ToStatus(s, "read format version");
  } else if (version != std::string(1, kFormatVersion)) {
    return absl::FailedPreconditionError(
        absl::StrCat("local store ", dir, ": unknown format version"));
  }
  return std::unique_ptr<LocalStore>(new LocalStore(std::move(db)));
}

absl::StatusOr<uint64_t> LocalStore::LoadReplica() const {
  std::string value;
  rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), rocksdb::Slice(kReplicaKey, 2), &value);
  if (s.IsNotFound()) return 0;
  if (!s.ok()) return ToStatus(s, "read replica id");
  if (value.size() != 8) return Malformed("replica id");
  return GetBe(value, 0, 8);
}

absl::Status LocalStore::SaveReplica(uint64_t replica) {
  std::string value;
  PutBe(&value, replica, 8);
  return ToStatus(
      db_->Put(rocksdb::WriteOptions(), rocksdb::Slice(kReplicaKey, 2), value),
      "write replica id");
}

absl::StatusOr<StoredRoom> LocalStore::LoadRoom(const std::string& room) const {
  StoredRoom out;
  const std::string prefix = RoomPrefix(room);
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix);
       it->Next()) {
    absl::string_view key(it->key().data(), it->key().size());
    key.remove_prefix(prefix.size());
    const absl::string_view value(it->value().data(), it->value().size());
    if (key.size() == 1 && key[0] == kResumeTag) {
      if (value.size() != 16) return Malformed("resume point");
      out.resume = {GetBe(value, 0, 8), GetBe(value, 8, 8)};
      continue;
    }
    if (key.size() < 6 || key[0] != kDocTag) return Malformed("room key");
    const uint64_t len = GetBe(key, 1, 4);
    if (key.size() < 5 + len + 1) return Malformed("document key");
    StoredDoc& doc = out.docs[std::string(key.substr(5, len))];
    key.remove_prefix(5 + len);
    if (key.size() == 1 && key[0] == kSnapshotTag) {
      doc.snapshot = std::string(value);
    } else if (key.size() == 9 && key[0] == kLogTag) {
      doc.log.emplace_back(value);
      doc.next_log_index = GetBe(key, 1, 8) + 1;
    } else {
      return Malformed("document record key");
    }
  }
  if (auto s = ToStatus(it->status(), "read room " + room); !s.ok()) return s;
  return out;
}

absl::StatusOr<std::vector<std::string>> LocalStore::Rooms() const {
  std::vector<std::string> rooms;
  std::unique_ptr<rocksdb::Iterator> it(
      db_->NewIterator(rocksdb::ReadOptions()));
  it->Seek(std::string(1, kRoomTag));
  while (it->Valid() && it->key().size() > 0 && it->key()[0] == kRoomTag) {
    absl::string_view key(it->key().data(), it->key().size());
    if (key.size() < 5) return Malformed("room key");
    const uint64_t len = GetBe(key, 1, 4);
    if (key.size() < 5 + len) return Malformed("room key");
    rooms.emplace_back(key.substr(5, len));
    // Every record of the room sorts below its prefix + 0xff.
    it->Seek(RoomPrefix(rooms.back()) + '\xff');
  }
  if (auto s = ToStatus(it->status(), "list rooms"); !s.ok()) return s;
  return rooms;
}

absl::Status LocalStore::Append(const std::string& room, const std::string& doc,
                                uint64_t index, const std::string& update,
                                std::optional<ResumePoint> resume) {
  rocksdb::WriteBatch batch;
  batch.Put(LogKey(room, doc, index), update);
  if (resume.has_value()) {
    std::string value;
    PutBe(&value, resume->epoch, 8);
    PutBe(&value, resume->seq, 8);
    batch.Put(ResumeKey(room), value);
  }
  return ToStatus(db_->Write(rocksdb::WriteOptions(), &batch),
                  absl::StrCat("append to ", room, "/", doc));
}

absl::Status LocalStore::SaveSnapshot(const std::string& room,
                                      const std::string& doc,
                                      const std::string& snapshot,
                                      uint64_t log_end) {
  rocksdb::WriteBatch batch;
  batch.Put(SnapshotKey(room, doc), snapshot);
  batch.DeleteRange(LogKey(room, doc, 0), LogKey(room, doc, log_end));
  return ToStatus(db_->Write(rocksdb::WriteOptions(), &batch),
                  absl::StrCat("snapshot of ", room, "/", doc));
}

absl::Status LocalStore::SaveResume(const std::string& room,
                                    ResumePoint resume) {
  std::string value;
  PutBe(&value, resume.epoch, 8);
  PutBe(&value, resume.seq, 8);
  return ToStatus(db_->Put(rocksdb::WriteOptions(), ResumeKey(room), value),
                  absl::StrCat("resume point of ", room));
}

}  // namespace lattice::sdk
