// The per-room metadata the commit queue tracks in memory (see
// RoomStore::Commit): enough to assign seqs and validate mutations without
// reading RocksDB on the write path.
//
// Thread safety: RoomState::committed is guarded by the owning RoomStore's
// mutex; a group leader changes only copies, then publishes them under it.
#ifndef LATTICE_STORAGE_INTERNAL_ROOM_STATE_H_
#define LATTICE_STORAGE_INTERNAL_ROOM_STATE_H_

#include <cstdint>
#include <string>

#include "storage/internal/format.h"
#include "storage/types.h"

namespace lattice::storage::internal {

struct RoomData {
  bool exists = false;  // false: never created, or deleted
  MetaRecord meta;      // meaningful only when exists
  Seq last_seq = 0;     // >= meta.trimmed_through
  // Highest append time in the log; appends never go back in time, so the
  // log is ordered by time as well as seq (WriteSnapshot bisects on it).
  int64_t last_append_micros = 0;
};

struct RoomState {
  explicit RoomState(std::string id, const RoomData& data)
      : room(std::move(id)), committed(data) {}
  const std::string room;
  RoomData committed;  // as durable in RocksDB
};

}  // namespace lattice::storage::internal

#endif  // LATTICE_STORAGE_INTERNAL_ROOM_STATE_H_
