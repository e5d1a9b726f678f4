// The presence half of Room (room.h): entries per joined session, client
// presence frames, per-tick coalesced broadcast, TTL housekeeping and
// checkpoints. docs/protocol.md, "Presence", is the contract. Everything
// here runs on the room's strand.
#include <algorithm>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include <boost/asio/bind_executor.hpp>
#include <boost/asio/post.hpp>

#include "base/logging.h"
#include "engine/room/room.h"

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace lattice::engine {
namespace {

namespace asio = boost::asio;
using protocol::FrameType;

std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::microseconds(absl::ToInt64Microseconds(d));
}

crdt::Cursor ToCursor(const protocol::PresenceCursor& c) {
  if (c.point) return crdt::Point{c.x, c.y};
  crdt::TextAnchor a;
  a.doc = c.doc;
  a.container = crdt::ContainerId{c.container_replica, c.container_counter};
  if (c.has_element)
    a.element = crdt::OpId{c.element_replica, c.element_counter};
  a.index = c.index;
  return a;
}

absl::StatusOr<crdt::Value> ToValue(const protocol::PresenceAppValue& v) {
  using Kind = protocol::PresenceAppValue::Kind;
  switch (v.kind) {
    case Kind::kBool:
      return crdt::Value::Bool(v.b);
    case Kind::kInt:
      return crdt::Value::Int(v.i);
    case Kind::kDouble:
      return crdt::Value::Double(v.d);
    case Kind::kString:
      return crdt::Value::String(v.s);
    case Kind::kBytes:
      return crdt::Value::Bytes(v.s);
    case Kind::kDelete:
      break;
  }
  return absl::InvalidArgumentError("a deletion is not a value");
}

}  // namespace

std::string Room::SessionKey(uint64_t session_id) const {
  // The welcome frame's session_id (session.cc).
  return absl::StrCat(context_.options.session_id_prefix, session_id);
}

void Room::SetPresence(uint64_t session_id, protocol::PresenceFrame presence) {
  asio::post(strand_, [self = shared_from_this(), session_id,
                       presence = std::move(presence)]() mutable {
    self->WhenReady(
        [self, session_id, presence = std::move(presence)]() mutable {
          self->DoSetPresence(session_id, std::move(presence));
        });
  });
}

void Room::ReadPresenceJson(
    std::function<void(absl::StatusOr<std::string>)> done) {
  asio::post(strand_, [self = shared_from_this(), done = std::move(done)] {
    self->WhenReady([self, done] {
      if (self->state_ == State::kClosed) {
        return done(absl::UnavailableError("room is unloading"));
      }
      done(self->presence_.ToJson());
    });
  });
}

void Room::JoinPresence(MemberState& m) {
  if (!restored_sessions_.empty())
    RetireRestoredEntries(m.member.identity.user_id);
  const std::string key = SessionKey(m.member.session_id);
  absl::Status joined = presence_.Join(key, m.member.identity, absl::Now());
  if (!joined.ok()) {
    // Over max_entries, or an identity beyond the limits: the member syncs
    // documents without a presence entry of its own.
    LATTICE_LOG(kInfo) << "room " << name_ << ": presence of session " << key
                       << ": " << joined;
  }
  m.has_presence = true;
  m.presence_seen = presence_.generation();
  m.member.conn->Send(std::make_shared<const std::string>(EncodeFrame(
      protocol::PresenceUpdateFrame{name_, presence_.EncodeState()})));
  SchedulePresenceFlush();
  SchedulePresenceHousekeeping();
}

void Room::RetireRestoredEntries(const std::string& user_id) {
  // All of the user's at once: which old session a new one continues (which
  // tab) is unknown, and the user's other tabs come back with new sessions
  // of their own. Their own state (cursor, app fields) is the clients' to
  // send again; the SDK does.
  const absl::Time now = absl::Now();
  size_t removed = 0;
  for (auto it = restored_sessions_.begin(); it != restored_sessions_.end();) {
    if (it->second != user_id) {
      ++it;
      continue;
    }
    removed += presence_.Leave(it->first, now).ok();  // else: expired
    restored_sessions_.erase(it++);
  }
  if (removed > 0) {
    LATTICE_LOG(kInfo) << "room " << name_ << ": user " << user_id
                       << " is back; removed " << removed
                       << " presence entries from before the restart";
  }
}

