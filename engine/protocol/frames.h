// The Lattice wire protocol, version 1: the frames a client and the server
// exchange over one WebSocket, each a binary message holding one msgpack
// array whose first element is the frame's type tag. docs/protocol.md is the
// specification; this header is its C++ form and the only encoder/decoder.
//
//   std::string bytes = EncodeFrame(Frame{ChangeFrame{"board", "shapes", 7,
//   u}}); absl::StatusOr<Frame> f = DecodeFrame(bytes, limits);   // never
//   throws
//
// Decoding never trusts its input: sizes are bounded by DecodeLimits before
// anything is allocated, msgpack exceptions never escape, and every error is
// InvalidArgument (malformed) or Unimplemented (unknown type tag, which a
// peer of a later protocol version may send) with a message that says what
// and where ("frame change: field 4 (update) is not bin").
//
// Thread safety: plain values and pure functions.
#ifndef LATTICE_ENGINE_PROTOCOL_FRAMES_H_
#define LATTICE_ENGINE_PROTOCOL_FRAMES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::engine::protocol {

// 1: one frame per WebSocket message. 2: a server message may carry several
// frames back to back (SplitFrames), at most kMaxBatchBytes unless it is one
// frame.
inline constexpr uint32_t kProtocolVersion = 2;
inline constexpr uint64_t kMaxBatchBytes = 64 * 1024;

// Type tags: the first element of every frame's array.
enum class FrameType : uint8_t {
  // client -> server
  kHello = 1,
  kJoin = 2,
  kChange = 3,
  kLeave = 4,
  kAuth = 5,  // token refresh
  kPresence = 6,
  kEmit = 7,  // "event" from a client: an ephemeral event to a room or user
  // server -> client
  kWelcome = 16,
  kJoined = 17,
  kUpdate = 18,
  kSnapshot = 19,
  kAck = 20,
  kLeft = 21,
  kPresenceUpdate = 22,
  kEvent = 24,     // an ephemeral event delivered to a client
  kEventAck = 25,  // how many connections an emitted event reached
  kError = 31,
};

// WebSocket close codes the server uses (docs/protocol.md, "Closing").
enum CloseCode : uint16_t {
  kCloseNormal = 1000,
  kCloseGoingAway = 1001,       // server shutting down: reconnect elsewhere
  kCloseAuthFailed = 4001,      // bad, expired or revoked token: do not retry
                                // without a new token
  kCloseResyncRequired = 4002,  // fell too far behind: reconnect and resync
  kCloseProtocolError = 4003,   // malformed frames, wrong order
  kCloseLimitExceeded = 4004,   // rate or size limits, repeatedly
};

// Which path a join took to bring the client up to date.
enum class SyncPath : uint8_t {
  kNone = 0,      // the client was already up to date
  kTail = 1,      // the log tail after the client's (epoch, seq)
  kVersion = 2,   // ChangesSince(the client's version vectors)
  kSnapshot = 3,  // a snapshot per document (client had no state)
};

// Access a session has to a room.
enum class RoomAccess : uint8_t { kRead = 1, kWrite = 2 };

// [1, protocol_version, token, replica, client_name]
struct HelloFrame {
  uint32_t protocol_version = kProtocolVersion;
  std::string token;     // JWT (may be empty in anonymous mode)
  uint64_t replica = 0;  // the client's CRDT replica id, != 0
  std::string client_name;
};

// A document's version vector, as crdt::VersionVector::Encode gives it.
struct DocVersion {
  std::string doc;
  std::string version_vector;
};

// [2, ref, room, epoch, seq, [[doc, vv], ...]]
// The resume point: (epoch, seq) from the last joined/update/ack the client
// saw (0, 0 when it has none) and the version vector of every document it
// holds (none for a fresh client).
struct JoinFrame {
  uint64_t ref = 0;  // echoed in joined / error
  std::string room;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::vector<DocVersion> versions;
};

// [3, room, doc, client_seq, update]
struct ChangeFrame {
  std::string room;
  std::string doc;
  uint64_t client_seq = 0;  // the client's own counter, echoed in the ack
  std::string update;       // crdt::Doc::Commit() / ChangesSince bytes
};

// [4, room]
struct LeaveFrame {
  std::string room;
};

// [5, token]
struct AuthFrame {
  std::string token;
};

