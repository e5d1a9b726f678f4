// A Session is the server side of one client connection: it authenticates
// the client (hello, token refresh), keeps the rooms it joined with the
// access its token grants, enforces the per-connection limits, and hands
// joins, changes, leaves and room events to the rooms.
//
// Thread safety: OnMessage and OnClose run on the connection's strand
// (net::WsHandler's guarantee), one at a time. CheckExpiry may be called from
// any thread. The joined-room map is also touched by rooms (a refused or
// dropped join) from their strands, so it sits behind mu_; everything else
// is confined to the connection's strand.
#ifndef LATTICE_ENGINE_SESSION_SESSION_H_
#define LATTICE_ENGINE_SESSION_SESSION_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "engine/auth/jwt_verifier.h"
#include "engine/engine_options.h"
#include "engine/engine_stats.h"
#include "engine/protocol/frames.h"
#include "engine/room/room_registry.h"
#include "net/websocket.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace lattice::engine {

// What every session shares; owned by the SyncServer.
struct SessionContext {
  const EngineOptions& options;
  RoomRegistry& rooms;
  EngineStats& stats;
  // Null in anonymous mode.
  const JwtVerifier* verifier = nullptr;
  // The verifier's leeway: a session lives until its token's expiry plus
  // this.
  absl::Duration leeway = absl::Seconds(30);
  protocol::DecodeLimits limits;
  uint64_t max_message_bytes = 0;  // announced in welcome
  // Called on the connection's strand once per session, when hello
  // authenticates it as `subject` (a token's sub, or "anonymous-<id>");
  // the SyncServer indexes sessions by user for user events and revocation.
  // The subject never changes afterwards (a refresh keeps it). May be empty.
  std::function<void(uint64_t session_id, const std::string& subject)>
      on_identified;
};

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(std::shared_ptr<net::WsConnection> conn, SessionContext& context);

  uint64_t id() const { return conn_->id(); }

  // One binary message from the client.
  void OnMessage(const std::string& bytes);
  // The connection closed: leave every room.
  void OnClose() ABSL_LOCKS_EXCLUDED(mu_);
  // Closes the connection with kCloseAuthFailed when the token expired.
  void CheckExpiry(absl::Time now);

  // Queues an encoded frame for the client (a user event). Any thread.
  void Deliver(std::shared_ptr<const std::string> frame);
  // Closes the connection with kCloseAuthFailed: the backend revoked the
  // user. Any thread.
  void Revoke();

  // The authenticated user id; empty before hello succeeded.
  // REQUIRES: called on the connection's strand.
  const std::string& subject() const { return subject_; }

 private:
  // A token bucket: `rate` per second, a burst of one second's worth.
  struct Bucket {
    double tokens = 0;
    std::chrono::steady_clock::time_point last;
    bool Take(double rate, double amount);
  };
  struct Joined {
    std::shared_ptr<Room> room;
    protocol::RoomAccess access;
  };

  void HandleHello(protocol::HelloFrame& hello);
  void HandleAuth(protocol::AuthFrame& auth);
  void HandleJoin(protocol::JoinFrame& join) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleChange(protocol::ChangeFrame& change) ABSL_LOCKS_EXCLUDED(mu_);
  void HandleLeave(protocol::LeaveFrame& leave) ABSL_LOCKS_EXCLUDED(mu_);
  void HandlePresence(protocol::PresenceFrame& presence)
      ABSL_LOCKS_EXCLUDED(mu_);
  // The joined room named `room`, or null.
  std::shared_ptr<Room> JoinedRoom(const std::string& room)
      ABSL_LOCKS_EXCLUDED(mu_);
  void HandleEmit(protocol::EmitFrame& emit) ABSL_LOCKS_EXCLUDED(mu_);
  // Verifies `token`; on success takes its subject, expiry and grants.
  absl::Status Authenticate(const std::string& token);
  void Forget(const std::string& room, const Room* which)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Sends an error frame; counts it towards max_consecutive_errors when
  // `protocol_error`.
  void Refuse(absl::string_view code, absl::string_view message,
              uint8_t ref_type, uint64_t ref, absl::string_view room,
              bool protocol_error);

  // Immutable after construction.
  const std::shared_ptr<net::WsConnection> conn_;
  SessionContext& context_;

  // Confined to the connection's strand.
  bool greeted_ = false;
  int consecutive_errors_ = 0;
  std::string subject_;
  std::optional<std::string> display_name_;  // the token's `name`
  Grants grants_;
  Bucket change_bucket_;
  Bucket byte_bucket_;
  Bucket presence_bucket_;
  Bucket event_bucket_;

  // Written on the strand, read by CheckExpiry from the sweep.
  std::atomic<int64_t> expiry_unix_ms_{INT64_MAX};

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Joined> joined_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_SESSION_SESSION_H_
