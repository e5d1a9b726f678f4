// The offline-first C++ SDK: a Client keeps local replicas of the rooms an
// application joins, applies local edits at once, sends them when it can,
// reconnects by itself (exponential backoff with full jitter), resyncs by
// resume point or version vector, and, with a data directory, keeps
// everything on disk so that a process restarted while offline keeps its
// edits. docs/sdk-cpp.md is the guide; docs/protocol.md the wire.
//
//   ClientOptions options;
//   options.port = 7700;
//   options.token_provider = [] { return FetchToken(); };  // every connect
//   options.data_dir = "/var/lib/app/lattice";              // offline-first
//   options.on_connection = [](const ConnectionEvent& e) { ... };
//   auto client = Client::Create(std::move(options));        // StatusOr
//   Room board = *(*client)->Join("board");                  // at once
//   board.OnChange([](const DocChange& c) { Redraw(c); });
//   board.Edit("tasks", [](crdt::Doc& d) {
//     return d.MapSet(crdt::kRootId, "t1", crdt::Value::String("spec"));
//   });
//   board.SetCursor(crdt::Point{10, 20});                    // throttled
//
// Thread safety: every public method of Client and Room may be called from
// any thread, including from inside the Client's callbacks (they run
// without the client's lock), except the functions passed to Edit and Read,
// which run under the lock and must not call the client. Callbacks
// (on_connection, OnChange, OnPresence) run on the client's executor: a
// strand of its own thread, or of the caller's io_context; one at a time,
// in the order of the events.
#ifndef LATTICE_SDK_CLIENT_H_
#define LATTICE_SDK_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crdt/doc.h"
#include "crdt/presence.h"
#include "crdt/presence_entry.h"
#include "sdk/backoff.h"
#include "sdk/resume_point.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace boost::asio {
class io_context;
}

namespace lattice::sdk {
namespace internal {
class ClientCore;
}

enum class ConnectionState : uint8_t {
  kConnecting,    // TCP, WebSocket handshake, hello sent
  kConnected,     // welcome received; rooms are being (re)joined
  kDisconnected,  // the connection ended; see will_retry
  kReconnecting,  // waiting `delay` before attempt `attempt`
};

absl::string_view ConnectionStateName(ConnectionState state);

// A change of connection state, as on_connection receives it.
struct ConnectionEvent {
  ConnectionState state = ConnectionState::kConnecting;
  // kDisconnected: the close code (0 when the connection never opened,
  // 1006 when it dropped without a close frame) and the reason (close
  // reason, or what failed: "connect: ...", "token provider: ...",
  // "hello refused: unauthenticated: ...").
  uint16_t close_code = 0;
  std::string reason;
  // kDisconnected: whether the client will reconnect by itself. False after
  // an authentication failure (close 4001, a refused hello or HTTP 401):
  // call Client::Reconnect once a new token is available.
  bool will_retry = false;
  // kReconnecting: the attempt about to be made (1 for the first retry)
  // and the delay before it.
  uint32_t attempt = 0;
  absl::Duration delay;
};

// Called before every connection attempt, on the client's executor; returns
// the token for hello. An error counts as a failed attempt (backoff).
using TokenProvider = std::function<absl::StatusOr<std::string>()>;

struct ClientOptions {
  // -- Server

  // Default: "127.0.0.1".
  std::string host = "127.0.0.1";
  // The server's port. Default: 0 (must be set).
  uint16_t port = 0;
  // Default: "/v1/ws".
  std::string target = "/v1/ws";

  // -- Identity

  // Asked before every connect; when empty, `token` is used. Default: none.
  TokenProvider token_provider;
  // Default: empty (anonymous server).
  std::string token;
  // The CRDT replica id of every local document; 0 takes the one stored in
  // data_dir, or draws a random non-zero 63-bit id (stored for next time).
  // Two live clients must never share one. Default: 0.
  uint64_t replica = 0;
  // Sent in hello. Default: "lattice-cpp".
  std::string client_name = "lattice-cpp";

  // -- Connection

