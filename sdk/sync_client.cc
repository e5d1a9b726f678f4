#include "sdk/sync_client.h"

#include <algorithm>
#include <chrono>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "base/logging.h"
#include "engine/protocol/frames.h"
#include "net/websocket.h"
#include "net/websocket_client.h"
#include "sdk/internal/room_replica.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace lattice::sdk {
namespace {

namespace asio = boost::asio;
namespace protocol = engine::protocol;
using protocol::FrameType;

// Largest message the client accepts: the largest update or snapshot
// payload the codec decodes, plus room for the frame around it.
constexpr uint64_t kMaxMessageBytes =
    protocol::DecodeLimits{}.max_payload_bytes + (1 << 20);

// The client whose WaitUntil predicate runs on this thread, holding that
// client's lock: its accessors must not take the lock again.
thread_local const void* t_predicate_owner = nullptr;

// Marks the current thread as running a predicate of `owner`.
class PredicateScope {
 public:
  explicit PredicateScope(const void* owner) : saved_(t_predicate_owner) {
    t_predicate_owner = owner;
  }
  ~PredicateScope() { t_predicate_owner = saved_; }
  PredicateScope(const PredicateScope&) = delete;
  PredicateScope& operator=(const PredicateScope&) = delete;

 private:
  const void* saved_;
};

uint64_t RandomReplica() {
  std::random_device rd;
  uint64_t id = 0;
  while (id == 0) {
    id = ((uint64_t{rd()} << 32) ^ uint64_t{rd()}) & ((uint64_t{1} << 63) - 1);
  }
  return id;
}

constexpr uint8_t Tag(FrameType type) { return static_cast<uint8_t>(type); }

std::chrono::milliseconds ToChronoMillis(absl::Duration d) {
  // Asio timers overflow on "infinite"; a day is forever for a handshake.
  return absl::ToChronoMilliseconds(
      std::clamp(d, absl::ZeroDuration(), absl::Hours(24)));
}

// Maps an error frame's code to a status code (docs/sdk-cpp.md).
absl::StatusCode CodeFor(absl::string_view code) {
  if (code == "unauthenticated" || code == "token_expired") {
    return absl::StatusCode::kUnauthenticated;
  }
  if (code == "forbidden" || code == "read_only") {
    return absl::StatusCode::kPermissionDenied;
  }
  if (code == "room_full" || code == "too_many_rooms" ||
      code == "rate_limited" || code == "too_large") {
    return absl::StatusCode::kResourceExhausted;
  }
  if (code == "unavailable") return absl::StatusCode::kUnavailable;
  if (code == "bad_frame" || code == "unknown_frame" || code == "bad_update") {
    return absl::StatusCode::kInvalidArgument;
  }
  if (code == "not_joined" || code == "protocol_version") {
    return absl::StatusCode::kFailedPrecondition;
  }
  if (code == "internal") return absl::StatusCode::kInternal;
  return absl::StatusCode::kUnknown;
}

absl::Status ToStatus(const ServerError& e, absl::string_view what) {
  return absl::Status(CodeFor(e.code),
                      absl::StrCat(what, ": ", e.code, ": ", e.message));
}

std::shared_ptr<const std::string> Shared(std::string bytes) {
  return std::make_shared<const std::string>(std::move(bytes));
}

// The answer to a join: the joined frame's path, or the error frame.
struct JoinAnswer {
  absl::Status status;
  uint8_t path = 0;
};

// A change frame sent and not yet answered.
struct SentChange {
  std::string room;
  std::string doc;
};

// The local state of one room: its replicas and resume point (shared rules,
// internal::RoomReplica) and what this client tracks of its membership.
struct RoomState {
  explicit RoomState(uint64_t replica_id) : replica(replica_id) {}
  internal::RoomReplica replica;
  bool joined = false;
  uint8_t access = 0;
  uint8_t path = 0;
  uint64_t updates_since_join = 0;
  uint64_t snapshots_since_join = 0;
  uint64_t left_frames = 0;  // left frames received, for Leave to wait on
  // The error frame that refused the last leave.
  std::optional<ServerError> leave_error;
};

}  // namespace

