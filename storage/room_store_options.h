// Options for RoomStore::Open (storage/room_store.h).
//
//   RoomStoreOptions options;
//   options.durability = Durability::kProcess;  // faster, see below
//   options.replay_window_changes = 5000;
//   auto store = RoomStore::Open("/var/lib/lattice/rooms", options);
//
// Thread safety: a plain value, copied by Open.
#ifndef LATTICE_STORAGE_ROOM_STORE_OPTIONS_H_
#define LATTICE_STORAGE_ROOM_STORE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace rocksdb {
class Env;
}  // namespace rocksdb

namespace lattice::storage {

// When a write is acknowledged (when Append and the other mutations return
// OK). docs/storage.md ("Durability") lists exactly what each mode may lose.
enum class Durability {
  // The write's WAL record is fsynced (fdatasync) before the call returns.
  // Concurrent writers, across all rooms, share one fsync (group commit).
  // Survives process crashes and power loss.
  kSync,
  // The WAL record is handed to the OS (write(2)) before the call returns but
  // not fsynced. Survives a process crash (kill -9, abort); a power loss or
  // kernel crash may lose the writes of roughly the last few seconds
  // (until the OS writes back its page cache, or a memtable flush syncs).
  kProcess,
};

struct RoomStoreOptions {
  // ---- Opening ----

  // Create the data directory and an empty store if none exists.
  // Default: true
  bool create_if_missing = true;

  // ---- Durability ----

  // Default: Durability::kSync
  Durability durability = Durability::kSync;

  // ---- Replay window (applied when WriteSnapshot trims the log) ----

  // WriteSnapshot never trims the newest `replay_window_changes` changes of a
  // room, so a client at most this many changes behind catches up from the
  // log instead of a snapshot or version-vector sync.
  // Default: 10000
  uint64_t replay_window_changes = 10000;

  // WriteSnapshot never trims a change appended less than this long ago
  // (append time >= now - replay_window_age is kept).
  // Default: 10 minutes
  absl::Duration replay_window_age = absl::Minutes(10);

  // ---- Resources ----

  // Memtable size of each column family; bounds the WAL replayed on open.
  // Default: 64 MiB
  size_t write_buffer_bytes = size_t{64} << 20;

  // Shared LRU block cache for all column families.
  // Default: 64 MiB
  size_t block_cache_bytes = size_t{64} << 20;

  // Upper bound on the bytes one group commit merges into a single WriteBatch
  // (a single larger write still goes alone).
  // Default: 4 MiB
  size_t max_group_commit_bytes = size_t{4} << 20;

  // ---- Dependencies (tests) ----

  // Source of append and snapshot times; must be safe to call from any
  // thread. Default: absl::Now
  std::function<absl::Time()> clock = [] { return absl::Now(); };

  // RocksDB environment (file system, threads). Not owned; must outlive the
  // store. Tests pass rocksdb::NewMemEnv or a fault-injecting file system.
  // Default: nullptr (rocksdb::Env::Default())
  rocksdb::Env* env = nullptr;
};

}  // namespace lattice::storage

#endif  // LATTICE_STORAGE_ROOM_STORE_OPTIONS_H_
