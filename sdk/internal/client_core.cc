// ClientCore: construction, shutdown, the connection state machine and the
// callback queue. Frames: client_frames.cc; rooms: client_rooms.cc;
// presence: client_presence.cc.
#include "sdk/internal/client_core.h"

#include <utility>
#include <variant>
#include <vector>

#include <boost/asio/post.hpp>

#include "base/logging.h"
#include "net/websocket.h"

#include "absl/strings/str_cat.h"

namespace lattice::sdk::internal {
namespace {

// Largest message the client accepts: the largest payload the codec
// decodes plus room for the frame around it.
constexpr uint64_t kMaxMessageBytes =
    protocol::DecodeLimits{}.max_payload_bytes + (1 << 20);

}  // namespace

ConnectionEvent StateEvent(ConnectionState state) {
  ConnectionEvent event;
  event.state = state;
  return event;
}

ClientCore::ClientCore(ClientOptions options, asio::io_context& ioc,
                       std::unique_ptr<asio::io_context> own_ioc,
                       std::unique_ptr<LocalStore> store, uint64_t replica)
    : options_(std::move(options)),
      replica_(replica),
      own_ioc_(std::move(own_ioc)),
      ioc_(ioc) {
  absl::MutexLock lock(&mu_);
  store_ = std::move(store);
  on_connection_ = options_.on_connection;
  strand_.emplace(asio::make_strand(ioc_));
  reconnect_timer_ = std::make_unique<asio::steady_timer>(ioc_);
  away_timer_ = std::make_unique<asio::steady_timer>(ioc_);
  rng_.seed(options_.random_seed != 0 ? options_.random_seed
                                      : std::random_device()());
  last_activity_ = absl::Now();
}

ClientCore::~ClientCore() {
  // Shutdown ran (Client's destructor) and joined the own thread.
}

void ClientCore::Start() {
  if (own_ioc_ != nullptr) {
    work_.emplace(own_ioc_->get_executor());
    thread_ = std::thread([this] { own_ioc_->run(); });
  }
  absl::MutexLock lock(&mu_);
  connecting_ = true;
  if (options_.away_after > absl::ZeroDuration()) {
    ArmAwayTimer(last_activity_ + options_.away_after);
  }
  asio::post(ioc_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->StartConnect();
  });
}

void ClientCore::Shutdown() {
  std::shared_ptr<net::WsClient> ws;
  bool was_open = false;
  {
    absl::MutexLock lock(&mu_);
    stopped_ = true;
    closing_gen_ = gen_;
    ++gen_;  // every other pending handler is now stale
    ws = std::move(ws_);
    was_open = open_;
    open_ = false;
    callbacks_.clear();
  }
  // Waits for a callback running on another thread; none starts after.
  { absl::MutexLock wait(&cb_mu_); }
  if (ws != nullptr) ws->Close(net::kCloseNormal, "");
  ws.reset();
  if (own_ioc_ != nullptr) {
    if (was_open) {
      // Let the close handshake finish (bounded), so the server sees 1000
      // rather than a dropped connection.
      absl::MutexLock lock(&mu_);
      const absl::Time deadline =
          absl::Now() + std::min(options_.connect_timeout, absl::Seconds(2));
      while (!close_done_ && !cv_.WaitWithDeadline(&mu_, deadline)) {
      }
    }
    work_.reset();
    own_ioc_->stop();
    if (thread_.joinable()) thread_.join();
  }
  // The io_context may go away before this object (Room handles keep it):
  // drop every I/O object now.
  absl::MutexLock lock(&mu_);
  reconnect_timer_.reset();
  away_timer_.reset();
  for (auto& [name, room] : rooms_) {
    room->cursor_timer.reset();
    room->typing_timer.reset();
    room->on_change = nullptr;
    room->on_presence = nullptr;
  }
  on_connection_ = nullptr;
  strand_.reset();
  store_.reset();
  Bump();
}

void ClientCore::Reconnect() {
  absl::MutexLock lock(&mu_);
  if (stopped_ || ws_ != nullptr) return;  // connecting or connected
  // A StartConnect already posted (not a backoff wait) will do.
  if (connecting_ && event_.state != ConnectionState::kReconnecting) return;
  reconnect_timer_->cancel();
  attempt_ = 0;
  connecting_ = true;
  asio::post(ioc_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->StartConnect();
  });
}

