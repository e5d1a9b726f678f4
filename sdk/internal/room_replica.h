// The client side of one room's sync state, without I/O: the local replica
// of each document, the room's presence replica and its resume point, and
// the protocol rules that move them (docs/protocol.md, docs/sdk-cpp.md).
// SyncClient (blocking, one connection) and Client (reconnecting,
// persistent) both keep one RoomReplica per room, so the rules live here
// once.
//
//   RoomReplica room(replica);
//   protocol::JoinFrame join = room.MakeJoin(ref, "board");   // send it
//   room.ApplySnapshot(snapshot_frame);                        // catch-up
//   room.ApplyUpdate(update_frame);
//   room.SetResume({joined.epoch, joined.seq});
//   for (auto& [doc, update] : room.MissingOnServer(joined.versions)) ...
//
// Thread safety: not thread-safe; the owner serialises every call (both
// clients hold their mutex).
#ifndef LATTICE_SDK_INTERNAL_ROOM_REPLICA_H_
#define LATTICE_SDK_INTERNAL_ROOM_REPLICA_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "crdt/doc.h"
#include "crdt/presence.h"
#include "engine/protocol/frames.h"
#include "sdk/resume_point.h"

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/time/time.h"

namespace lattice::sdk::internal {

// Local state of one room. Owns its documents and presence replica.
//
// Invariants:
//  1. The resume point moves only forward within its epoch, except through
//     SetResume (the server's word in joined, or the caller's).
//  2. Every document has this replica id, whatever its origin (created,
//     loaded from a snapshot, or from the local store).
class RoomReplica {
 public:
  // Called when a document object is created or replaced (a snapshot
  // loaded), so the owner can attach an observer or persist it.
  using DocHook = std::function<void(const std::string& doc, crdt::Doc&)>;

  // REQUIRES: replica != 0.
  explicit RoomReplica(uint64_t replica) : replica_(replica) {}
  RoomReplica(const RoomReplica&) = delete;
  RoomReplica& operator=(const RoomReplica&) = delete;

  void set_doc_hook(DocHook hook) { doc_hook_ = std::move(hook); }

  const ResumePoint& resume() const { return resume_; }
  void SetResume(ResumePoint p) { resume_ = p; }
  // Moves the resume point to (epoch, seq) of an update or ack: forward
  // within its epoch; a room joined before it had a log (epoch 0) takes the
  // epoch of its first such frame. seq 0 (a computed catch-up) moves
  // nothing.
  void Advance(uint64_t epoch, uint64_t seq);

  // The join frame: resume point and every local document's version.
  engine::protocol::JoinFrame MakeJoin(uint64_t ref,
                                       const std::string& room) const;
  // Per local document, the ops `server` (joined.versions) lacks, as
  // (doc, update) in document order; documents the server has whole are
  // skipped. An undecodable server vector counts as empty.
  std::vector<std::pair<std::string, std::string>> MissingOnServer(
      const std::vector<engine::protocol::DocVersion>& server) const;

  // Applies an update frame and advances the resume point. Errors: the
  // document's refusal, prefixed with room/doc and seq.
  [[nodiscard]] absl::Status ApplyUpdate(
      const engine::protocol::UpdateFrame& f);
  // Loads a snapshot frame into a fresh replica (SnapshotCheck::kStructure:
  // the server is the client's source of truth), merging back local ops the
  // snapshot lacks, so a snapshot never loses a local edit. Errors: the
  // decoder's; the local replica is then kept.
  [[nodiscard]] absl::Status ApplySnapshot(
      const engine::protocol::SnapshotFrame& f);
  // Applies a presence_update frame's bytes to the presence replica
  // (created on first use). Returns the generation before, for
  // Presence::ChangesSince.
  [[nodiscard]] absl::StatusOr<uint64_t> ApplyPresence(absl::string_view bytes,
                                                       absl::Time now);

  // The document, created empty on first use.
  crdt::Doc& Doc(const std::string& name);
  // Adds a document loaded elsewhere (the local store). REQUIRES: its
  // replica id is this room's.
  void PutDoc(const std::string& name, std::unique_ptr<crdt::Doc> doc);
  const crdt::Doc* FindDoc(const std::string& name) const;
  const absl::btree_map<std::string, std::unique_ptr<crdt::Doc>>& docs() const {
    return docs_;
  }
  // Null before the first presence frame.
  const crdt::Presence* presence() const { return presence_.get(); }
  // Forgets the presence replica (the connection ended: the server sends
  // the whole state after the next joined).
  void ResetPresence() { presence_.reset(); }

 private:
  const uint64_t replica_;
  DocHook doc_hook_;
  ResumePoint resume_;
  // Ordered so that join frames list documents in a stable order.
  absl::btree_map<std::string, std::unique_ptr<crdt::Doc>> docs_;
  std::unique_ptr<crdt::Presence> presence_;
};

}  // namespace lattice::sdk::internal

#endif  // LATTICE_SDK_INTERNAL_ROOM_REPLICA_H_