  BackoffPolicy backoff;  // Default: 1 s, 30 s.
  // Seeds the backoff jitter; 0 seeds from std::random_device. Default: 0.
  uint64_t random_seed = 0;
  // Bounds TCP connect plus the WebSocket handshake. Default: 10 s.
  absl::Duration connect_timeout = absl::Seconds(10);
  // A connection silent for this long is dropped (1006) and retried; the
  // client pings after half of it. Default: 30 s.
  absl::Duration idle_timeout = absl::Seconds(30);
  // Connection state changes. Default: none.
  std::function<void(const ConnectionEvent&)> on_connection;

  // -- Local store

  // Directory of the local RocksDB store; empty keeps everything in memory
  // (lost with the process). Default: empty.
  std::string data_dir;
  // A document's log of updates is folded into a snapshot after this many
  // entries. Default: 256.
  uint64_t compact_after = 256;

  // -- Presence

  // SetCursor sends at most one cursor per this period (latest wins).
  // Default: 50 ms.
  absl::Duration cursor_throttle = absl::Milliseconds(50);
  // StartTyping stops by itself this long after its last call. Default: 5 s.
  absl::Duration typing_timeout = absl::Seconds(5);
  // Without activity (Edit, SetCursor, StartTyping, NoteActivity) for this
  // long the status becomes away, and back on the next activity; zero
  // disables. Default: 5 min.
  absl::Duration away_after = absl::Minutes(5);
};

// What changed in one document, as Room::OnChange receives it.
struct DocChange {
  std::string doc;
  // crdt::Doc observer events, in application order; empty when `reset`.
  std::vector<crdt::ChangeEvent> events;
  // The document was replaced by a snapshot from the server (with local
  // edits merged back): re-read it whole.
  bool reset = false;
  bool local = false;  // made by this client's Edit
};

// What a room's handle reports (Room::status).
struct RoomSyncStatus {
  bool joined = false;  // joined on the current connection
  uint8_t access = 0;   // protocol::RoomAccess of the last joined; 0 before
  ResumePoint resume;
  // Local edits the server has not acknowledged yet: change frames in
  // flight plus edits made while not joined (counted from this process's
  // start until the first joined, which resends whatever the server
  // lacks).
  uint64_t pending = 0;
  // The last error the server sent about the room ("code: message"), or
  // the last update or snapshot the local replica refused; cleared by the
  // next joined.
  std::string last_error;
};

class Client;

// A joined room: its documents (local replicas) and presence. A cheap
// handle; copies refer to the same room. Handles stay valid after the
// Client is destroyed; their calls then fail with FailedPrecondition (or
// return empty values). Thread safety: as Client.
class Room {
 public:
  const std::string& name() const { return name_; }

  // Runs `edit` on the local replica of `doc` (created empty on first
  // use), commits, stores the update locally and sends it when joined;
  // while offline it is sent after the next joined. The edit applies at
  // once. When `edit` fails, the ops it made are kept and sent all the
  // same, and its error is returned. Errors: PermissionDenied in a room
  // joined read-only; FailedPrecondition after Leave or without a Client;
  // the local store's error (the edit stays applied in memory).
  // REQUIRES: `edit` does not call the client.
  [[nodiscard]] absl::Status Edit(
      const std::string& doc,
      const std::function<absl::Status(crdt::Doc&)>& edit);
  // Runs `read` on the local replica of `doc` under the client's lock.
  // Errors: NotFound when there is no such document.
  [[nodiscard]] absl::Status Read(
      const std::string& doc,
      const std::function<void(const crdt::Doc&)>& read) const;
  // crdt::Doc::ToJson of the local replica. Errors: NotFound.
  [[nodiscard]] absl::StatusOr<std::string> Json(const std::string& doc) const;
  // The names of the local documents.
  std::vector<std::string> Docs() const;

  RoomSyncStatus status() const;
  // Waits until the room is joined and nothing is pending. Errors:
  // DeadlineExceeded.
  [[nodiscard]] absl::Status WaitSynced(absl::Duration timeout) const;

  // Replaces the change callback (runs on the client's executor).
  void OnChange(std::function<void(const DocChange&)> callback);
  // Replaces the presence callback: the sessions whose entries changed.
  void OnPresence(
      std::function<void(const std::vector<crdt::SessionChange>&)> callback);

