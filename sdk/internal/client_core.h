// The state and machinery behind sdk::Client and its Room handles: the
// connection state machine (connect, hello, rejoin, backoff), the rooms'
// replicas (RoomReplica), the local store writes, presence throttling and
// the callback queue. client.h documents the behaviour; this header the
// locking.
//
// Thread safety: every method takes mu_ itself (public methods are called
// by Client and Room from any thread; network and timer handlers run on the
// io_context). User callbacks run on strand_, without mu_, under cb_mu_
// (so Shutdown can wait for one in flight). Lock order: cb_mu_ before mu_.
#ifndef LATTICE_SDK_INTERNAL_CLIENT_CORE_H_
#define LATTICE_SDK_INTERNAL_CLIENT_CORE_H_

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "engine/protocol/frames.h"
#include "net/websocket_client.h"
#include "sdk/client.h"
#include "sdk/internal/room_replica.h"
#include "sdk/local_store.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"

namespace lattice::sdk::internal {

namespace asio = boost::asio;
namespace protocol = engine::protocol;

// Asio timers take std::chrono; an infinite or huge duration is a day.
inline std::chrono::steady_clock::duration ToChrono(absl::Duration d) {
  return std::chrono::microseconds(absl::ToInt64Microseconds(
      std::clamp(d, absl::ZeroDuration(), absl::Hours(24))));
}

// A ConnectionEvent of `state` with every other field at its default.
ConnectionEvent StateEvent(ConnectionState state);

class ClientCore : public std::enable_shared_from_this<ClientCore> {
 public:
  // `own_ioc` is null when the caller runs `ioc`; otherwise it is `ioc`
  // and Start runs it on a thread of the core's own.
  ClientCore(ClientOptions options, asio::io_context& ioc,
             std::unique_ptr<asio::io_context> own_ioc,
             std::unique_ptr<LocalStore> store, uint64_t replica);
  ~ClientCore();

  // Starts the first connection (and the own thread, if any).
  void Start();
  // Stops for good (Client's destructor): no callback runs once it
  // returns. REQUIRES: not called from a callback.
  void Shutdown();
  void Reconnect();

  // ---- Client accessors
  ConnectionEvent last_event() const;
  uint64_t connections() const;
  std::string session_id() const;
  uint64_t replica() const { return replica_; }
  absl::Status WaitUntil(const std::function<bool()>& pred,
                         absl::Duration timeout) const;
  void NoteActivity();

  // ---- Rooms (Room handles)
  absl::Status JoinRoom(const std::string& room);
  absl::Status LeaveRoom(const std::string& room);
  absl::Status Edit(const std::string& room, const std::string& doc,
                    const std::function<absl::Status(crdt::Doc&)>& edit);
  absl::Status Read(const std::string& room, const std::string& doc,
                    const std::function<void(const crdt::Doc&)>& read) const;
  std::vector<std::string> Docs(const std::string& room) const;
  RoomSyncStatus Status(const std::string& room) const;
  void SetOnChange(const std::string& room,
                   std::function<void(const DocChange&)> callback);
  void SetOnPresence(
      const std::string& room,
      std::function<void(const std::vector<crdt::SessionChange>&)> callback);
  std::vector<crdt::PresenceEntry> PresenceEntries(
      const std::string& room) const;
  std::string PresenceJson(const std::string& room) const;

  // ---- Presence (client_presence.cc)
  void SetStatus(const std::string& room, crdt::PresenceStatus status);
  void SetCursor(const std::string& room, std::optional<crdt::Cursor> cursor);
  void StartTyping(const std::string& room, const std::string& doc);
  void StopTyping(const std::string& room);
  absl::Status SetAppField(const std::string& room, const std::string& key,
                           const crdt::Value& value);
  void ClearAppField(const std::string& room, const std::string& key);

