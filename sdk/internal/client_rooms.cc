// ClientCore: what Room handles call (join, leave, edit, read, status).
#include <algorithm>
#include <utility>

#include "base/logging.h"
#include "sdk/internal/client_core.h"

#include "absl/strings/str_cat.h"

namespace lattice::sdk::internal {

absl::Status ClientCore::JoinRoom(const std::string& name) {
  absl::MutexLock lock(&mu_);
  if (stopped_) {
    return absl::FailedPreconditionError(
        absl::StrCat("join ", name, ": client stopped"));
  }
  std::unique_ptr<RoomEntry>& room = rooms_[name];
  if (room == nullptr) {
    room = std::make_unique<RoomEntry>(replica_, ioc_);
    // Every document of the room reports its changes (Room::OnChange).
    room->replica.set_doc_hook(
        [this, name](const std::string& doc, crdt::Doc& d) {
          d.SetObserver(
              [this, name, doc](const std::vector<crdt::ChangeEvent>& events)
                  ABSL_NO_THREAD_SAFETY_ANALYSIS {
                    // Docs change only under mu_.
                    collected_.push_back({name, doc, events, /*reset=*/false});
                  });
        });
    if (absl::Status s = LoadRoom(name, *room); !s.ok()) {
      rooms_.erase(name);
      return s;
    }
  } else if (room->wanted) {
    return absl::OkStatus();
  }
  room->wanted = true;
  if (event_.state == ConnectionState::kConnected) SendJoin(name, *room);
  Bump();
  return absl::OkStatus();
}

absl::Status ClientCore::LoadRoom(const std::string& name, RoomEntry& room) {
  if (store_ == nullptr) return absl::OkStatus();
  absl::StatusOr<StoredRoom> stored = store_->LoadRoom(name);
  if (!stored.ok()) return stored.status();
  room.replica.SetResume(stored->resume);
  for (auto& [doc_name, doc] : stored->docs) {
    // Our own data behind RocksDB's checksums: the structural check is
    // enough (crdt::SnapshotCheck).
    crdt::DocOptions options;
    options.snapshot_check = crdt::SnapshotCheck::kStructure;
    std::unique_ptr<crdt::Doc> d;
    if (doc.snapshot.empty()) {
      d = std::make_unique<crdt::Doc>(replica_, options);
    } else {
      auto loaded = crdt::Doc::LoadSnapshot(replica_, doc.snapshot, options);
      if (!loaded.ok()) {
        return absl::DataLossError(absl::StrCat("local store: snapshot of ",
                                                name, "/", doc_name, ": ",
                                                loaded.status().message()));
      }
      d = *std::move(loaded);
    }
    for (const std::string& update : doc.log) {
      // Stored as applied before: a refusal then is a refusal now.
      if (auto applied = d->ApplyUpdate(update); !applied.ok()) {
        LATTICE_LOG(kWarning) << "lattice client: replaying " << name << "/"
                              << doc_name << ": " << applied.status();
      }
    }
    room.logs[doc_name] = {doc.next_log_index, doc.log.size()};
    room.replica.PutDoc(doc_name, std::move(d));
  }
  return absl::OkStatus();
}

absl::Status ClientCore::LeaveRoom(const std::string& name) {
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(name);
  if (room == nullptr || !room->wanted) {
    return absl::FailedPreconditionError(
        absl::StrCat("leave ", name, ": not joined"));
  }
  room->wanted = false;
  if (room->joined || room->join_ref != 0) Send(protocol::LeaveFrame{name});
  room->joined = false;
  room->join_ref = 0;
  room->replica.ResetPresence();
  if (room->cursor_timer) room->cursor_timer->cancel();
  if (room->typing_timer) room->typing_timer->cancel();
  Bump();
  return absl::OkStatus();
}

absl::Status ClientCore::Edit(
    const std::string& room_name, const std::string& doc,
    const std::function<absl::Status(crdt::Doc&)>& edit) {
  absl::MutexLock lock(&mu_);
  if (stopped_) {
    return absl::FailedPreconditionError(
        absl::StrCat("edit ", room_name, "/", doc, ": client stopped"));
  }
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || !room->wanted) {
    return absl::FailedPreconditionError(
        absl::StrCat("edit ", room_name, "/", doc, ": room not joined"));
  }
  if (room->joined &&
      room->access != static_cast<uint8_t>(protocol::RoomAccess::kWrite)) {
    return absl::PermissionDeniedError(
        absl::StrCat("edit ", room_name, "/", doc, ": room joined read-only"));
  }
  crdt::Doc& d = room->replica.Doc(doc);
  absl::Status status = edit(d);
  // Commit even after a failed edit: its earlier ops are applied locally
  // and must reach the server like any other.
  std::string update = d.Commit();
  if (!update.empty()) {
    // Stored before it is sent: a replica id never reuses a counter the
    // server may have seen, even if the process dies right after.
    absl::Status stored = Persist(room_name, *room, doc, update,
                                  /*with_resume=*/false);
    if (room->joined) {
      SendChange(room_name, doc, std::move(update));
    } else {
      ++room->offline_edits;
    }
    if (room->presence.typing == doc) {
      // The server stops typing on a change to the document typed in.
      room->presence.typing.reset();
      room->typing_timer->cancel();
    }
    ActivityLocked();
    if (status.ok()) status = stored;
  }
  FlushChanges();
  Bump();
  return status;
}