// ---- Connection

void ClientCore::StartConnect() {
  std::string token = options_.token;
  absl::Status token_status;
  if (options_.token_provider) {
    // A user callback: under cb_mu_ (Shutdown waits for it), not under mu_.
    absl::MutexLock cb(&cb_mu_);
    if (stopped_) return;
    absl::StatusOr<std::string> t = options_.token_provider();
    if (t.ok()) {
      token = *std::move(t);
    } else {
      token_status = t.status();
    }
  }
  absl::MutexLock lock(&mu_);
  if (stopped_) return;
  connecting_ = false;
  // A timer that fired while Reconnect posted another start: one wins.
  if (ws_ != nullptr) return;
  const uint64_t gen = ++gen_;
  SetEvent(StateEvent(ConnectionState::kConnecting));
  if (!token_status.ok()) {
    Disconnected(0, absl::StrCat("token provider: ", token_status.ToString()),
                 /*retry=*/true);
    return;
  }
  auth_failed_ = false;
  hello_error_.clear();
  net::WsClientOptions ws_options;
  ws_options.max_message_bytes = kMaxMessageBytes;
  ws_options.connect_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          ToChrono(options_.connect_timeout));
  ws_options.idle_timeout =
      std::chrono::duration_cast<std::chrono::milliseconds>(
          ToChrono(options_.idle_timeout));
  ws_ = net::WsClient::Create(ioc_, ws_options);
  std::weak_ptr<ClientCore> weak = weak_from_this();
  ws_->set_on_message([weak, gen](std::string bytes) {
    if (auto self = weak.lock()) self->OnMessage(gen, bytes);
  });
  ws_->set_on_close([weak, gen](uint16_t code, std::string reason) {
    if (auto self = weak.lock()) self->OnClose(gen, code, std::move(reason));
  });
  // The hello goes out right after the handshake (WsClient queues it).
  Send(protocol::HelloFrame{protocol::kProtocolVersion, token, replica_,
                            options_.client_name});
  ws_->Connect(options_.host, options_.port, options_.target,
               [weak, gen](absl::Status status) {
                 if (auto self = weak.lock()) {
                   self->OnOpen(gen, std::move(status));
                 }
               });
}

void ClientCore::OnOpen(uint64_t gen, absl::Status status) {
  absl::MutexLock lock(&mu_);
  if (gen != gen_ || stopped_) return;
  if (status.ok()) {
    open_ = true;
    Bump();
    return;
  }
  // No on_close follows a failed open. HTTP 401 is an auth failure.
  Disconnected(0, absl::StrCat("connect: ", status.ToString()),
               /*retry=*/!absl::IsUnauthenticated(status));
}

void ClientCore::OnMessage(uint64_t gen, const std::string& bytes) {
  protocol::DecodeLimits limits;
  limits.max_docs = 4096;  // joined lists every document of a room
  // A message may carry a batch of frames (protocol 2).
  std::vector<absl::StatusOr<protocol::Frame>> frames =
      protocol::DecodeFrames(bytes, limits);
  absl::MutexLock lock(&mu_);
  if (gen != gen_ || stopped_) return;
  for (absl::StatusOr<protocol::Frame>& frame : frames) {
    if (absl::IsUnimplemented(frame.status())) {
      // A frame type of a later protocol version: ignored.
    } else if (!frame.ok()) {
      LATTICE_LOG(kWarning)
          << "lattice client: dropped a frame: " << frame.status();
    } else {
      std::visit([this](auto& f) ABSL_NO_THREAD_SAFETY_ANALYSIS { Handle(f); },
                 *frame);
    }
  }
  FlushChanges();
  Bump();
}

void ClientCore::OnClose(uint64_t gen, uint16_t code, std::string reason) {
  absl::MutexLock lock(&mu_);
  if (stopped_ && gen == closing_gen_) {
    close_done_ = true;  // Shutdown waits for it
    Bump();
  }
  if (gen != gen_ || stopped_) return;
  // 4001 (bad, expired or revoked token) or a refused hello: retrying with
  // the same token cannot succeed.
  const bool auth = code == protocol::kCloseAuthFailed || auth_failed_;
  if (!hello_error_.empty()) reason = hello_error_;
  Disconnected(code, std::move(reason), /*retry=*/!auth);
}