void Room::LeavePresence(uint64_t session_id) {
  if (presence_.Leave(SessionKey(session_id), absl::Now()).ok())
    SchedulePresenceFlush();
}

void Room::DoSetPresence(uint64_t session_id,
                         protocol::PresenceFrame presence) {
  auto it = members_.find(session_id);
  if (it == members_.end() || !it->second.has_presence) {
    return;  // left or still joining; the session refuses frames of
             // rooms it has not joined
  }
  MemberState& m = it->second;
  const std::string key = SessionKey(session_id);
  const absl::Time now = absl::Now();
  // An entry that expired while its connection stayed open comes back.
  if (!presence_.Get(key).has_value()) {
    absl::Status s = presence_.Join(key, m.member.identity, now);
    if (!s.ok()) {
      return SendError(m.member.conn, "presence_refused", s.message(),
                       FrameType::kPresence, 0);
    }
  }
  absl::Status s = presence_.Touch(key, now);
  auto apply = [&s](absl::Status next) {
    if (s.ok()) s = std::move(next);
  };
  if (presence.status) {
    apply(presence_.SetStatus(
        key, static_cast<crdt::PresenceStatus>(*presence.status), now));
  }
  if (presence.set_cursor) {
    apply(presence.cursor
              ? presence_.SetCursor(key, ToCursor(*presence.cursor), now)
              : presence_.ClearCursor(key, now));
  }
  if (presence.set_selection) {
    apply(presence.selection
              ? presence_.SetSelection(
                    key,
                    crdt::Selection{ToCursor(presence.selection->anchor),
                                    ToCursor(presence.selection->head)},
                    now)
              : presence_.ClearSelection(key, now));
  }
  if (presence.set_typing) {
    apply(presence.typing ? presence_.StartTyping(key, *presence.typing, now)
                          : presence_.StopTyping(key, now));
  }
  for (auto& [field, value] : presence.app) {
    if (value.kind == protocol::PresenceAppValue::Kind::kDelete) {
      apply(presence_.DeleteAppField(key, field, now));
      continue;
    }
    auto v = ToValue(value);
    apply(v.ok() ? presence_.SetAppField(key, field, *std::move(v), now)
                 : v.status());
  }
  // The fields before a refused one stay set, as with a change's ops.
  if (!s.ok()) {
    SendError(m.member.conn, "presence_refused", s.message(),
              FrameType::kPresence, 0);
  }
  SchedulePresenceFlush();
}

void Room::SchedulePresenceFlush() {
  if (context_.cluster != nullptr) ScheduleClusterPresence();
  if (presence_flush_scheduled_ || state_ == State::kClosed) return;
  presence_flush_scheduled_ = true;
  const auto due =
      last_presence_flush_ + ToChrono(context_.options.presence_tick);
  if (std::chrono::steady_clock::now() < due) return ArmPresenceFlush(due);
  // Leading edge: quiet rooms stay instant. Posted rather than run here, so
  // the presence frames already queued on the strand are applied first and
  // leave in the same frame: a room that falls behind (tick 0 under load)
  // sends one frame per member per burst, not one per update.
  asio::post(strand_, [self = shared_from_this()] {
    self->presence_flush_scheduled_ = false;
    self->FlushPresence();
  });
}

void Room::ArmPresenceFlush(std::chrono::steady_clock::time_point due) {
  presence_timer_.expires_at(due);
  presence_timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) {
        self->presence_flush_scheduled_ = false;
        if (!ec) self->FlushPresence();
      });
}

void Room::FlushPresence() {
  const uint64_t generation = presence_.generation();
  last_presence_flush_ = std::chrono::steady_clock::now();
  // One frame per distinct starting generation, shared by every member
  // that starts there (after a steady tick: all of them).
  absl::flat_hash_map<uint64_t, std::shared_ptr<const std::string>> frames;
  bool deferred = false;
  for (auto& [id, m] : members_) {
    if (!m.has_presence || m.presence_seen == generation) continue;
    if (m.member.conn->queued_bytes() >
        context_.options.presence_max_backlog_bytes) {
      deferred = true;  // a slow reader: the next frame carries the latest
      continue;
    }
    std::shared_ptr<const std::string>& frame = frames[m.presence_seen];
    if (frame == nullptr) {
      frame = std::make_shared<const std::string>(
          EncodeFrame(protocol::PresenceUpdateFrame{
              name_, presence_.EncodeDelta(m.presence_seen)}));
    }
    m.member.conn->Send(frame);
    m.presence_seen = generation;
    stats_.AddDeliveries(1, frame->size(), last_presence_flush_);
  }
  if (deferred && !presence_flush_scheduled_) {
    // Try the slow readers again in a tick, and not sooner than 10 ms: with
    // tick 0 an immediate retry would spin on the strand until their
    // backlog drains.
    presence_flush_scheduled_ = true;
    ArmPresenceFlush(last_presence_flush_ +
                     std::max(ToChrono(context_.options.presence_tick),
                              std::chrono::steady_clock::duration(
                                  std::chrono::milliseconds(10))));
  }
}

