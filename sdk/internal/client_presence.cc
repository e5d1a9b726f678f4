// ClientCore: the presence helpers. What the application sets is kept in
// RoomEntry::presence and sent when joined: statuses and app fields at
// once, cursors at most once per cursor_throttle (latest wins), typing
// renewed at most every half typing_timeout and stopped after
// typing_timeout; after a rejoin the whole of it again (the server dropped
// the entry with the connection).
#include <cmath>
#include <string>
#include <utility>

#include "base/utf8.h"
#include "sdk/internal/client_core.h"

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"

namespace lattice::sdk::internal {
namespace {

protocol::PresenceCursor ToWire(const crdt::Cursor& cursor) {
  protocol::PresenceCursor c;
  if (const auto* p = std::get_if<crdt::Point>(&cursor)) {
    c.point = true;
    c.x = p->x;
    c.y = p->y;
    return c;
  }
  const auto& a = std::get<crdt::TextAnchor>(cursor);
  c.point = false;
  c.doc = a.doc;
  c.container_replica = a.container.replica;
  c.container_counter = a.container.counter;
  c.index = a.index;
  if (a.element.has_value()) {
    c.has_element = true;
    c.element_replica = a.element->replica;
    c.element_counter = a.element->counter;
  }
  return c;
}

absl::StatusOr<protocol::PresenceAppValue> AppValueToWire(
    const crdt::Value& value) {
  using Kind = protocol::PresenceAppValue::Kind;
  protocol::PresenceAppValue v;
  switch (value.kind()) {
    case crdt::Value::Kind::kBool:
      v.kind = Kind::kBool;
      v.b = value.as_bool();
      return v;
    case crdt::Value::Kind::kInt:
      v.kind = Kind::kInt;
      v.i = value.as_int();
      return v;
    case crdt::Value::Kind::kDouble:
      if (!std::isfinite(value.as_double())) break;
      v.kind = Kind::kDouble;
      v.d = value.as_double();
      return v;
    case crdt::Value::Kind::kString:
      v.kind = Kind::kString;
      v.s = value.as_string();
      return v;
    case crdt::Value::Kind::kBytes:
      v.kind = Kind::kBytes;
      v.s = value.as_string();
      return v;
    default:
      break;
  }
  return absl::InvalidArgumentError(
      "a presence app field is a finite scalar: bool, int, double, string or "
      "bytes");
}

}  // namespace

crdt::PresenceStatus ClientCore::EffectiveStatus(const RoomEntry& room) const {
  const crdt::PresenceStatus chosen =
      room.presence.status.value_or(crdt::PresenceStatus::kOnline);
  // Inactivity turns only "online" into "away"; busy and offline were
  // chosen and stay.
  if (auto_away_ && chosen == crdt::PresenceStatus::kOnline) {
    return crdt::PresenceStatus::kAway;
  }
  return chosen;
}

void ClientCore::SendPresence(const std::string& room_name, RoomEntry& room,
                              protocol::PresenceFrame frame) {
  if (!room.joined) return;  // ResendPresence sends it after joined
  frame.room = room_name;
  Send(frame);
}

void ClientCore::ResendPresence(const std::string& room_name, RoomEntry& room) {
  LocalPresence& p = room.presence;
  protocol::PresenceFrame frame;
  const crdt::PresenceStatus status = EffectiveStatus(room);
  if (status != crdt::PresenceStatus::kOnline) {
    frame.status = static_cast<uint8_t>(status);
  }
  if (p.cursor.has_value()) {
    frame.set_cursor = true;
    frame.cursor = p.cursor;
    p.cursor_dirty = false;
    p.cursor_sent_at = absl::Now();
  }
  if (p.typing.has_value()) {
    frame.set_typing = true;
    frame.typing = p.typing;
    p.typing_sent_at = absl::Now();
  }
  frame.app.assign(p.app.begin(), p.app.end());
  if (frame.status.has_value() || frame.set_cursor || frame.set_typing ||
      !frame.app.empty()) {
    SendPresence(room_name, room, std::move(frame));
  }
}

void ClientCore::SetStatus(const std::string& room_name,
                           crdt::PresenceStatus status) {
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || stopped_) return;
  room->presence.status = status;
  protocol::PresenceFrame frame;
  frame.status = static_cast<uint8_t>(EffectiveStatus(*room));
  SendPresence(room_name, *room, std::move(frame));
}