void ClientCore::Disconnected(uint16_t code, std::string reason, bool retry) {
  ++gen_;  // late handlers of this connection are ignored
  ws_.reset();
  open_ = false;
  for (auto& [name, room] : rooms_) {
    room->joined = false;
    room->join_ref = 0;
    room->replica.ResetPresence();
  }
  // Changes in flight count as offline edits: the next joined resends what
  // the server lacks of them (and the server acks duplicates).
  for (const auto& [seq, room] : unacked_) {
    if (RoomEntry* r = FindRoom(room)) ++r->offline_edits;
  }
  unacked_.clear();
  ConnectionEvent event = StateEvent(ConnectionState::kDisconnected);
  event.close_code = code;
  event.reason = std::move(reason);
  event.will_retry = retry;
  SetEvent(std::move(event));
  if (retry) ScheduleReconnect(code == protocol::kCloseGoingAway);
}

void ClientCore::ScheduleReconnect(bool going_away) {
  // After 1001 (the server is going away, e.g. a restart) the first retry
  // is immediate; every other retry waits a jittered backoff.
  const absl::Duration delay =
      going_away && attempt_ == 0
          ? absl::ZeroDuration()
          : BackoffDelay(options_.backoff, attempt_, rng_());
  ++attempt_;
  ConnectionEvent event = StateEvent(ConnectionState::kReconnecting);
  event.attempt = attempt_;
  event.delay = delay;
  SetEvent(std::move(event));
  connecting_ = true;
  reconnect_timer_->expires_after(ToChrono(delay));
  reconnect_timer_->async_wait(
      [weak = weak_from_this()](const boost::system::error_code& ec) {
        if (ec) return;  // cancelled: Reconnect or Shutdown
        if (auto self = weak.lock()) self->StartConnect();
      });
}

void ClientCore::SetEvent(ConnectionEvent event) {
  event_ = event;
  if (on_connection_) {
    Emit([cb = on_connection_, e = std::move(event)] { cb(e); });
  }
  Bump();
}

// ---- Callbacks

void ClientCore::Emit(std::function<void()> callback) {
  if (stopped_ || !strand_.has_value()) return;
  callbacks_.push_back(std::move(callback));
  if (drain_posted_) return;
  drain_posted_ = true;
  asio::post(*strand_, [weak = weak_from_this()] {
    if (auto self = weak.lock()) self->Drain();
  });
}

void ClientCore::Drain() {
  absl::MutexLock cb(&cb_mu_);
  bool ran = false;
  while (true) {
    std::function<void()> next;
    {
      absl::MutexLock lock(&mu_);
      // What a callback did (e.g. record the event) may be what a
      // WaitUntil predicate looks for.
      if (ran) Bump();
      if (stopped_ || callbacks_.empty()) {
        drain_posted_ = false;
        return;
      }
      next = std::move(callbacks_.front());
      callbacks_.pop_front();
    }
    next();
    ran = true;
  }
}

void ClientCore::Bump() {
  ++version_;
  cv_.SignalAll();
}

absl::Status ClientCore::WaitUntil(const std::function<bool()>& pred,
                                   absl::Duration timeout) const {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    uint64_t seen = 0;
    {
      absl::MutexLock lock(&mu_);
      seen = version_;
    }
    // Without the lock, so that `pred` may call the client.
    if (pred()) return absl::OkStatus();
    absl::MutexLock lock(&mu_);
    while (version_ == seen) {
      if (cv_.WaitWithDeadline(&mu_, deadline)) {
        return absl::DeadlineExceededError(
            absl::StrCat("wait: condition still false after ",
                         absl::FormatDuration(timeout)));
      }
    }
  }
}

// ---- Accessors

ConnectionEvent ClientCore::last_event() const {
  absl::MutexLock lock(&mu_);
  return event_;
}

uint64_t ClientCore::connections() const {
  absl::MutexLock lock(&mu_);
  return connections_;
}

std::string ClientCore::session_id() const {
  absl::MutexLock lock(&mu_);
  return session_id_;
}

}  // namespace lattice::sdk::internal
