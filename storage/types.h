// Value types shared by the room store API (storage/room_store.h).
//
// A room's durable history is a log of opaque change records numbered by a
// per-room sequence (1, 2, 3, ...) within an epoch. The epoch identifies one
// incarnation of that history: it changes whenever the history is rewritten
// (RestoreRoom), restarted (DeleteRoom and re-creation) or declared
// discontinuous (StartNewEpoch), so an (epoch, seq) resume point held by a
// client is meaningful only while its epoch is the room's current epoch.
//
// Thread safety: plain values; distinct objects may be used concurrently.
#ifndef LATTICE_STORAGE_TYPES_H_
#define LATTICE_STORAGE_TYPES_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/time/time.h"

namespace lattice::storage {

// Per-room sequence number of a change. 0 means "before the first change".
using Seq = uint64_t;

// Identifies one incarnation of a room's history. Never 0 for an existing
// room; drawn at random, so epochs are not ordered.
using Epoch = uint64_t;

// The sequence range a successful Append assigned.
struct AppendResult {
  Epoch epoch = 0;
  Seq first_seq = 0;  // first change of the batch
  Seq last_seq = 0;   // last change of the batch; last_seq - first_seq + 1
                      // equals the batch size
};

// What WriteSnapshot did.
struct SnapshotResult {
  // Every change with seq <= trimmed_through is gone from the log (it was
  // trimmed by this or an earlier call). 0 if nothing was ever trimmed.
  Seq trimmed_through = 0;
};

// A room's latest snapshot: the encoded state after applying changes 1..seq
// of the current epoch.
struct Snapshot {
  Seq seq = 0;
  std::string bytes;
};

// Summary of one room, as returned by RoomStore::GetRoomInfo.
struct RoomInfo {
  Epoch epoch = 0;
  // Retained log: changes first_seq..last_seq are readable. When the log is
  // empty (never written, or fully trimmed), first_seq == last_seq + 1.
  Seq first_seq = 1;
  Seq last_seq = 0;
  // Seq of the latest snapshot, if the room has one.
  std::optional<Seq> snapshot_seq;
  // When the room (this epoch) was created.
  absl::Time created;
  // Approximate on-disk plus in-memory bytes of the room's changes and
  // snapshot (RocksDB's estimate; may lag recent writes or deletions).
  uint64_t approximate_bytes = 0;
};

}  // namespace lattice::storage

#endif  // LATTICE_STORAGE_TYPES_H_