// A cursor: a point on a canvas, or a position in a document's text or
// list. Wire: [x, y] (numbers) | [doc, container_replica,
// container_counter, index] | the same plus [..., element_replica,
// element_counter] (crdt::TextAnchor: the element the position sits before).
struct PresenceCursor {
  bool point = true;
  double x = 0;
  double y = 0;
  std::string doc;
  uint64_t container_replica = 0;
  uint64_t container_counter = 0;
  uint64_t index = 0;
  bool has_element = false;
  uint64_t element_replica = 0;
  uint64_t element_counter = 0;

  friend bool operator==(const PresenceCursor&,
                         const PresenceCursor&) = default;
};

// Wire: [anchor, head].
struct PresenceSelection {
  PresenceCursor anchor;
  PresenceCursor head;

  friend bool operator==(const PresenceSelection&,
                         const PresenceSelection&) = default;
};

// An app-defined presence field's new value; wire nil deletes the field.
struct PresenceAppValue {
  enum class Kind : uint8_t { kDelete, kBool, kInt, kDouble, kString, kBytes };
  Kind kind = Kind::kDelete;
  bool b = false;
  int64_t i = 0;
  double d = 0;
  std::string s;  // kString (UTF-8) and kBytes

  friend bool operator==(const PresenceAppValue&,
                         const PresenceAppValue&) = default;
};

// [6, room, {"status": uint, "cursor": cursor | nil, "selection":
//  selection | nil, "typing": doc | nil, "app": {key: value | nil}}]
// Sets the sender's fields in the room's presence (docs/protocol.md,
// "Presence"); nil clears. Every key is optional; an empty map is a
// heartbeat. Keys are encoded in this order; unknown keys are ignored.
struct PresenceFrame {
  std::string room;
  std::optional<uint8_t> status;  // crdt::PresenceStatus, 0-3
  bool set_cursor = false;
  std::optional<PresenceCursor> cursor;  // nullopt: clear (when set_cursor)
  bool set_selection = false;
  std::optional<PresenceSelection> selection;
  bool set_typing = false;
  std::optional<std::string> typing;  // the doc typed in; nullopt: stop
  std::vector<std::pair<std::string, PresenceAppValue>> app;

  friend bool operator==(const PresenceFrame&, const PresenceFrame&) = default;
};

// Whom an event is addressed to.
enum class EventTarget : uint8_t {
  kRoom = 1,  // every member of a room but the sender ("room" on the wire)
  kUser = 2,  // every connection of a user id, a token's sub ("user")
};

// [7, ref, target_kind, target, name, payload]
// The client->server `event` frame (docs/protocol.md, "Events"): an
// ephemeral, never persisted event. `payload` is opaque bytes (by
// convention msgpack), at most DecodeLimits::max_event_payload_bytes.
struct EmitFrame {
  uint64_t ref = 0;  // echoed in event_ack / error.ref; 0: no ack wanted
  EventTarget target_kind = EventTarget::kRoom;
  std::string target;  // a room name or a user id
  std::string name;    // the event's name, e.g. "task_assigned"
  std::string payload;
};

// [16, session_id, protocol_version, max_message_bytes, max_rooms]
struct WelcomeFrame {
  std::string session_id;
  uint32_t protocol_version = kProtocolVersion;
  uint64_t max_message_bytes = 0;
  uint64_t max_rooms = 0;
};

// [17, ref, room, path, epoch, seq, access, [[doc, vv], ...]]
// Sent after the catch-up frames (update / snapshot) of a join: the client
// now holds everything of the room up to (epoch, seq). `versions` are the
// server's version vectors, so the client can send what the server lacks
// (ChangesSince(server vv) per document, as change frames).
struct JoinedFrame {
  uint64_t ref = 0;
  std::string room;
  SyncPath path = SyncPath::kNone;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  RoomAccess access = RoomAccess::kRead;
  std::vector<DocVersion> versions;
};

// [18, room, doc, epoch, seq, update]
// A change accepted by the room: a live broadcast, or part of a catch-up.
// seq is the room sequence that persisted it; 0 when the update is a
// computed catch-up (ChangesSince) rather than one log record.
struct UpdateFrame {
  std::string room;
  std::string doc;
  uint64_t epoch = 0;
  uint64_t seq = 0;
  std::string update;
};

// [19, room, doc, snapshot]
struct SnapshotFrame {
  std::string room;
  std::string doc;
  std::string snapshot;  // crdt::Doc::EncodeSnapshot() bytes
};