struct SyncClient::Impl {
  Impl(SyncClientOptions o, uint64_t r) : options(std::move(o)), replica(r) {
    limits.max_docs = 4096;  // joined lists every document of a room
  }

  // The lock for reads: `mu` held exclusively, or nothing when this thread
  // runs a WaitUntil predicate of this client (which holds `mu` already).
  // Exclusive, not shared: a Doc is not thread-safe even for const calls
  // (reads move its position caches), so two readers must not overlap.
  class ABSL_SCOPED_LOCKABLE ReadLock {
   public:
    explicit ReadLock(const Impl& impl)
        ABSL_EXCLUSIVE_LOCK_FUNCTION(impl.mu) ABSL_NO_THREAD_SAFETY_ANALYSIS
        : mu_(t_predicate_owner == &impl ? nullptr : &impl.mu) {
      if (mu_ != nullptr) mu_->Lock();
    }
    ~ReadLock() ABSL_UNLOCK_FUNCTION() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      if (mu_ != nullptr) mu_->Unlock();
    }
    ReadLock(const ReadLock&) = delete;
    ReadLock& operator=(const ReadLock&) = delete;

   private:
    absl::Mutex* mu_;
  };

  // ---- Network thread
  void OnOpen(absl::Status status) ABSL_LOCKS_EXCLUDED(mu);
  void OnMessage(const std::string& bytes) ABSL_LOCKS_EXCLUDED(mu);
  void OnClose(uint16_t code, std::string reason) ABSL_LOCKS_EXCLUDED(mu);

  // ---- Frame handlers (under mu)
  void Handle(protocol::WelcomeFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Handle(protocol::JoinedFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Handle(protocol::UpdateFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Handle(protocol::SnapshotFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Handle(protocol::AckFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Handle(protocol::LeftFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Handle(protocol::PresenceUpdateFrame& f)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  void Handle(protocol::ErrorFrame& f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Events are valid server frames this minimal client does not surface.
  void Handle(protocol::EventFrame&) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {}
  void Handle(protocol::EventAckFrame&) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {}
  // Frames only a client sends.
  template <typename F>
  void Handle(F&) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    ++counters.bad_frames;
  }

  // ---- Helpers (under mu)
  RoomState& RoomFor(const std::string& room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  const RoomState* FindRoom(const std::string& room) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  const crdt::Doc* FindDoc(const std::string& room,
                           const std::string& doc) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);
  void RecordApplyError(absl::Status status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Forgets the unanswered changes of `room` (left or dropped).
  void DropUnacked(const std::string& room) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Sends one frame; dropped once the connection has ended.
  void Send(const protocol::Frame& frame) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Sends a change frame and records it as unacked; returns its client_seq.
  uint64_t SendChange(const std::string& room, const std::string& doc,
                      std::string update) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // Waits until `done()` or `deadline`; returns done().
  bool WaitFor(const std::function<bool()>& done, absl::Time deadline)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu);
  // The error for `what` once the connection has ended.
  absl::Status ClosedError(absl::string_view what) const
      ABSL_SHARED_LOCKS_REQUIRED(mu);

  // ---- Immutable after construction
  const SyncClientOptions options;
  const uint64_t replica;
  protocol::DecodeLimits limits;

  // ---- Network
  // `ws` is set before `thread` starts and released only after it was joined;
  // the WebSocket client calls back on `thread` only.
  asio::io_context ioc;
  asio::executor_work_guard<asio::io_context::executor_type> work{
      ioc.get_executor()};
  std::shared_ptr<net::WsClient> ws;
  std::thread thread;

  // ---- Guarded by mu
  mutable absl::Mutex mu;
  absl::CondVar cv;  // signalled after every frame, on open and on close
  bool open_done ABSL_GUARDED_BY(mu) = false;
  absl::Status open_status ABSL_GUARDED_BY(mu);
  std::optional<protocol::WelcomeFrame> welcome ABSL_GUARDED_BY(mu);
  std::optional<ServerError> hello_error ABSL_GUARDED_BY(mu);
  bool closed ABSL_GUARDED_BY(mu) = false;
  uint16_t close_code ABSL_GUARDED_BY(mu) = 0;
  std::string close_reason ABSL_GUARDED_BY(mu);
  // Rooms are never erased, so references stay valid under mu.
  absl::flat_hash_map<std::string, std::unique_ptr<RoomState>> rooms
      ABSL_GUARDED_BY(mu);
  uint64_t next_ref ABSL_GUARDED_BY(mu) = 1;
  uint64_t next_client_seq ABSL_GUARDED_BY(mu) = 1;
  // Joins waiting for their answer: ref -> room; and the answers.
  absl::flat_hash_map<uint64_t, std::string> joins_in_flight
      ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint64_t, JoinAnswer> join_results ABSL_GUARDED_BY(mu);
  absl::btree_map<uint64_t, SentChange> unacked ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<uint64_t, ServerError> change_errors ABSL_GUARDED_BY(mu);
  std::optional<ServerError> last_error ABSL_GUARDED_BY(mu);
  absl::Status last_apply_error ABSL_GUARDED_BY(mu);
  SyncClientCounters counters ABSL_GUARDED_BY(mu);
};

// ---- Network thread

void SyncClient::Impl::OnOpen(absl::Status status) {
  absl::MutexLock lock(&mu);
  open_done = true;
  if (status.ok()) {
    Send(protocol::HelloFrame{protocol::kProtocolVersion, options.token,
                              replica, options.client_name});
  } else {
    // No on_close follows a failed open.
    open_status = std::move(status);
    closed = true;
    close_code = net::kCloseAbnormal;
    close_reason = std::string(open_status.message());
  }
  cv.SignalAll();
}

void SyncClient::Impl::OnMessage(const std::string& bytes) {
  // A message may carry a batch of frames (protocol 2).
  std::vector<absl::StatusOr<protocol::Frame>> frames =
      protocol::DecodeFrames(bytes, limits);
  absl::MutexLock lock(&mu);
  for (absl::StatusOr<protocol::Frame>& frame : frames) {
    ++counters.frames;
    if (absl::IsUnimplemented(frame.status())) {
      // A frame type of a later protocol version: ignored (docs/protocol.md,
      // "Forward compatibility").
    } else if (!frame.ok()) {
      ++counters.bad_frames;
      LATTICE_LOG(kWarning)
          << "sync client: dropped a frame: " << frame.status();
    } else {
      std::visit([this](auto& f) ABSL_NO_THREAD_SAFETY_ANALYSIS { Handle(f); },
                 *frame);
    }
  }
  cv.SignalAll();
}

void SyncClient::Impl::OnClose(uint16_t code, std::string reason) {
  absl::MutexLock lock(&mu);
  closed = true;
  close_code = code;
  close_reason = std::move(reason);
  for (auto& [name, room] : rooms) room->joined = false;
  cv.SignalAll();
}

// ---- Frame handlers

void SyncClient::Impl::Handle(protocol::WelcomeFrame& f) {
  welcome = std::move(f);
}

void SyncClient::Impl::Handle(protocol::JoinedFrame& f) {
  ++counters.joined;
  RoomState& room = RoomFor(f.room);
  room.joined = true;
  room.access = static_cast<uint8_t>(f.access);
  room.path = static_cast<uint8_t>(f.path);
  room.replica.SetResume({f.epoch, f.seq});
  if (auto it = joins_in_flight.find(f.ref); it != joins_in_flight.end()) {
    join_results.insert_or_assign(
        f.ref, JoinAnswer{absl::OkStatus(), static_cast<uint8_t>(f.path)});
    joins_in_flight.erase(it);
  }
  if (f.access != protocol::RoomAccess::kWrite) return;
  // Send what the server lacks: edits made while not joined, and local ops
  // a snapshot did not have.
  for (auto& [doc, update] : room.replica.MissingOnServer(f.versions)) {
    SendChange(f.room, doc, std::move(update));
  }
}

void SyncClient::Impl::Handle(protocol::UpdateFrame& f) {
  ++counters.updates;
  auto it = rooms.find(f.room);
  if (it == rooms.end()) return;  // never joined here: nothing to update
  RoomState& room = *it->second;
  ++room.updates_since_join;
  if (absl::Status applied = room.replica.ApplyUpdate(f); !applied.ok()) {
    RecordApplyError(std::move(applied));
  }
}

void SyncClient::Impl::Handle(protocol::SnapshotFrame& f) {
  ++counters.snapshots;
  auto it = rooms.find(f.room);
  if (it == rooms.end()) return;
  RoomState& room = *it->second;
  ++room.snapshots_since_join;
  if (absl::Status applied = room.replica.ApplySnapshot(f); !applied.ok()) {
    RecordApplyError(std::move(applied));
  }
}

void SyncClient::Impl::Handle(protocol::AckFrame& f) {
  ++counters.acks;
  unacked.erase(f.client_seq);
  auto it = rooms.find(f.room);
  if (it != rooms.end()) it->second->replica.Advance(f.epoch, f.seq);
}

void SyncClient::Impl::Handle(protocol::LeftFrame& f) {
  ++counters.left;
  auto it = rooms.find(f.room);
  if (it == rooms.end()) return;
  it->second->joined = false;
  ++it->second->left_frames;
  DropUnacked(f.room);
}

void SyncClient::Impl::Handle(protocol::PresenceUpdateFrame& f) {
  ++counters.presence;
  auto it = rooms.find(f.room);
  if (it == rooms.end()) return;
  auto applied = it->second->replica.ApplyPresence(f.presence, absl::Now());
  if (!applied.ok()) {
    RecordApplyError(absl::Status(applied.status().code(),
                                  absl::StrCat("presence of ", f.room, ": ",
                                               applied.status().message())));
  }
}

void SyncClient::Impl::Handle(protocol::ErrorFrame& f) {
  ++counters.errors;
  ServerError e{std::move(f.code), std::move(f.message), f.ref_type, f.ref,
                std::move(f.room)};
  last_error = e;
  auto room = rooms.find(e.room);
  switch (e.ref_type) {
    case Tag(FrameType::kHello):
      hello_error = e;
      break;
    case Tag(FrameType::kJoin):
      if (auto it = joins_in_flight.find(e.ref); it != joins_in_flight.end()) {
        join_results.insert_or_assign(
            e.ref,
            JoinAnswer{ToStatus(e, absl::StrCat("join room ", it->second))});
        joins_in_flight.erase(it);
      } else if (e.ref == 0 && room != rooms.end()) {
        // The room dropped this member (e.g. it failed): no more acks.
        room->second->joined = false;
        DropUnacked(e.room);
      }
      break;
    case Tag(FrameType::kChange):
      if (unacked.erase(e.ref) > 0) change_errors.insert_or_assign(e.ref, e);
      break;
    case Tag(FrameType::kLeave):
      if (room != rooms.end()) {
        room->second->leave_error = e;
        DropUnacked(e.room);
      }
      break;
    default:
      break;
  }
}

// ---- Helpers

RoomState& SyncClient::Impl::RoomFor(const std::string& room) {
  std::unique_ptr<RoomState>& r = rooms[room];
  if (r == nullptr) r = std::make_unique<RoomState>(replica);
  return *r;
}

const RoomState* SyncClient::Impl::FindRoom(const std::string& room) const {
  auto it = rooms.find(room);
  return it == rooms.end() ? nullptr : it->second.get();
}

const crdt::Doc* SyncClient::Impl::FindDoc(const std::string& room,
                                           const std::string& doc) const {
  const RoomState* r = FindRoom(room);
  return r == nullptr ? nullptr : r->replica.FindDoc(doc);
}

void SyncClient::Impl::RecordApplyError(absl::Status status) {
  ++counters.apply_errors;
  LATTICE_LOG(kWarning) << "sync client: " << status;
  last_apply_error = std::move(status);
}

void SyncClient::Impl::DropUnacked(const std::string& room) {
  absl::erase_if(unacked,
                 [&](const auto& entry) { return entry.second.room == room; });
}

void SyncClient::Impl::Send(const protocol::Frame& frame) {
  if (closed) return;
  ws->Send(Shared(protocol::EncodeFrame(frame)));
}

uint64_t SyncClient::Impl::SendChange(const std::string& room,
                                      const std::string& doc,
                                      std::string update) {
  const uint64_t client_seq = next_client_seq++;
  ++counters.changes_sent;
  unacked.insert_or_assign(client_seq, SentChange{room, doc});
  Send(protocol::ChangeFrame{room, doc, client_seq, std::move(update)});
  return client_seq;
}

bool SyncClient::Impl::WaitFor(const std::function<bool()>& done,
                               absl::Time deadline) {
  while (!done()) {
    if (cv.WaitWithDeadline(&mu, deadline)) return done();
  }
  return true;
}

absl::Status SyncClient::Impl::ClosedError(absl::string_view what) const {
  return absl::UnavailableError(
      absl::StrCat(what, ": connection closed (", close_code,
                   close_reason.empty() ? "" : " ", close_reason, ")"));
}

// ---- SyncClient

SyncClient::SyncClient(std::unique_ptr<Impl> impl)
    : impl_(std::move(impl)), replica_(impl_->replica) {}

absl::StatusOr<std::unique_ptr<SyncClient>> SyncClient::Connect(
    SyncClientOptions options) {
  if (options.port == 0) {
    return absl::InvalidArgumentError("connect: port 0");
  }
  const uint64_t replica =
      options.replica != 0 ? options.replica : RandomReplica();
  auto impl = std::make_unique<Impl>(std::move(options), replica);
  Impl& s = *impl;
  const SyncClientOptions& o = s.options;
  net::WsClientOptions ws_options;
  ws_options.max_message_bytes = kMaxMessageBytes;
  ws_options.connect_timeout = ToChronoMillis(o.timeout);
  s.ws = net::WsClient::Create(s.ioc, ws_options);
  s.ws->set_on_message([&s](std::string bytes) { s.OnMessage(bytes); });
  s.ws->set_on_close([&s](uint16_t code, std::string reason) {
    s.OnClose(code, std::move(reason));
  });
  // From here on the destructor closes the connection and joins the thread.
  std::unique_ptr<SyncClient> client(new SyncClient(std::move(impl)));
  s.thread = std::thread([&s] { s.ioc.run(); });
  const absl::Time deadline = absl::Now() + o.timeout;
  s.ws->Connect(o.host, o.port, o.target,
                [&s](absl::Status status) { s.OnOpen(std::move(status)); });

  const std::string where =
      absl::StrCat("connect to ws://", o.host, ":", o.port, o.target);
  absl::MutexLock lock(&s.mu);
  s.WaitFor(
      [&s]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return s.welcome.has_value() || s.hello_error.has_value() || s.closed;
      },
      deadline);
  if (s.hello_error.has_value()) {
    return ToStatus(*s.hello_error, absl::StrCat(where, ": hello refused"));
  }
  if (s.welcome.has_value()) {
    client->session_id_ = s.welcome->session_id;
    return client;
  }
  if (s.closed) {
    if (!s.open_status.ok()) {
      return absl::Status(s.open_status.code(),
                          absl::StrCat(where, ": ", s.open_status.message()));
    }
    if (s.close_code == protocol::kCloseAuthFailed) {
      return absl::UnauthenticatedError(
          absl::StrCat(where, ": closed ", s.close_code, " ", s.close_reason));
    }
    return s.ClosedError(absl::StrCat(where, ": no welcome"));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      where, ": no welcome within ", absl::FormatDuration(o.timeout)));
}

SyncClient::~SyncClient() {
  Impl& s = *impl_;
  bool open = false;
  {
    absl::MutexLock lock(&s.mu);
    open = s.open_done && !s.closed;
  }
  // Also cancels a Connect in progress.
  s.ws->Close(net::kCloseNormal, "");
  if (open) {
    absl::MutexLock lock(&s.mu);
    s.WaitFor([&s]() ABSL_NO_THREAD_SAFETY_ANALYSIS { return s.closed; },
              absl::Now() + s.options.timeout);
  }
  s.work.reset();
  s.ioc.stop();
  if (s.thread.joinable()) s.thread.join();
}

absl::StatusOr<uint8_t> SyncClient::Join(const std::string& room) {
  Impl& s = *impl_;
  const std::string what = absl::StrCat("join room ", room);
  absl::MutexLock lock(&s.mu);
  if (s.closed) return s.ClosedError(what);
  RoomState& r = s.RoomFor(room);
  protocol::JoinFrame join = r.replica.MakeJoin(s.next_ref++, room);
  r.updates_since_join = 0;
  r.snapshots_since_join = 0;
  const uint64_t ref = join.ref;
  s.joins_in_flight.insert_or_assign(ref, room);
  s.Send(join);
  s.WaitFor(
      [&s, ref]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return s.join_results.contains(ref) || s.closed;
      },
      absl::Now() + s.options.timeout);
  if (auto it = s.join_results.find(ref); it != s.join_results.end()) {
    const JoinAnswer answer = std::move(it->second);
    s.join_results.erase(it);
    if (!answer.status.ok()) return answer.status;
    return answer.path;
  }
  s.joins_in_flight.erase(ref);
  if (s.closed) return s.ClosedError(what);
  return absl::DeadlineExceededError(absl::StrCat(
      what, ": no answer within ", absl::FormatDuration(s.options.timeout)));
}

absl::Status SyncClient::Leave(const std::string& room) {
  Impl& s = *impl_;
  const std::string what = absl::StrCat("leave room ", room);
  absl::MutexLock lock(&s.mu);
  if (s.closed) return s.ClosedError(what);
  auto it = s.rooms.find(room);
  if (it == s.rooms.end() || !it->second->joined) {
    return absl::FailedPreconditionError(absl::StrCat(what, ": not joined"));
  }
  RoomState& r = *it->second;
  r.joined = false;  // later edits stay local
  r.leave_error.reset();
  const uint64_t left_before = r.left_frames;
  s.Send(protocol::LeaveFrame{room});
  s.WaitFor(
      [&]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return r.left_frames > left_before || r.leave_error.has_value() ||
               s.closed;
      },
      absl::Now() + s.options.timeout);
  if (r.left_frames > left_before) return absl::OkStatus();
  if (r.leave_error.has_value()) return ToStatus(*r.leave_error, what);
  if (s.closed) return s.ClosedError(what);
  return absl::DeadlineExceededError(absl::StrCat(
      what, ": no answer within ", absl::FormatDuration(s.options.timeout)));
}

absl::StatusOr<uint64_t> SyncClient::Edit(
    const std::string& room, const std::string& doc,
    const std::function<absl::Status(crdt::Doc&)>& edit) {
  Impl& s = *impl_;
  absl::MutexLock lock(&s.mu);
  if (s.closed) return s.ClosedError(absl::StrCat("edit ", room, "/", doc));
  RoomState& r = s.RoomFor(room);
  if (r.joined &&
      r.access != static_cast<uint8_t>(protocol::RoomAccess::kWrite)) {
    return absl::PermissionDeniedError(
        absl::StrCat("edit ", room, "/", doc, ": room joined read-only"));
  }
  crdt::Doc& d = r.replica.Doc(doc);
  absl::Status status = edit(d);
  // Commit even after a failed edit: its earlier ops are applied locally
  // (invariant 1) and must reach the server like any other.
  std::string update = d.Commit();
  uint64_t client_seq = 0;
  if (!update.empty() && r.joined) {
    client_seq = s.SendChange(room, doc, std::move(update));
  }
  if (!status.ok()) return status;
  return client_seq;
}

absl::Status SyncClient::WaitAcked(absl::Duration timeout) {
  Impl& s = *impl_;
  absl::MutexLock lock(&s.mu);
  s.WaitFor(
      [&s]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
        return s.unacked.empty() || s.closed;
      },
      absl::Now() + timeout);
  if (s.unacked.empty()) return absl::OkStatus();
  const std::string what =
      absl::StrCat("wait for acks: ", s.unacked.size(), " changes unanswered");
  if (s.closed) return s.ClosedError(what);
  return absl::DeadlineExceededError(
      absl::StrCat(what, " after ", absl::FormatDuration(timeout)));
}