 private:
  // What the application asked of a room's presence; re-sent after every
  // joined, since the server drops a member's entry when it disconnects.
  struct LocalPresence {
    std::optional<crdt::PresenceStatus> status;  // chosen by the user
    std::optional<protocol::PresenceCursor> cursor;
    bool cursor_dirty = false;  // changed since last sent
    absl::Time cursor_sent_at = absl::InfinitePast();
    bool cursor_timer_armed = false;
    std::optional<std::string> typing;  // doc typed in
    absl::Time typing_renewed_at;
    absl::Time typing_sent_at = absl::InfinitePast();
    bool typing_timer_armed = false;
    absl::btree_map<std::string, protocol::PresenceAppValue> app;
  };
  // A document's log in the local store.
  struct DocLog {
    uint64_t next_index = 0;
    uint64_t entries = 0;
  };
  struct RoomEntry {
    RoomEntry(uint64_t replica_id, asio::io_context& ioc)
        : replica(replica_id),
          cursor_timer(std::make_unique<asio::steady_timer>(ioc)),
          typing_timer(std::make_unique<asio::steady_timer>(ioc)) {}
    RoomReplica replica;
    bool wanted = true;     // joined by the application and not left
    bool joined = false;    // joined on the current connection
    uint8_t access = 0;     // protocol::RoomAccess of the last joined
    uint64_t join_ref = 0;  // the join in flight, 0 when none
    // Local commits not sent because the room was not joined; they go out
    // after the next joined (RoomReplica::MissingOnServer).
    uint64_t offline_edits = 0;
    std::string last_error;
    absl::flat_hash_map<std::string, DocLog> logs;
    std::function<void(const DocChange&)> on_change;
    std::function<void(const std::vector<crdt::SessionChange>&)> on_presence;
    LocalPresence presence;
    std::unique_ptr<asio::steady_timer> cursor_timer;
    std::unique_ptr<asio::steady_timer> typing_timer;
  };
  // Doc observer events waiting to become a DocChange.
  struct CollectedEvents {
    std::string room;
    std::string doc;
    std::vector<crdt::ChangeEvent> events;
    bool reset = false;
  };

