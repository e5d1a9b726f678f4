// Options of the sync engine: limits, timings and policies of rooms and
// sessions (engine/sync_server.h). Every field has a default that works out
// of the box on one node.
//
// Thread safety: a plain value; the engine keeps a const copy.
#ifndef LATTICE_ENGINE_ENGINE_OPTIONS_H_
#define LATTICE_ENGINE_ENGINE_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/time/time.h"

namespace lattice::engine {

struct EngineOptions {
  // ---- Identity ----
  // The CRDT replica id the server edits documents as (backend changes).
  // Must differ from every client's; clients draw random 64-bit ids.
  // Default: 1
  uint64_t server_replica = 1;
  // Prefixed to session ids (the welcome frame's session_id, presence
  // entries), so that they differ across restarts (entries of the previous
  // run come back from the presence checkpoint until their TTL) and across
  // the nodes of a cluster, and a node can tell its own sessions' entries
  // from the others'. Empty: SyncServer::Create draws one, 32 random bits on
  // one node and 64 in a cluster.
  std::string session_id_prefix;

  // ---- Auth ----
  // Accept hello without a token, granting read-write to every room. For
  // local development only; the server logs a warning at start.
  // Default: false
  bool anonymous = false;

  // ---- Per-connection limits ----
  // Rooms one connection may have joined at once. Default: 64
  uint64_t max_rooms_per_connection = 64;
  // Change frames per second (token bucket with a burst of one second's
  // worth). Default: 200
  double max_changes_per_second = 200;
  // Change payload bytes per second (same bucket rule). Default: 4 MiB
  double max_change_bytes_per_second = 4 << 20;
  // Event frames (ephemeral events, docs/protocol.md "Events") per second,
  // same bucket rule. Default: 50
  double max_events_per_second = 50;
  // Consecutive refused frames (bad frames, protocol errors) before the
  // connection is closed with kCloseProtocolError. Default: 16
  int max_consecutive_errors = 16;

  // ---- Events ----
  // Largest event payload, from a client (event frame) or the backend
  // (HTTP API). Default: 4 KiB
  uint64_t max_event_payload_bytes = 4 * 1024;

  // ---- Per-room limits ----
  // Members (joined connections) of one room. Default: 10,000
  uint64_t max_members_per_room = 10'000;
  // Named documents in one room. Default: 64
  uint64_t max_docs_per_room = 64;
  // A change to a document whose state holds more than this is refused
  // (crdt::Doc::MemoryUsage). Default: 64 MiB
  uint64_t max_doc_bytes = uint64_t{64} << 20;
  // Broadcasts buffered for a member still catching up (tail replay)
  // before it is closed with kCloseResyncRequired. Default: 8 MiB
  uint64_t max_catch_up_buffer_bytes = 8 << 20;

  // ---- Persistence policy ----
  // A room writes a snapshot after this many changes since its last one
  // (the store then trims the log, keeping its replay window). Default: 1000
  uint64_t snapshot_every_changes = 1000;
  // A room with no members for this long is snapshotted and unloaded.
  // Default: 30 s
  absl::Duration room_idle_unload = absl::Seconds(30);

  // ---- Presence (docs/protocol.md, "Presence") ----
  // Presence frames to one member are coalesced to at most one per tick; a
  // member whose last frame is older than a tick gets the next change at
  // once. Default: 33 ms
  absl::Duration presence_tick = absl::Milliseconds(33);
  // An entry with no heartbeat or write for this long is removed. Default:
  // 30 s
  absl::Duration presence_ttl = absl::Seconds(30);
  // A member with more than this many bytes waiting to be written gets no
  // presence frame this tick; the next one carries the latest state.
  // Default: 64 KiB
  uint64_t presence_max_backlog_bytes = 64 << 10;
  // Presence frames one connection may send per second (token bucket).
  // Default: 120
  double max_presence_per_second = 120;
  // A room with changed presence checkpoints it to the store at most this
  // often, so a restarted server starts from the current presence.
  // Default: 5 s
  absl::Duration presence_checkpoint_interval = absl::Seconds(5);

  // ---- Monitoring ----
  // GET /metrics reports per-room figures for this many of the busiest
  // loaded rooms (by fan-out rate, then members). Default: 10
  size_t metrics_busiest_rooms = 10;
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_ENGINE_OPTIONS_H_