// [20, room, client_seq, epoch, seq]
// The change the client numbered client_seq is durable as room seq `seq`.
struct AckFrame {
  std::string room;
  uint64_t client_seq = 0;
  uint64_t epoch = 0;
  uint64_t seq = 0;
};

// [21, room]
struct LeftFrame {
  std::string room;
};

// [22, room, presence]
// The room's presence: crdt::Presence::EncodeState() right after joined,
// then EncodeDelta() of what changed, at most one frame per tick.
struct PresenceUpdateFrame {
  std::string room;
  std::string presence;
};

// [24, room, from, name, payload]
// An event delivered to a client: `room` is the room it was emitted to, or
// empty for an event addressed to the user; `from` is the sender's user id,
// or "server" when the backend emitted it.
struct EventFrame {
  std::string room;
  std::string from;
  std::string name;
  std::string payload;
};

// [25, ref, delivered]
// The emit numbered `ref` was handed to `delivered` connections (queued
// for sending, not confirmed read).
struct EventAckFrame {
  uint64_t ref = 0;
  uint64_t delivered = 0;
};

// [31, code, message, ref_type, ref, room]
// A refusal. `ref_type` is the type tag of the offending frame (0 when it
// could not be decoded), `ref` its join ref or change client_seq, `room`
// the room it named (may be empty).
struct ErrorFrame {
  std::string code;  // stable, snake_case: "forbidden", "read_only", ...
  std::string message;
  uint8_t ref_type = 0;
  uint64_t ref = 0;
  std::string room;
};

using Frame =
    std::variant<HelloFrame, JoinFrame, ChangeFrame, LeaveFrame, AuthFrame,
                 PresenceFrame, EmitFrame, WelcomeFrame, JoinedFrame,
                 UpdateFrame, SnapshotFrame, AckFrame, LeftFrame,
                 PresenceUpdateFrame, EventFrame, EventAckFrame, ErrorFrame>;

// The wire form of an event target: "room" or "user".
const char* EventTargetName(EventTarget target);

FrameType TypeOf(const Frame& frame);

// Bounds applied while decoding.
struct DecodeLimits {
  // Longest room, document, token, name, code or message string.
  // Default: 256 bytes for names, see below for the rest.
  uint64_t max_name_bytes = 256;
  uint64_t max_token_bytes = 8 * 1024;
  uint64_t max_message_text_bytes = 4 * 1024;
  // Largest update or snapshot payload. Default: 16 MiB.
  uint64_t max_payload_bytes = 16 << 20;
  // Most documents in a join or joined frame. Default: 64.
  uint64_t max_docs = 64;
  // Most app fields in one presence frame. Default: 16.
  uint64_t max_presence_app_fields = 16;
  // Largest event payload (emit and event frames). Default: 4 KiB.
  uint64_t max_event_payload_bytes = 4 * 1024;
};

// Encodes one frame. Never fails: every field is representable.
std::string EncodeFrame(const Frame& frame);

// Decodes one frame. Errors: InvalidArgument for malformed or oversized
// input (not a msgpack array, wrong field count or type, trailing bytes,
// a field above its limit); Unimplemented for an unknown type tag.
[[nodiscard]] absl::StatusOr<Frame> DecodeFrame(
    absl::string_view bytes, const DecodeLimits& limits = {});

// Splits one server message into its frames. From protocol 2 on a server
// may put several frames back to back in one WebSocket message (a batch,
// docs/protocol.md); each piece is then decoded with DecodeFrame. Each piece
// is one complete msgpack value within `limits`; what it holds is not
// checked here. Errors: InvalidArgument for an empty message or bytes that
// are not whole msgpack values (naming the frame and byte offset).
[[nodiscard]] absl::StatusOr<std::vector<absl::string_view>> SplitFrames(
    absl::string_view message, const DecodeLimits& limits = {});

// Decodes every frame of one server message: SplitFrames, then DecodeFrame
// on each piece, in order. A message that does not split gives one error.
std::vector<absl::StatusOr<Frame>> DecodeFrames(
    absl::string_view message, const DecodeLimits& limits = {});

// The type tag of an encoded frame, without decoding the rest (0 when it is
// not a msgpack array starting with a small unsigned integer). For error
// frames that must name what they refuse.
uint8_t PeekType(absl::string_view bytes);

}  // namespace lattice::engine::protocol

#endif  // LATTICE_ENGINE_PROTOCOL_FRAMES_H_