void ClientCore::SetCursor(const std::string& room_name,
                           std::optional<crdt::Cursor> cursor) {
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || stopped_) return;
  ActivityLocked();
  LocalPresence& p = room->presence;
  p.cursor.reset();
  if (cursor.has_value()) p.cursor = ToWire(*cursor);
  p.cursor_dirty = true;
  if (p.cursor_timer_armed) return;  // the timer sends the latest
  const absl::Time next = p.cursor_sent_at + options_.cursor_throttle;
  if (absl::Now() >= next) {
    FlushCursor(room_name, *room);
  } else {
    ArmCursorTimer(room_name, *room, next);
  }
}

void ClientCore::FlushCursor(const std::string& room_name, RoomEntry& room) {
  LocalPresence& p = room.presence;
  protocol::PresenceFrame frame;
  frame.set_cursor = true;
  frame.cursor = p.cursor;
  p.cursor_dirty = false;
  p.cursor_sent_at = absl::Now();
  SendPresence(room_name, room, std::move(frame));
}

void ClientCore::ArmCursorTimer(const std::string& room_name, RoomEntry& room,
                                absl::Time at) {
  room.presence.cursor_timer_armed = true;
  room.cursor_timer->expires_after(ToChrono(at - absl::Now()));
  room.cursor_timer->async_wait(
      [weak = weak_from_this(), room_name](const boost::system::error_code&) {
        if (auto self = weak.lock()) self->OnCursorTimer(room_name);
      });
}

void ClientCore::OnCursorTimer(const std::string& room_name) {
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || stopped_) return;
  room->presence.cursor_timer_armed = false;
  if (room->presence.cursor_dirty) FlushCursor(room_name, *room);
}

void ClientCore::StartTyping(const std::string& room_name,
                             const std::string& doc) {
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || stopped_) return;
  ActivityLocked();
  LocalPresence& p = room->presence;
  const absl::Time now = absl::Now();
  p.typing_renewed_at = now;
  // Renew on the server before its own 5 s timeout, not on every key.
  if (p.typing != doc ||
      now - p.typing_sent_at >= options_.typing_timeout / 2) {
    p.typing = doc;
    p.typing_sent_at = now;
    protocol::PresenceFrame frame;
    frame.set_typing = true;
    frame.typing = doc;
    SendPresence(room_name, *room, std::move(frame));
  }
  if (!p.typing_timer_armed) {
    ArmTypingTimer(room_name, *room, now + options_.typing_timeout);
  }
}

void ClientCore::StopTyping(const std::string& room_name) {
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || stopped_ || !room->presence.typing.has_value()) {
    return;
  }
  room->presence.typing.reset();
  protocol::PresenceFrame frame;
  frame.set_typing = true;
  SendPresence(room_name, *room, std::move(frame));
}

absl::Status ClientCore::SetAppField(const std::string& room_name,
                                     const std::string& key,
                                     const crdt::Value& value) {
  // The server's limits (crdt::PresenceLimits defaults), checked here so
  // that a refusal is an error for the caller, not an error frame later.
  static constexpr crdt::PresenceLimits kLimits;
  if (key.empty() || key.size() > kLimits.max_field_bytes ||
      !IsValidUtf8(key)) {
    return absl::InvalidArgumentError(absl::StrCat("a presence app key is 1-",
                                                   kLimits.max_field_bytes,
                                                   " bytes of UTF-8"));
  }
  absl::StatusOr<protocol::PresenceAppValue> wire = AppValueToWire(value);
  if (!wire.ok()) return wire.status();
  if (wire->s.size() > kLimits.max_field_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "presence app value is over ", kLimits.max_field_bytes, " bytes"));
  }
  if (wire->kind == protocol::PresenceAppValue::Kind::kString &&
      !IsValidUtf8(wire->s)) {
    return absl::InvalidArgumentError(
        "a presence app string is not valid UTF-8 (bytes are)");
  }
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || stopped_) return absl::OkStatus();
  auto& app = room->presence.app;
  if (!app.contains(key) && app.size() >= kLimits.max_app_fields) {
    return absl::InvalidArgumentError(absl::StrCat(
        "presence holds at most ", kLimits.max_app_fields, " app fields"));
  }
  app[key] = *wire;
  protocol::PresenceFrame frame;
  frame.app.emplace_back(key, *std::move(wire));
  SendPresence(room_name, *room, std::move(frame));
  return absl::OkStatus();
}