void Room::SchedulePresenceHousekeeping() {
  if (housekeeping_scheduled_ || state_ == State::kClosed) return;
  housekeeping_scheduled_ = true;
  housekeeping_timer_.expires_after(std::chrono::seconds(1));
  housekeeping_timer_.async_wait(
      [self = shared_from_this()](const boost::system::error_code& ec) {
        self->housekeeping_scheduled_ = false;
        if (!ec) self->PresenceHousekeeping();
      });
}

void Room::PresenceHousekeeping() {
  if (state_ == State::kClosed) return;
  const absl::Time now = absl::Now();
  const uint64_t before = presence_.generation();
  for (const std::string& session : presence_.Expire(now)) {
    LATTICE_LOG(kInfo) << "room " << name_ << ": presence of session "
                       << session << " expired";
    restored_sessions_.erase(session);
  }
  if (presence_.generation() != before) SchedulePresenceFlush();
  if (context_.cluster != nullptr &&
      now - last_presence_heartbeat_ >= context_.options.presence_ttl / 3) {
    // The other nodes expire our sessions' entries without this.
    PublishOwnPresence(0);
    last_presence_heartbeat_ = now;
  }
  MaybeCheckpointPresence(now);
  if (presence_.size() > 0 || presence_.tombstones() > 0 || !members_.empty())
    SchedulePresenceHousekeeping();
}

void Room::MaybeCheckpointPresence(absl::Time now) {
  if (presence_final_ || checkpoint_in_flight_ || epoch_ == 0 ||
      presence_.generation() == checkpointed_generation_ ||
      now - last_checkpoint_ < context_.options.presence_checkpoint_interval) {
    return;
  }
  WritePresenceCheckpoint(nullptr);
}

void Room::CheckpointPresenceForStop(std::function<void()> done) {
  asio::post(strand_,
             [self = shared_from_this(), done = std::move(done)]() mutable {
               if (self->presence_final_) return done();  // asked before
               self->presence_final_ = true;
               if (self->checkpoint_in_flight_) {
                 // An older state: it must not land after ours.
                 self->final_checkpoint_done_ = std::move(done);
                 return;
               }
               self->WriteFinalPresenceCheckpoint(std::move(done));
             });
}

void Room::WriteFinalPresenceCheckpoint(std::function<void()> done) {
  if (state_ != State::kReady || epoch_ == 0 ||
      presence_.generation() == checkpointed_generation_) {
    return done();
  }
  WritePresenceCheckpoint(std::move(done));
}

void Room::WritePresenceCheckpoint(std::function<void()> then) {
  checkpoint_in_flight_ = true;
  last_checkpoint_ = absl::Now();
  const uint64_t generation = presence_.generation();
  auto self = shared_from_this();
  auto work = [self, state = presence_.EncodeState()] {
    return self->context_.store.PutPresence(self->name_, state);
  };
  auto done = [self, generation, then](absl::Status written) {
    asio::post(self->strand_, [self, generation, written, then] {
      self->checkpoint_in_flight_ = false;
      if (written.ok()) {
        self->checkpointed_generation_ = generation;
      } else {
        LATTICE_LOG(kWarning)
            << "room " << self->name_ << ": presence checkpoint: " << written;
      }
      if (then) then();
      if (self->final_checkpoint_done_) {
        self->WriteFinalPresenceCheckpoint(
            std::exchange(self->final_checkpoint_done_, nullptr));
      }
    });
  };
  absl::Status submitted = context_.executor.Run(std::move(work), done);
  if (!submitted.ok()) {
    checkpoint_in_flight_ = false;
    LATTICE_LOG(kWarning) << "room " << name_
                          << ": presence checkpoint: " << submitted;
    if (then) then();
  }
}

}  // namespace lattice::engine