absl::Status ClientCore::Read(
    const std::string& room_name, const std::string& doc,
    const std::function<void(const crdt::Doc&)>& read) const {
  absl::MutexLock lock(&mu_);
  const RoomEntry* room = FindRoom(room_name);
  const crdt::Doc* d = room == nullptr ? nullptr : room->replica.FindDoc(doc);
  if (d == nullptr) {
    return absl::NotFoundError(
        absl::StrCat("no local doc ", room_name, "/", doc));
  }
  read(*d);
  return absl::OkStatus();
}

std::vector<std::string> ClientCore::Docs(const std::string& room_name) const {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> out;
  if (const RoomEntry* room = FindRoom(room_name)) {
    for (const auto& [name, doc] : room->replica.docs()) out.push_back(name);
  }
  return out;
}

RoomSyncStatus ClientCore::Status(const std::string& room_name) const {
  absl::MutexLock lock(&mu_);
  RoomSyncStatus status;
  const RoomEntry* room = FindRoom(room_name);
  if (room == nullptr) return status;
  status.joined = room->joined;
  status.access = room->access;
  status.resume = room->replica.resume();
  status.last_error = room->last_error;
  status.pending = room->offline_edits +
                   static_cast<uint64_t>(std::count_if(
                       unacked_.begin(), unacked_.end(),
                       [&](const auto& e) { return e.second == room_name; }));
  return status;
}

void ClientCore::SetOnChange(const std::string& room_name,
                             std::function<void(const DocChange&)> callback) {
  absl::MutexLock lock(&mu_);
  if (RoomEntry* room = FindRoom(room_name)) {
    room->on_change = std::move(callback);
  }
}

void ClientCore::SetOnPresence(
    const std::string& room_name,
    std::function<void(const std::vector<crdt::SessionChange>&)> callback) {
  absl::MutexLock lock(&mu_);
  if (RoomEntry* room = FindRoom(room_name)) {
    room->on_presence = std::move(callback);
  }
}

std::vector<crdt::PresenceEntry> ClientCore::PresenceEntries(
    const std::string& room_name) const {
  absl::MutexLock lock(&mu_);
  const RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || room->replica.presence() == nullptr) return {};
  return room->replica.presence()->Entries();
}

std::string ClientCore::PresenceJson(const std::string& room_name) const {
  absl::MutexLock lock(&mu_);
  const RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || room->replica.presence() == nullptr) return "{}";
  return room->replica.presence()->ToJson();
}

}  // namespace lattice::sdk::internal