  // ---- Presence (sent when joined, re-sent after every rejoin) ----------
  void SetStatus(crdt::PresenceStatus status);
  // Throttled: at most one cursor per options.cursor_throttle, latest wins.
  void SetCursor(crdt::Cursor cursor);
  void ClearCursor();
  // Starts or renews typing in `doc`; stops by itself after
  // options.typing_timeout without a renewal.
  void StartTyping(const std::string& doc);
  void StopTyping();
  // Sets an app-defined field of this client's entry (sent at once, kept
  // for rejoins): a scalar, whose kind others see as set (1.0 stays a
  // double). Errors: InvalidArgument for a null, container or deleted
  // value, a non-finite double, an empty key, a key or string that is not
  // UTF-8 or is over 256 bytes, or a 17th field (the server's limits,
  // docs/protocol.md "Presence").
  [[nodiscard]] absl::Status SetAppField(const std::string& key,
                                         const crdt::Value& value);
  // Removes an app field (a no-op when it is not set).
  void ClearAppField(const std::string& key);
  // The room's presence as last received (entries by session).
  std::vector<crdt::PresenceEntry> PresenceEntries() const;
  // crdt::Presence::ToJson; "{}" before the first presence frame.
  std::string PresenceJson() const;

  // Leaves the room: stops syncing it (a leave frame when joined); its local
  // documents stay in the store. Errors: FailedPrecondition when not joined
  // by this client.
  [[nodiscard]] absl::Status Leave();

 private:
  friend class Client;
  Room(std::shared_ptr<internal::ClientCore> core, std::string name)
      : core_(std::move(core)), name_(std::move(name)) {}
  // Immutable after construction.
  std::shared_ptr<internal::ClientCore> core_;  // never null
  std::string name_;
};

// A connection manager and the local replicas of the rooms it joined.
//
// Ownership: Create returns the sole owner. Destruction is clean with work
// in flight: it closes the connection (1000), cancels timers, waits for a
// callback that is running on another thread, and no callback runs after
// it returns; edits already made are in the local store. It also drops
// every callback, so callbacks may capture Room handles (which keep the
// client's state alive) without a reference cycle. REQUIRES: not
// destroyed from inside its own callbacks. With the caller's io_context,
// that context must outlive the Client.
class Client {
 public:
  // Opens the local store (when data_dir is set), takes the replica id and
  // starts connecting on a thread of the client's own. Errors:
  // InvalidArgument for port 0; the local store's (Unavailable when another
  // process uses data_dir, DataLoss, ...).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Client>> Create(
      ClientOptions options);
  // The same on the caller's io_context, which the caller runs (any number
  // of threads); callbacks run on a strand of it.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Client>> Create(
      ClientOptions options, boost::asio::io_context& ioc);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  // Returns the handle of `room`, joining it: the stored replicas are
  // loaded, and the room is joined now when connected, else after the next
  // welcome. Joining a room twice returns the same room. Errors: the local
  // store's.
  [[nodiscard]] absl::StatusOr<Room> Join(const std::string& room);

  // Connects again after an authentication failure stopped the retries (or
  // at once, cancelling a pending backoff wait). A no-op while connected.
  void Reconnect();

  ConnectionState state() const;
  // The last connection event (state kConnecting before the first).
  ConnectionEvent last_event() const;
  // Number of connections that reached welcome.
  uint64_t connections() const;
  // The session id of the current or last connection (empty before the
  // first welcome).
  std::string session_id() const;
  uint64_t replica() const;

  // Waits until `pred()` holds; `pred` runs without the client's lock (it
  // may call any method) on the calling thread, at the start and after
  // every event. Errors: DeadlineExceeded.
  [[nodiscard]] absl::Status WaitUntil(const std::function<bool()>& pred,
                                       absl::Duration timeout) const;

  // Marks user activity (see ClientOptions::away_after).
  void NoteActivity();

 private:
  explicit Client(std::shared_ptr<internal::ClientCore> core)
      : core_(std::move(core)) {}
  // Both Creates; `ioc` null: a context and thread of the client's own.
  static absl::StatusOr<std::unique_ptr<Client>> CreateOn(
      ClientOptions options, boost::asio::io_context* ioc);
  // Shared with the Room handles, which may outlive the Client.
  std::shared_ptr<internal::ClientCore> core_;  // never null
};

}  // namespace lattice::sdk

#endif  // LATTICE_SDK_CLIENT_H_
