// ClientCore: the server's frames, and the local store writes they cause.
#include <utility>

#include "base/logging.h"
#include "sdk/internal/client_core.h"

#include "absl/strings/str_cat.h"

namespace lattice::sdk::internal {
namespace {

constexpr uint8_t Tag(protocol::FrameType type) {
  return static_cast<uint8_t>(type);
}

}  // namespace

void ClientCore::Handle(protocol::WelcomeFrame& f) {
  attempt_ = 0;
  ++connections_;
  session_id_ = f.session_id;
  SetEvent(StateEvent(ConnectionState::kConnected));
  for (auto& [name, room] : rooms_) {
    if (room->wanted) SendJoin(name, *room);
  }
}

void ClientCore::Handle(protocol::JoinedFrame& f) {
  RoomEntry* room = FindRoom(f.room);
  if (room == nullptr || !room->wanted || room->join_ref != f.ref) return;
  room->join_ref = 0;
  room->joined = true;
  room->access = static_cast<uint8_t>(f.access);
  room->last_error.clear();
  room->replica.SetResume({f.epoch, f.seq});
  PersistResume(f.room, *room);
  if (f.access == protocol::RoomAccess::kWrite) {
    // Offline edits, changes whose ack was lost, local ops a snapshot
    // lacked: all are exactly what the server's versions lack.
    for (auto& [doc, update] : room->replica.MissingOnServer(f.versions)) {
      SendChange(f.room, doc, std::move(update));
    }
    room->offline_edits = 0;
  }
  ResendPresence(f.room, *room);
}

void ClientCore::Handle(protocol::UpdateFrame& f) {
  RoomEntry* room = FindRoom(f.room);
  if (room == nullptr || !room->wanted) return;
  if (absl::Status s = room->replica.ApplyUpdate(f); !s.ok()) {
    room->last_error = std::string(s.message());
    LATTICE_LOG(kWarning) << "lattice client: " << s;
  }
  if (absl::Status s = Persist(f.room, *room, f.doc, f.update,
                               /*with_resume=*/true);
      !s.ok()) {
    LATTICE_LOG(kWarning) << "lattice client: " << s;
  }
}

void ClientCore::Handle(protocol::SnapshotFrame& f) {
  RoomEntry* room = FindRoom(f.room);
  if (room == nullptr || !room->wanted) return;
  if (absl::Status s = room->replica.ApplySnapshot(f); !s.ok()) {
    room->last_error = std::string(s.message());
    LATTICE_LOG(kWarning) << "lattice client: " << s;
    return;
  }
  collected_.push_back({f.room, f.doc, {}, /*reset=*/true});
  if (absl::Status s = PersistSnapshot(f.room, *room, f.doc); !s.ok()) {
    LATTICE_LOG(kWarning) << "lattice client: " << s;
  }
}

void ClientCore::Handle(protocol::AckFrame& f) {
  unacked_.erase(f.client_seq);
  RoomEntry* room = FindRoom(f.room);
  if (room == nullptr) return;
  const ResumePoint before = room->replica.resume();
  room->replica.Advance(f.epoch, f.seq);
  if (!(room->replica.resume() == before)) PersistResume(f.room, *room);
}

void ClientCore::Handle(protocol::LeftFrame& f) {
  if (RoomEntry* room = FindRoom(f.room)) room->joined = false;
}

void ClientCore::Handle(protocol::PresenceUpdateFrame& f) {
  RoomEntry* room = FindRoom(f.room);
  if (room == nullptr || !room->wanted) return;
  absl::StatusOr<uint64_t> before =
      room->replica.ApplyPresence(f.presence, absl::Now());
  if (!before.ok()) {
    LATTICE_LOG(kWarning) << "lattice client: presence of " << f.room << ": "
                          << before.status();
    return;
  }
  if (room->on_presence) {
    Emit([cb = room->on_presence,
          changes = room->replica.presence()->ChangesSince(*before)] {
      cb(changes);
    });
  }
}

void ClientCore::Handle(protocol::ErrorFrame& f) {
  const std::string what = absl::StrCat(f.code, ": ", f.message);
  if (f.ref_type == Tag(protocol::FrameType::kHello)) {
    // The close (4001 or 4003) follows; it must not be retried blindly.
    auth_failed_ = true;
    hello_error_ = absl::StrCat("hello refused: ", what);
    return;
  }
  RoomEntry* room = FindRoom(f.room);
  if (f.ref_type == Tag(protocol::FrameType::kChange)) {
    // Refused (e.g. rate_limited, too_large): its ops stay local and go
    // out again after the next joined, as everything the server lacks.
    if (unacked_.erase(f.ref) > 0 && room != nullptr) ++room->offline_edits;
  }
  if (room == nullptr) return;
  room->last_error = what;
  if (f.ref_type == Tag(protocol::FrameType::kJoin) &&
      (f.ref == room->join_ref || f.ref == 0)) {
    room->join_ref = 0;
    room->joined = false;
  }
}

// ---- Helpers

ClientCore::RoomEntry* ClientCore::FindRoom(const std::string& room) {
  auto it = rooms_.find(room);
  return it == rooms_.end() ? nullptr : it->second.get();
}

const ClientCore::RoomEntry* ClientCore::FindRoom(
    const std::string& room) const {
  auto it = rooms_.find(room);
  return it == rooms_.end() ? nullptr : it->second.get();
}

void ClientCore::SendJoin(const std::string& name, RoomEntry& room) {
  room.join_ref = next_ref_++;
  Send(room.replica.MakeJoin(room.join_ref, name));
}

void ClientCore::Send(const protocol::Frame& frame) {
  if (ws_ == nullptr) return;
  ws_->Send(std::make_shared<const std::string>(protocol::EncodeFrame(frame)));
}

void ClientCore::SendChange(const std::string& room, const std::string& doc,
                            std::string update) {
  const uint64_t client_seq = next_client_seq_++;
  unacked_.insert_or_assign(client_seq, room);
  Send(protocol::ChangeFrame{room, doc, client_seq, std::move(update)});
}

absl::Status ClientCore::Persist(const std::string& room_name, RoomEntry& room,
                                 const std::string& doc,
                                 const std::string& update, bool with_resume) {
  if (store_ == nullptr) return absl::OkStatus();
  DocLog& log = room.logs[doc];
  std::optional<ResumePoint> resume;
  if (with_resume) resume = room.replica.resume();
  absl::Status s =
      store_->Append(room_name, doc, log.next_index, update, resume);
  if (!s.ok()) return s;
  ++log.next_index;
  if (++log.entries >= options_.compact_after) {
    return PersistSnapshot(room_name, room, doc);
  }
  return absl::OkStatus();
}

absl::Status ClientCore::PersistSnapshot(const std::string& room_name,
                                         RoomEntry& room,
                                         const std::string& doc) {
  if (store_ == nullptr) return absl::OkStatus();
  const crdt::Doc* d = room.replica.FindDoc(doc);
  if (d == nullptr) return absl::OkStatus();
  DocLog& log = room.logs[doc];
  absl::Status s =
      store_->SaveSnapshot(room_name, doc, d->EncodeSnapshot(), log.next_index);
  if (s.ok()) log.entries = 0;
  return s;
}

void ClientCore::PersistResume(const std::string& room_name,
                               const RoomEntry& room) {
  if (store_ == nullptr) return;
  if (absl::Status s = store_->SaveResume(room_name, room.replica.resume());
      !s.ok()) {
    // A stale resume point only costs a longer catch-up next time.
    LATTICE_LOG(kWarning) << "lattice client: " << s;
  }
}

void ClientCore::FlushChanges() {
  for (CollectedEvents& c : collected_) {
    RoomEntry* room = FindRoom(c.room);
    if (room == nullptr || !room->on_change) continue;
    DocChange change;
    change.doc = std::move(c.doc);
    change.reset = c.reset;
    change.local = !c.events.empty();
    for (const crdt::ChangeEvent& e : c.events) change.local &= e.local;
    change.events = std::move(c.events);
    Emit([cb = room->on_change, change = std::move(change)] { cb(change); });
  }
  collected_.clear();
}

}  // namespace lattice::sdk::internal
