// The minimal C++ client of a Lattice server: one WebSocket connection, a
// local replica (crdt::Doc) per document of the rooms it uses, and the sync
// protocol of docs/protocol.md (hello, join with resume point and version
// vectors, change / ack, live updates), with blocking calls. For tests and
// benchmarks that script the protocol; applications use sdk::Client
// (sdk/client.h), which reconnects and persists (docs/sdk-cpp.md).
//
//   SyncClientOptions options;
//   options.port = 8080;
//   options.token = jwt;
//   auto client = SyncClient::Connect(options);          // StatusOr
//   if (!client.ok()) return client.status();
//   auto path = (*client)->Join("board");                 // caught up
//   auto seq = (*client)->Edit("board", "shapes", [](crdt::Doc& doc) {
//     return doc.MapSet(crdt::kRootId, "title", crdt::Value::String("hi"));
//   });
//   absl::Status acked = (*client)->WaitAcked(absl::Seconds(5));
//   auto json = (*client)->Json("board", "shapes");      // {"title":"hi"}
//
// Thread safety: SyncClient is safe for concurrent use: every public method
// may be called from any thread, except from inside the callbacks it runs
// (`edit`, `read`, `pred`), which hold the client's lock (see WaitUntil for
// the accessors a predicate may call). The client runs its network I/O on a
// thread of its own; incoming frames are applied there under the same lock.
#ifndef LATTICE_SDK_SYNC_CLIENT_H_
#define LATTICE_SDK_SYNC_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "crdt/doc.h"
#include "sdk/resume_point.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace lattice::sdk {

struct SyncClientOptions {
  // -- Server

  // Host name or address of the server. Default: "127.0.0.1".
  std::string host = "127.0.0.1";
  // The server's HTTP/WebSocket port. Default: 0 (must be set).
  uint16_t port = 0;
  // Request target of the WebSocket upgrade. Default: "/v1/ws".
  std::string target = "/v1/ws";

  // -- Identity

  // Bearer token (JWT) sent in hello; empty for a server in anonymous mode.
  // Default: empty.
  std::string token;
  // The CRDT replica id of every local document; 0 draws a random non-zero
  // 63-bit id. Two live clients must never share one. Default: 0.
  uint64_t replica = 0;
  // Sent in hello, for the server's logs. Default: "lattice-cpp".
  std::string client_name = "lattice-cpp";

  // -- Timing

  // Bounds Connect (TCP, WebSocket handshake, hello/welcome), each Join and
  // each Leave, and the close handshake in the destructor. Default: 10 s.
  absl::Duration timeout = absl::Seconds(10);
};

// An error frame the server sent (docs/protocol.md).
struct ServerError {
  std::string code;  // "forbidden", "read_only", "rate_limited", ...
  std::string message;
  uint8_t ref_type = 0;  // protocol::FrameType of the refused frame, or 0
  uint64_t ref = 0;      // its join ref or change client_seq
  std::string room;      // may be empty
};

// What the client received (and sent) since Connect, for tests and metrics.
struct SyncClientCounters {
  uint64_t frames = 0;     // every message received, decodable or not
  uint64_t joined = 0;     // joined frames
  uint64_t updates = 0;    // update frames, live and catch-up
  uint64_t snapshots = 0;  // snapshot frames
  uint64_t acks = 0;       // ack frames
  uint64_t left = 0;       // left frames
  uint64_t presence = 0;   // presence frames
  uint64_t errors = 0;     // error frames
  // Messages that did not decode, and frames only a client sends. Frames
  // of an unknown (later) type are ignored and not counted here.
  uint64_t bad_frames = 0;
  // Updates and snapshots the local replica refused (see last_apply_error).
  uint64_t apply_errors = 0;
  uint64_t changes_sent = 0;  // change frames, by Edit and by Join
};

