// The SDK's local store: what an offline-first Client keeps on disk so that
// a process restarted while offline keeps its edits (docs/sdk-cpp.md,
// "Local store format"). Per room: the resume point, and per document a
// snapshot plus the updates applied since (local edits and remote changes
// alike), replayed on load. Unacknowledged edits need no queue of their
// own: they are ops of the documents, and after the next joined the client
// sends ChangesSince(server version), which holds exactly them.
//
//   auto store = LocalStore::Open("/var/lib/app/lattice");   // StatusOr
//   (*store)->Append("board", "tasks", 7, update, resume);     // one batch
//   auto room = (*store)->LoadRoom("board");
//
// Every write is one RocksDB WriteBatch (atomic). Writes are not fsynced:
// a process crash loses nothing written, a power loss may lose the last
// writes, which the server still has if they were acked.
//
// Thread safety: safe for concurrent use (RocksDB's guarantee); the Client
// calls it under its own mutex. One process at a time per directory
// (RocksDB's LOCK file: Open fails with Unavailable otherwise).
#ifndef LATTICE_SDK_LOCAL_STORE_H_
#define LATTICE_SDK_LOCAL_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sdk/resume_point.h"

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace rocksdb {
class DB;
}

namespace lattice::sdk {

// A document as stored: replay `log` (in order) onto `snapshot`.
struct StoredDoc {
  std::string snapshot;  // empty: none yet (an empty document)
  std::vector<std::string> log;
  uint64_t next_log_index = 0;  // the index the next Append must use
};

struct StoredRoom {
  ResumePoint resume;
  absl::btree_map<std::string, StoredDoc> docs;
};

class LocalStore {
 public:
  // Opens (creating if needed) the store in directory `dir`. Errors:
  // Unavailable when another process holds it; DataLoss for a corrupt
  // store; FailedPrecondition for a store of another format version.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<LocalStore>> Open(
      const std::string& dir);
  ~LocalStore();
  LocalStore(const LocalStore&) = delete;
  LocalStore& operator=(const LocalStore&) = delete;

  // The replica id saved by SaveReplica, or 0.
  [[nodiscard]] absl::StatusOr<uint64_t> LoadReplica() const;
  [[nodiscard]] absl::Status SaveReplica(uint64_t replica);

  // Everything stored of `room` (all empty when nothing is). Errors:
  // DataLoss for a malformed record.
  [[nodiscard]] absl::StatusOr<StoredRoom> LoadRoom(
      const std::string& room) const;
  // The rooms with anything stored, in byte order.
  [[nodiscard]] absl::StatusOr<std::vector<std::string>> Rooms() const;

  // Writes `update` as log entry `index` of (room, doc) and, when given, the
  // room's resume point, in one batch.
  [[nodiscard]] absl::Status Append(const std::string& room,
                                    const std::string& doc, uint64_t index,
                                    const std::string& update,
                                    std::optional<ResumePoint> resume);
  // Replaces the snapshot of (room, doc) and deletes its log entries below
  // `log_end`, in one batch (log compaction, or a snapshot from the server).
  [[nodiscard]] absl::Status SaveSnapshot(const std::string& room,
                                          const std::string& doc,
                                          const std::string& snapshot,
                                          uint64_t log_end);
  [[nodiscard]] absl::Status SaveResume(const std::string& room,
                                        ResumePoint resume);

 private:
  explicit LocalStore(std::unique_ptr<rocksdb::DB> db);
  // Immutable after construction.
  std::unique_ptr<rocksdb::DB> db_;
};

}  // namespace lattice::sdk

#endif  // LATTICE_SDK_LOCAL_STORE_H_
