#include "sdk/client.h"

#include <random>
#include <utility>

#include <boost/asio/io_context.hpp>

#include "sdk/internal/client_core.h"
#include "sdk/local_store.h"

#include "absl/strings/str_cat.h"

namespace lattice::sdk {
namespace {

uint64_t RandomReplica() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) {
    id = ((uint64_t{rd()} << 32) ^ uint64_t{rd()}) & ((uint64_t{1} << 63) - 1);
  }
  return id;
}

}  // namespace

absl::string_view ConnectionStateName(ConnectionState state) {
  switch (state) {
    case ConnectionState::kConnecting:
      return "connecting";
    case ConnectionState::kConnected:
      return "connected";
    case ConnectionState::kDisconnected:
      return "disconnected";
    case ConnectionState::kReconnecting:
      return "reconnecting";
  }
  return "unknown";
}

// ---- Client

absl::StatusOr<std::unique_ptr<Client>> Client::CreateOn(
    ClientOptions options, boost::asio::io_context* ioc) {
  if (options.port == 0) {
    return absl::InvalidArgumentError("lattice client: port 0");
  }
  std::unique_ptr<LocalStore> store;
  uint64_t replica = options.replica;
  if (!options.data_dir.empty()) {
    auto opened = LocalStore::Open(options.data_dir);
    if (!opened.ok()) return opened.status();
    store = *std::move(opened);
    auto stored = store->LoadReplica();
    if (!stored.ok()) return stored.status();
    // The stored documents continue as the replica that wrote them.
    if (replica == 0) replica = *stored;
    if (replica == 0) replica = RandomReplica();
    if (replica != *stored) {
      if (absl::Status s = store->SaveReplica(replica); !s.ok()) return s;
    }
  } else if (replica == 0) {
    replica = RandomReplica();
  }
  std::unique_ptr<boost::asio::io_context> own;
  if (ioc == nullptr) {
    own = std::make_unique<boost::asio::io_context>(1);
    ioc = own.get();
  }
  auto core = std::make_shared<internal::ClientCore>(
      std::move(options), *ioc, std::move(own), std::move(store), replica);
  core->Start();
  return std::unique_ptr<Client>(new Client(std::move(core)));
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options) {
  return CreateOn(std::move(options), nullptr);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Create(
    ClientOptions options, boost::asio::io_context& ioc) {
  return CreateOn(std::move(options), &ioc);
}

Client::~Client() { core_->Shutdown(); }

absl::StatusOr<Room> Client::Join(const std::string& room) {
  if (absl::Status s = core_->JoinRoom(room); !s.ok()) return s;
  return Room(core_, room);
}

void Client::Reconnect() { core_->Reconnect(); }
ConnectionState Client::state() const { return core_->last_event().state; }
ConnectionEvent Client::last_event() const { return core_->last_event(); }
uint64_t Client::connections() const { return core_->connections(); }
std::string Client::session_id() const { return core_->session_id(); }
uint64_t Client::replica() const { return core_->replica(); }
void Client::NoteActivity() { core_->NoteActivity(); }

absl::Status Client::WaitUntil(const std::function<bool()>& pred,
                               absl::Duration timeout) const {
  return core_->WaitUntil(pred, timeout);
}

// ---- Room

absl::Status Room::Edit(const std::string& doc,
                        const std::function<absl::Status(crdt::Doc&)>& edit) {
  return core_->Edit(name_, doc, edit);
}

absl::Status Room::Read(
    const std::string& doc,
    const std::function<void(const crdt::Doc&)>& read) const {
  return core_->Read(name_, doc, read);
}

absl::StatusOr<std::string> Room::Json(const std::string& doc) const {
  absl::StatusOr<std::string> json;
  absl::Status s = core_->Read(
      name_, doc, [&json](const crdt::Doc& d) { json = d.ToJson(); });
  if (!s.ok()) return s;
  return json;
}

std::vector<std::string> Room::Docs() const { return core_->Docs(name_); }
RoomSyncStatus Room::status() const { return core_->Status(name_); }

absl::Status Room::WaitSynced(absl::Duration timeout) const {
  absl::Status s = core_->WaitUntil(
      [this] {
        RoomSyncStatus st = core_->Status(name_);
        return st.joined && st.pending == 0;
      },
      timeout);
  if (s.ok()) return s;
  return absl::DeadlineExceededError(absl::StrCat(
      "room ", name_, ": not synced after ", absl::FormatDuration(timeout)));
}

void Room::OnChange(std::function<void(const DocChange&)> callback) {
  core_->SetOnChange(name_, std::move(callback));
}

void Room::OnPresence(
    std::function<void(const std::vector<crdt::SessionChange>&)> callback) {
  core_->SetOnPresence(name_, std::move(callback));
}

void Room::SetStatus(crdt::PresenceStatus status) {
  core_->SetStatus(name_, status);
}
void Room::SetCursor(crdt::Cursor cursor) {
  core_->SetCursor(name_, std::move(cursor));
}
void Room::ClearCursor() { core_->SetCursor(name_, std::nullopt); }
void Room::StartTyping(const std::string& doc) {
  core_->StartTyping(name_, doc);
}
void Room::StopTyping() { core_->StopTyping(name_); }
absl::Status Room::SetAppField(const std::string& key,
                               const crdt::Value& value) {
  return core_->SetAppField(name_, key, value);
}
void Room::ClearAppField(const std::string& key) {
  core_->ClearAppField(name_, key);
}

std::vector<crdt::PresenceEntry> Room::PresenceEntries() const {
  return core_->PresenceEntries(name_);
}
std::string Room::PresenceJson() const { return core_->PresenceJson(name_); }

absl::Status Room::Leave() { return core_->LeaveRoom(name_); }

}  // namespace lattice::sdk