// What the client knows about one room.
struct RoomStatus {
  // From the room's joined frame until Leave, a server error that drops the
  // membership, or the end of the connection.
  bool joined = false;
  // protocol::RoomAccess of the last joined frame (1 read, 2 write); 0
  // before the first.
  uint8_t access = 0;
  // protocol::SyncPath of the last joined frame.
  uint8_t path = 0;
  ResumePoint resume;
  // Update and snapshot frames received for the room since the last Join
  // was sent (its catch-up frames included).
  uint64_t updates_since_join = 0;
  uint64_t snapshots_since_join = 0;
  // Change frames of the room sent and not yet acked or refused.
  uint64_t unacked = 0;
};

// A connection to a Lattice server and the local replicas of the documents
// of the rooms it uses.
//
// Ownership: Connect returns the sole owner; destroying it closes the
// connection (1000) and joins the network thread. Local documents live as
// long as the client (nothing is persisted yet).
//
// Thread safety: safe for concurrent use (one internal mutex). Callbacks
// run under that mutex and must not call back into the client, except for
// the accessors a WaitUntil predicate may call.
//
// Invariants (under the mutex):
//  1. No local Doc holds uncommitted local ops outside Edit, so incoming
//     updates can be applied at any time.
//  2. A room's resume point moves only forward within its epoch, except
//     that a joined frame sets it (the server's word on what the client
//     now holds) and so does set_resume_point.
//  3. Every change frame sent stays unacked until its ack or error
//     arrives, the room is left or dropped, or the connection ends.
class SyncClient {
 public:
  // Connects, sends hello and waits for welcome. Errors: Unavailable when
  // the TCP connection or the WebSocket handshake fails, or the server
  // closes without answering; Unauthenticated when the server refuses the
  // token (error frame "unauthenticated", close 4001 or HTTP 401);
  // FailedPrecondition when it speaks another protocol version;
  // DeadlineExceeded when no answer came within options.timeout;
  // InvalidArgument for port 0.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SyncClient>> Connect(
      SyncClientOptions options);

  // Closes the connection (1000) if it is open, waits up to
  // options.timeout for the close handshake and joins the network thread.
  ~SyncClient();
  SyncClient(const SyncClient&) = delete;
  SyncClient& operator=(const SyncClient&) = delete;

  // Joins `room`: sends the room's resume point and the version vector of
  // every local document of the room, applies the catch-up frames (updates
  // to the local replicas; a snapshot replaces the local replica, with the
  // local ops it lacks merged back in), and waits for `joined`, which sets
  // the resume point. Then, unless the access is read-only, sends as change
  // frames the local ops the server lacks (per document, ChangesSince the
  // server's version vector), which covers edits made while not joined.
  // Returns the protocol::SyncPath the server took.
  //
  // Errors: PermissionDenied when the server refuses access ("forbidden");
  // Unavailable when the connection is closed or closes meanwhile;
  // DeadlineExceeded after options.timeout (a late joined frame still joins
  // the room); otherwise the error frame's code and message, mapped as
  // docs/sdk-cpp.md lists (e.g. ResourceExhausted for "room_full").
  [[nodiscard]] absl::StatusOr<uint8_t> Join(const std::string& room);

  // Leaves `room` and waits for `left`. Its changes not yet acked are then
  // dropped from the unacked set (the server no longer answers them; the
  // next Join resends what it lacks). Local documents stay. Errors:
  // FailedPrecondition when the room is not joined; Unavailable when the
  // connection is closed or closes meanwhile; DeadlineExceeded after
  // options.timeout; the mapped error frame when the server refuses.
  [[nodiscard]] absl::Status Leave(const std::string& room);

  // Runs `edit` on the local replica of (room, doc), created empty on first
  // use, commits, and sends the update as a change frame. The edit applies
  // locally at once. Returns the change's client_seq, or 0 when nothing was
  // sent: the edit made no ops, or the room is not joined (the next Join
  // sends them). When `edit` fails, the ops it made before failing stay
  // applied and are sent all the same, and its error is returned. Errors:
  // Unavailable when the connection is closed, PermissionDenied when the
  // room was joined read-only (`edit` is not run in either case).
  // REQUIRES: `edit` does not call this client.
  [[nodiscard]] absl::StatusOr<uint64_t> Edit(
      const std::string& room, const std::string& doc,
      const std::function<absl::Status(crdt::Doc&)>& edit);

  // Waits until every change sent so far has been acked or refused (see
  // change_error). Errors: DeadlineExceeded on timeout; Unavailable when the
  // connection ends with changes unanswered.
  [[nodiscard]] absl::Status WaitAcked(absl::Duration timeout);

  // Waits until `pred()` is true. `pred` runs under the client's lock: once
  // at the start and again after incoming frames and the end of the
  // connection, never while a frame is being applied. It may call the
  // accessors below (Json, PresenceJson, Read, resume_point, room_status,
  // counters, last_error, change_error, last_apply_error, unacked, closed,
  // close_code, close_reason), which then use the lock already held; it
  // must not call anything else of this client. The end of the connection
  // does not end the wait. Errors: DeadlineExceeded on timeout.
  [[nodiscard]] absl::Status WaitUntil(const std::function<bool()>& pred,
                                       absl::Duration timeout);

  // ---- Accessors -----------------------------------------------------------

  // Returns the JSON of the local replica of (room, doc) (crdt::Doc::ToJson).
  // Errors: NotFound when there is no such local document.
  [[nodiscard]] absl::StatusOr<std::string> Json(const std::string& room,
                                                 const std::string& doc) const;
  // Returns the room's presence as the server last sent it
  // (crdt::Presence::ToJson). Errors: NotFound before the first presence
  // frame of the room.
  [[nodiscard]] absl::StatusOr<std::string> PresenceJson(
      const std::string& room) const;
  // Runs `read` on the local replica of (room, doc) under the lock; the
  // reference is valid only during the call. Errors: NotFound when there is
  // no such local document.
  [[nodiscard]] absl::Status Read(
      const std::string& room, const std::string& doc,
      const std::function<void(const crdt::Doc&)>& read) const;

  // Returns the resume point of `room` ((0, 0) when unknown); the next Join
  // sends it.
  ResumePoint resume_point(const std::string& room) const;
  // Replaces the resume point of `room`, e.g. to carry it over from an
  // earlier client object after a reconnect. The server then sends only
  // what the log holds after it (path kTail), so the local documents must
  // already include everything up to it.
  void set_resume_point(const std::string& room, ResumePoint p);

  // Returns the state of `room` (all zero when unknown).
  RoomStatus room_status(const std::string& room) const;
  SyncClientCounters counters() const;
  // Returns the last error frame received, if any.
  std::optional<ServerError> last_error() const;
  // Returns the error frame that refused the change numbered `client_seq`,
  // if any.
  std::optional<ServerError> change_error(uint64_t client_seq) const;
  // Returns why the last refused update or snapshot was refused (OK if
  // none was).
  absl::Status last_apply_error() const;
  // Returns the number of change frames sent and not yet answered, in every
  // room.
  uint64_t unacked() const;
  // Returns whether the connection has ended.
  bool closed() const;
  // Returns the close code: 0 while open, 1006 when the connection dropped
  // without a close frame, otherwise the code of the close frame.
  uint16_t close_code() const;
  std::string close_reason() const;

  // The session id from welcome.
  const std::string& session_id() const { return session_id_; }
  // The replica id of the local documents.
  uint64_t replica() const { return replica_; }

 private:
  // Network state and everything guarded by the client's mutex
  // (sync_client.cc), kept out of this header so it includes neither Asio
  // nor the protocol codec.
  struct Impl;

  explicit SyncClient(std::unique_ptr<Impl> impl);

  // Immutable once Connect has returned the client.
  std::unique_ptr<Impl> impl_;  // never null
  uint64_t replica_ = 0;
  std::string session_id_;
};

}  // namespace lattice::sdk

#endif  // LATTICE_SDK_SYNC_CLIENT_H_