absl::Status SyncClient::WaitUntil(const std::function<bool()>& pred,
                                   absl::Duration timeout) {
  Impl& s = *impl_;
  absl::MutexLock lock(&s.mu);
  const bool done = s.WaitFor(
      [&]() {
        PredicateScope scope(&s);
        return pred();
      },
      absl::Now() + timeout);
  if (done) return absl::OkStatus();
  return absl::DeadlineExceededError(absl::StrCat(
      "wait: condition still false after ", absl::FormatDuration(timeout)));
}

// ---- Accessors

absl::StatusOr<std::string> SyncClient::PresenceJson(
    const std::string& room) const {
  Impl::ReadLock lock(*impl_);
  const RoomState* r = impl_->FindRoom(room);
  if (r == nullptr || r->replica.presence() == nullptr) {
    return absl::NotFoundError(absl::StrCat("no presence of room ", room));
  }
  return r->replica.presence()->ToJson();
}

absl::StatusOr<std::string> SyncClient::Json(const std::string& room,
                                             const std::string& doc) const {
  Impl::ReadLock lock(*impl_);
  const crdt::Doc* d = impl_->FindDoc(room, doc);
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat("no local doc ", room, "/", doc));
  }
  return d->ToJson();
}

absl::Status SyncClient::Read(
    const std::string& room, const std::string& doc,
    const std::function<void(const crdt::Doc&)>& read) const {
  Impl::ReadLock lock(*impl_);
  const crdt::Doc* d = impl_->FindDoc(room, doc);
  if (d == nullptr) {
    return absl::NotFoundError(absl::StrCat("no local doc ", room, "/", doc));
  }
  read(*d);
  return absl::OkStatus();
}

