#include "engine/session/session.h"

#include <algorithm>
#include <utility>
#include <variant>

#include "base/logging.h"

#include "absl/strings/str_cat.h"

namespace lattice::engine {

using protocol::EncodeFrame;
using protocol::FrameType;

namespace {

std::shared_ptr<const std::string> Shared(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

uint8_t Tag(FrameType t) { return static_cast<uint8_t>(t); }

}  // namespace

bool Session::Bucket::Take(double rate, double amount) {
  const auto now = std::chrono::steady_clock::now();
  if (last.time_since_epoch().count() == 0) {
    tokens = rate;
  } else {
    const double elapsed = std::chrono::duration<double>(now - last).count();
    tokens = std::min(rate, tokens + elapsed * rate);
  }
  last = now;
  // A single change larger than a second's worth still passes when the
  // bucket is full, so the limit never makes a legal change impossible.
  if (tokens < amount && tokens < rate) return false;
  tokens -= amount;
  return true;
}

Session::Session(std::shared_ptr<net::WsConnection> conn,
                 SessionContext& context)
    : conn_(std::move(conn)), context_(context) {}

void Session::Refuse(absl::string_view code, absl::string_view message,
                     uint8_t ref_type, uint64_t ref, absl::string_view room,
                     bool protocol_error) {
  context_.stats.errors.fetch_add(1, std::memory_order_relaxed);
  protocol::ErrorFrame e;
  e.code = std::string(code);
  e.message = std::string(message);
  e.ref_type = ref_type;
  e.ref = ref;
  e.room = std::string(room);
  conn_->Send(Shared(EncodeFrame(e)));
  if (protocol_error &&
      ++consecutive_errors_ >= context_.options.max_consecutive_errors) {
    conn_->Close(protocol::kCloseProtocolError, "too many refused frames");
  }
}

void Session::OnMessage(const std::string& bytes) {
  auto frame = protocol::DecodeFrame(bytes, context_.limits);
  if (!frame.ok()) {
    const bool unknown = absl::IsUnimplemented(frame.status());
    return Refuse(unknown ? "unknown_frame" : "bad_frame",
                  frame.status().message(), protocol::PeekType(bytes), 0, "",
                  /*protocol_error=*/true);
  }
  const FrameType type = protocol::TypeOf(*frame);
  if (!greeted_ && type != FrameType::kHello) {
    Refuse("unauthenticated", "the first frame must be hello", Tag(type), 0, "",
           false);
    conn_->Close(protocol::kCloseProtocolError, "no hello");
    return;
  }
  std::visit(
      [&](auto& f) {
        using T = std::decay_t<decltype(f)>;
        if constexpr (std::is_same_v<T, protocol::HelloFrame>) {
          HandleHello(f);
        } else if constexpr (std::is_same_v<T, protocol::AuthFrame>) {
          HandleAuth(f);
        } else if constexpr (std::is_same_v<T, protocol::JoinFrame>) {
          HandleJoin(f);
        } else if constexpr (std::is_same_v<T, protocol::ChangeFrame>) {
          HandleChange(f);
        } else if constexpr (std::is_same_v<T, protocol::LeaveFrame>) {
          HandleLeave(f);
        } else if constexpr (std::is_same_v<T, protocol::PresenceFrame>) {
          HandlePresence(f);
        } else if constexpr (std::is_same_v<T, protocol::EmitFrame>) {
          HandleEmit(f);
        } else {
          Refuse("bad_frame", "a server frame sent by a client", Tag(type), 0,
                 "", true);
        }
      },
      *frame);
}

absl::Status Session::Authenticate(const std::string& token) {
  if (context_.verifier == nullptr) {  // anonymous mode
    subject_ = subject_.empty() ? absl::StrCat("anonymous-", id()) : subject_;
    return absl::OkStatus();
  }
  auto verified = context_.verifier->Verify(token, absl::Now());
  if (!verified.ok()) return verified.status();
  if (!subject_.empty() && verified->subject != subject_) {
    return absl::PermissionDeniedError(
        "a refreshed token must name the same subject");
  }
  subject_ = verified->subject;
  display_name_ = std::move(verified->name);
  grants_ = std::move(verified->grants);
  expiry_unix_ms_.store(absl::ToUnixMillis(verified->expiry + context_.leeway),
                        std::memory_order_relaxed);
  return absl::OkStatus();
}

void Session::HandleHello(protocol::HelloFrame& hello) {
  if (greeted_) {
    return Refuse("bad_frame", "hello sent twice", Tag(FrameType::kHello), 0,
                  "", true);
  }
  // The client names its highest version; a later one can speak ours.
  if (hello.protocol_version < 1) {
    Refuse("protocol_version",
           absl::StrCat("server speaks protocol ", protocol::kProtocolVersion,
                        ", client ", hello.protocol_version),
           Tag(FrameType::kHello), 0, "", false);
    conn_->Close(protocol::kCloseProtocolError, "protocol version");
    return;
  }
  absl::Status auth = Authenticate(hello.token);
  if (!auth.ok()) {
    Refuse("unauthenticated", auth.message(), Tag(FrameType::kHello), 0, "",
           false);
    conn_->Close(protocol::kCloseAuthFailed, "authentication failed");
    return;
  }
  greeted_ = true;
  consecutive_errors_ = 0;
  if (context_.on_identified) context_.on_identified(id(), subject_);
  protocol::WelcomeFrame welcome;
  welcome.session_id = absl::StrCat(context_.options.session_id_prefix, id());
  welcome.protocol_version =
      std::min(hello.protocol_version, protocol::kProtocolVersion);
  welcome.max_message_bytes = context_.max_message_bytes;
  welcome.max_rooms = context_.options.max_rooms_per_connection;
  conn_->Send(Shared(EncodeFrame(welcome)));
  if (welcome.protocol_version >= 2) {
    conn_->EnableBatching(protocol::kMaxBatchBytes);
  }
}

void Session::HandleAuth(protocol::AuthFrame& auth) {
  absl::Status s = Authenticate(auth.token);
  if (!s.ok()) {
    return Refuse("unauthenticated", s.message(), Tag(FrameType::kAuth), 0, "",
                  false);
  }
  consecutive_errors_ = 0;
}

void Session::HandleJoin(protocol::JoinFrame& join) {
  const uint8_t tag = Tag(FrameType::kJoin);
  const Access access =
      context_.verifier == nullptr ? Access::kWrite : grants_.For(join.room);
  if (access == Access::kNone) {
    return Refuse(
        "forbidden",
        absl::StrCat("the token grants no access to room ", join.room), tag,
        join.ref, join.room, false);
  }
  std::shared_ptr<Room> room = context_.rooms.Acquire(join.room);
  {
    absl::MutexLock lock(&mu_);
    if (!joined_.contains(join.room) &&
        joined_.size() >= context_.options.max_rooms_per_connection) {
      Refuse("too_many_rooms",
             absl::StrCat("already in ", joined_.size(), " rooms"), tag,
             join.ref, join.room, false);
      return;
    }
    joined_[join.room] =
        Joined{room, access == Access::kWrite ? protocol::RoomAccess::kWrite
                                              : protocol::RoomAccess::kRead};
  }
  consecutive_errors_ = 0;
  Member member;
  member.session_id = id();
  member.conn = conn_;
  member.access = access == Access::kWrite ? protocol::RoomAccess::kWrite
                                           : protocol::RoomAccess::kRead;
  member.identity.user_id = subject_;
  if (display_name_) member.identity.display["name"] = *display_name_;
  member.on_dropped = [weak = weak_from_this(), name = join.room,
                       which = room.get()] {
    if (auto self = weak.lock()) self->Forget(name, which);
  };
  room->Join(std::move(member), std::move(join));
}

std::shared_ptr<Room> Session::JoinedRoom(const std::string& room) {
  absl::MutexLock lock(&mu_);
  auto it = joined_.find(room);
  return it == joined_.end() ? nullptr : it->second.room;
}

void Session::HandleChange(protocol::ChangeFrame& change) {
  const uint8_t tag = Tag(FrameType::kChange);
  std::shared_ptr<Room> room = JoinedRoom(change.room);
  if (room == nullptr) {
    return Refuse("not_joined",
                  absl::StrCat("join room ", change.room, " first"), tag,
                  change.client_seq, change.room, true);
  }
  if (!change_bucket_.Take(context_.options.max_changes_per_second, 1) ||
      !byte_bucket_.Take(context_.options.max_change_bytes_per_second,
                         static_cast<double>(change.update.size()))) {
    return Refuse("rate_limited",
                  absl::StrCat("over ", context_.options.max_changes_per_second,
                               " changes or ",
                               context_.options.max_change_bytes_per_second,
                               " bytes per second; resend later"),
                  tag, change.client_seq, change.room, false);
  }
  consecutive_errors_ = 0;
  room->Change(id(), std::move(change));
}

void Session::HandlePresence(protocol::PresenceFrame& presence) {
  const uint8_t tag = Tag(FrameType::kPresence);
  std::shared_ptr<Room> room = JoinedRoom(presence.room);
  if (room == nullptr) {
    return Refuse("not_joined",
                  absl::StrCat("join room ", presence.room, " first"), tag, 0,
                  presence.room, true);
  }
  // Read-only members have presence too: a viewer's cursor is theirs.
  if (!presence_bucket_.Take(context_.options.max_presence_per_second, 1)) {
    return Refuse(
        "rate_limited",
        absl::StrCat("over ", context_.options.max_presence_per_second,
                     " presence frames per second"),
        tag, 0, presence.room, false);
  }
  consecutive_errors_ = 0;
  room->SetPresence(id(), std::move(presence));
}

void Session::HandleLeave(protocol::LeaveFrame& leave) {
  std::shared_ptr<Room> room;
  {
    absl::MutexLock lock(&mu_);
    auto it = joined_.find(leave.room);
    if (it != joined_.end()) {
      room = std::move(it->second.room);
      joined_.erase(it);
    }
  }
  if (room == nullptr) {
    return Refuse("not_joined", absl::StrCat("not in room ", leave.room),
                  Tag(FrameType::kLeave), 0, leave.room, true);
  }
  room->Leave(id(), /*reply=*/true);
}

void Session::HandleEmit(protocol::EmitFrame& emit) {
  const uint8_t tag = Tag(FrameType::kEmit);
  // Clients address rooms they joined; user events are the backend's
  // (docs/http-api.md), so one user cannot message another's devices.
  if (emit.target_kind != protocol::EventTarget::kRoom) {
    return Refuse("forbidden",
                  "events to users come from the backend (HTTP API)", tag,
                  emit.ref, "", false);
  }
  std::shared_ptr<Room> room;
  protocol::RoomAccess access = protocol::RoomAccess::kRead;
  {
    absl::MutexLock lock(&mu_);
    auto it = joined_.find(emit.target);
    if (it != joined_.end()) {
      room = it->second.room;
      access = it->second.access;
    }
  }
  if (room == nullptr) {
    return Refuse("not_joined",
                  absl::StrCat("join room ", emit.target, " first"), tag,
                  emit.ref, emit.target, true);
  }
  // Events change what others see, like changes: they need write access.
  if (access != protocol::RoomAccess::kWrite) {
    return Refuse("read_only", "this session may only read the room", tag,
                  emit.ref, emit.target, false);
  }
  if (!event_bucket_.Take(context_.options.max_events_per_second, 1)) {
    return Refuse("rate_limited",
                  absl::StrCat("over ", context_.options.max_events_per_second,
                               " events per second; resend later"),
                  tag, emit.ref, emit.target, false);
  }
  consecutive_errors_ = 0;
  room->Emit(id(), subject_, std::move(emit));
}

void Session::Deliver(std::shared_ptr<const std::string> frame) {
  conn_->Send(std::move(frame));
}

void Session::Revoke() { conn_->Close(protocol::kCloseAuthFailed, "revoked"); }

void Session::Forget(const std::string& room, const Room* which) {
  absl::MutexLock lock(&mu_);
  auto it = joined_.find(room);
  if (it != joined_.end() && it->second.room.get() == which) joined_.erase(it);
}

void Session::OnClose() {
  absl::flat_hash_map<std::string, Joined> joined;
  {
    absl::MutexLock lock(&mu_);
    joined.swap(joined_);
  }
  for (auto& [name, j] : joined) j.room->Leave(id(), /*reply=*/false);
}

void Session::CheckExpiry(absl::Time now) {
  if (absl::ToUnixMillis(now) >=
      expiry_unix_ms_.load(std::memory_order_relaxed)) {
    conn_->Close(protocol::kCloseAuthFailed, "token expired");
  }
}

}  // namespace lattice::engine