void ClientCore::ClearAppField(const std::string& room_name,
                               const std::string& key) {
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || stopped_ || room->presence.app.erase(key) == 0) {
    return;
  }
  protocol::PresenceFrame frame;
  frame.app.emplace_back(key, protocol::PresenceAppValue{});  // kDelete
  SendPresence(room_name, *room, std::move(frame));
}

void ClientCore::ArmTypingTimer(const std::string& room_name, RoomEntry& room,
                                absl::Time at) {
  room.presence.typing_timer_armed = true;
  room.typing_timer->expires_after(ToChrono(at - absl::Now()));
  room.typing_timer->async_wait(
      [weak = weak_from_this(), room_name](const boost::system::error_code&) {
        if (auto self = weak.lock()) self->OnTypingTimer(room_name);
      });
}

void ClientCore::OnTypingTimer(const std::string& room_name) {
  absl::MutexLock lock(&mu_);
  RoomEntry* room = FindRoom(room_name);
  if (room == nullptr || stopped_) return;
  LocalPresence& p = room->presence;
  p.typing_timer_armed = false;
  if (!p.typing.has_value()) return;
  const absl::Time stop_at = p.typing_renewed_at + options_.typing_timeout;
  if (absl::Now() < stop_at) {
    ArmTypingTimer(room_name, *room, stop_at);  // renewed meanwhile
    return;
  }
  p.typing.reset();
  protocol::PresenceFrame frame;
  frame.set_typing = true;
  SendPresence(room_name, *room, std::move(frame));
}

// ---- Activity and away

void ClientCore::NoteActivity() {
  absl::MutexLock lock(&mu_);
  if (!stopped_) ActivityLocked();
}

void ClientCore::ActivityLocked() {
  last_activity_ = absl::Now();
  if (options_.away_after <= absl::ZeroDuration()) return;
  if (auto_away_) {
    auto_away_ = false;
    BroadcastStatus();
  }
  if (!away_timer_armed_) ArmAwayTimer(last_activity_ + options_.away_after);
}

void ClientCore::ArmAwayTimer(absl::Time at) {
  away_timer_armed_ = true;
  away_timer_->expires_after(ToChrono(at - absl::Now()));
  away_timer_->async_wait(
      [weak = weak_from_this()](const boost::system::error_code&) {
        if (auto self = weak.lock()) self->OnAwayTimer();
      });
}

void ClientCore::OnAwayTimer() {
  absl::MutexLock lock(&mu_);
  away_timer_armed_ = false;
  if (stopped_) return;
  const absl::Time idle_at = last_activity_ + options_.away_after;
  if (absl::Now() < idle_at) {
    ArmAwayTimer(idle_at);  // activity meanwhile
    return;
  }
  // Idle: away until the next activity, which re-arms the timer.
  auto_away_ = true;
  BroadcastStatus();
}

void ClientCore::BroadcastStatus() {
  for (auto& [name, room] : rooms_) {
    const crdt::PresenceStatus chosen =
        room->presence.status.value_or(crdt::PresenceStatus::kOnline);
    if (!room->wanted || chosen != crdt::PresenceStatus::kOnline) continue;
    protocol::PresenceFrame frame;
    frame.status = static_cast<uint8_t>(EffectiveStatus(*room));
    SendPresence(name, *room, std::move(frame));
  }
}

}  // namespace lattice::sdk::internal