ResumePoint SyncClient::resume_point(const std::string& room) const {
  Impl::ReadLock lock(*impl_);
  const RoomState* r = impl_->FindRoom(room);
  return r == nullptr ? ResumePoint{} : r->replica.resume();
}

void SyncClient::set_resume_point(const std::string& room, ResumePoint p) {
  absl::MutexLock lock(&impl_->mu);
  impl_->RoomFor(room).replica.SetResume(p);
}

RoomStatus SyncClient::room_status(const std::string& room) const {
  Impl::ReadLock lock(*impl_);
  RoomStatus status;
  const RoomState* r = impl_->FindRoom(room);
  if (r == nullptr) return status;
  status.joined = r->joined;
  status.access = r->access;
  status.path = r->path;
  status.resume = r->replica.resume();
  status.updates_since_join = r->updates_since_join;
  status.snapshots_since_join = r->snapshots_since_join;
  status.unacked = static_cast<uint64_t>(std::count_if(
      impl_->unacked.begin(), impl_->unacked.end(),
      [&](const auto& entry) { return entry.second.room == room; }));
  return status;
}

SyncClientCounters SyncClient::counters() const {
  Impl::ReadLock lock(*impl_);
  return impl_->counters;
}

std::optional<ServerError> SyncClient::last_error() const {
  Impl::ReadLock lock(*impl_);
  return impl_->last_error;
}

std::optional<ServerError> SyncClient::change_error(uint64_t client_seq) const {
  Impl::ReadLock lock(*impl_);
  auto it = impl_->change_errors.find(client_seq);
  if (it == impl_->change_errors.end()) return std::nullopt;
  return it->second;
}

absl::Status SyncClient::last_apply_error() const {
  Impl::ReadLock lock(*impl_);
  return impl_->last_apply_error;
}

uint64_t SyncClient::unacked() const {
  Impl::ReadLock lock(*impl_);
  return impl_->unacked.size();
}

bool SyncClient::closed() const {
  Impl::ReadLock lock(*impl_);
  return impl_->closed;
}

uint16_t SyncClient::close_code() const {
  Impl::ReadLock lock(*impl_);
  return impl_->close_code;
}

std::string SyncClient::close_reason() const {
  Impl::ReadLock lock(*impl_);
  return impl_->close_reason;
}

}  // namespace lattice::sdk