  // ---- Connection (client_core.cc), on the io_context
  void StartConnect() ABSL_LOCKS_EXCLUDED(mu_, cb_mu_);
  void OnOpen(uint64_t gen, absl::Status status) ABSL_LOCKS_EXCLUDED(mu_);
  void OnMessage(uint64_t gen, const std::string& bytes)
      ABSL_LOCKS_EXCLUDED(mu_);
  void OnClose(uint64_t gen, uint16_t code, std::string reason)
      ABSL_LOCKS_EXCLUDED(mu_);
  void Disconnected(uint16_t code, std::string reason, bool retry)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ScheduleReconnect(bool going_away) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SetEvent(ConnectionEvent event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Frames (client_frames.cc), under mu_
  void Handle(protocol::WelcomeFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Handle(protocol::JoinedFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Handle(protocol::UpdateFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Handle(protocol::SnapshotFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Handle(protocol::AckFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Handle(protocol::LeftFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Handle(protocol::PresenceUpdateFrame& f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Handle(protocol::ErrorFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  template <typename F>
  void Handle(F&) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {}  // client frames

  // ---- Helpers, under mu_
  RoomEntry* FindRoom(const std::string& room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const RoomEntry* FindRoom(const std::string& room) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Loads the room's replicas from the local store.
  absl::Status LoadRoom(const std::string& name, RoomEntry& room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendJoin(const std::string& name, RoomEntry& room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Send(const protocol::Frame& frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SendChange(const std::string& room, const std::string& doc,
                  std::string update) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores an update applied to (room, doc), with the room's resume point
  // when given; folds the log into a snapshot every compact_after entries.
  absl::Status Persist(const std::string& room_name, RoomEntry& room,
                       const std::string& doc, const std::string& update,
                       bool with_resume) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PersistSnapshot(const std::string& room_name, RoomEntry& room,
                               const std::string& doc)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void PersistResume(const std::string& room_name, const RoomEntry& room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Turns the collected observer events into OnChange callbacks.
  void FlushChanges() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues a user callback for strand_.
  void Emit(std::function<void()> callback) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Drain() ABSL_LOCKS_EXCLUDED(mu_, cb_mu_);
  // Wakes WaitUntil.
  void Bump() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // ---- Presence helpers (client_presence.cc), under mu_
  void SendPresence(const std::string& room_name, RoomEntry& room,
                    protocol::PresenceFrame frame)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The whole local presence, after joined.
  void ResendPresence(const std::string& room_name, RoomEntry& room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FlushCursor(const std::string& room_name, RoomEntry& room)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmCursorTimer(const std::string& room_name, RoomEntry& room,
                      absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmTypingTimer(const std::string& room_name, RoomEntry& room,
                      absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnCursorTimer(const std::string& room_name) ABSL_LOCKS_EXCLUDED(mu_);
  void OnTypingTimer(const std::string& room_name) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends the status to every joined room whose effective status it is.
  void BroadcastStatus() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  crdt::PresenceStatus EffectiveStatus(const RoomEntry& room) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  void ActivityLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void ArmAwayTimer(absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAwayTimer() ABSL_LOCKS_EXCLUDED(mu_);

  // ---- Immutable after construction
  const ClientOptions options_;
  const uint64_t replica_;
  // Declared first so that it is destroyed last.
  std::unique_ptr<asio::io_context> own_ioc_;
  asio::io_context& ioc_;
  std::thread thread_;  // runs own_ioc_, if any
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>>
      work_;

  // ---- Callbacks
  absl::Mutex cb_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  std::atomic<bool> stopped_{false};

  // ---- Guarded by mu_
  mutable absl::Mutex mu_;
  mutable absl::CondVar cv_;  // signalled by Bump
  uint64_t version_ ABSL_GUARDED_BY(mu_) = 0;
  // Reset by Shutdown (before the io_context may go away).
  std::optional<asio::strand<asio::io_context::executor_type>> strand_
      ABSL_GUARDED_BY(mu_);
  std::unique_ptr<asio::steady_timer> reconnect_timer_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<asio::steady_timer> away_timer_ ABSL_GUARDED_BY(mu_);
  std::deque<std::function<void()>> callbacks_ ABSL_GUARDED_BY(mu_);
  // options.on_connection; like the rooms' callbacks, dropped by Shutdown,
  // so that callbacks may hold Room handles without a reference cycle.
  std::function<void(const ConnectionEvent&)> on_connection_
      ABSL_GUARDED_BY(mu_);
  bool drain_posted_ ABSL_GUARDED_BY(mu_) = false;
  std::mt19937_64 rng_ ABSL_GUARDED_BY(mu_);

  // Null without data_dir, and after Shutdown (which closes it, so that a
  // new Client may open the directory while Room handles live on).
  std::unique_ptr<LocalStore> store_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<net::WsClient> ws_ ABSL_GUARDED_BY(mu_);
  // Numbers connection attempts; handlers of an older one are ignored.
  uint64_t gen_ ABSL_GUARDED_BY(mu_) = 0;
  bool connecting_ ABSL_GUARDED_BY(mu_) = false;  // StartConnect pending
  ConnectionEvent event_ ABSL_GUARDED_BY(mu_);
  bool open_ ABSL_GUARDED_BY(mu_) = false;         // WebSocket open
  bool auth_failed_ ABSL_GUARDED_BY(mu_) = false;  // hello refused
  // The connection Shutdown closes, and whether its close completed.
  uint64_t closing_gen_ ABSL_GUARDED_BY(mu_) = 0;
  bool close_done_ ABSL_GUARDED_BY(mu_) = false;
  std::string hello_error_ ABSL_GUARDED_BY(mu_);
  uint32_t attempt_ ABSL_GUARDED_BY(mu_) = 0;  // failures since welcome
  uint64_t connections_ ABSL_GUARDED_BY(mu_) = 0;
  std::string session_id_ ABSL_GUARDED_BY(mu_);
  uint64_t next_ref_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_client_seq_ ABSL_GUARDED_BY(mu_) = 1;
  // Rooms are never erased (a left room keeps its replicas), so pointers
  // stay valid under mu_.
  absl::btree_map<std::string, std::unique_ptr<RoomEntry>> rooms_
      ABSL_GUARDED_BY(mu_);
  // Change frames in flight: client_seq -> room.
  absl::flat_hash_map<uint64_t, std::string> unacked_ ABSL_GUARDED_BY(mu_);
  std::vector<CollectedEvents> collected_ ABSL_GUARDED_BY(mu_);
  // Presence activity (away_after).
  absl::Time last_activity_ ABSL_GUARDED_BY(mu_);
  bool auto_away_ ABSL_GUARDED_BY(mu_) = false;
  bool away_timer_armed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace lattice::sdk::internal

#endif  // LATTICE_SDK_INTERNAL_CLIENT_CORE_H_
