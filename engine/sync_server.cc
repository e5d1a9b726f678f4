#include "engine/sync_server.h"

#include <memory>
#include <utility>
#include <vector>

#include "base/logging.h"
#include "base/status_macros.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace lattice::engine {

absl::StatusOr<std::unique_ptr<SyncServer>> SyncServer::Create(
    boost::asio::io_context& ioc, storage::RoomStore& store,
    SyncServerOptions options) {
  std::optional<JwtVerifier> verifier;
  if (options.engine.anonymous) {
    LATTICE_LOG(kWarning)
        << "ANONYMOUS MODE: every client may read and write every room "
           "without a token; never use this outside local development";
  } else {
    auto v = JwtVerifier::Create(options.jwt);
    if (!v.ok()) return v.status();
    verifier = *std::move(v);
  }
  if (options.engine.session_id_prefix.empty()) {
    // Session ids count from 1 in every process. Without a prefix of this
    // run's own, a new session could take the id of an entry restored from
    // the presence checkpoint and inherit its fields under another user's
    // name; in a cluster, ids must also differ from the other nodes'.
    absl::BitGen gen;
    const uint64_t bits = options.cluster.redis_address.empty()
                              ? absl::Uniform<uint32_t>(gen)
                              : absl::Uniform<uint64_t>(gen);
    options.engine.session_id_prefix = absl::StrCat(absl::Hex(bits), "-");
  }
  std::unique_ptr<SyncServer> server(
      new SyncServer(ioc, store, std::move(options), std::move(verifier)));
  if (absl::Status s = server->StartCluster(); !s.ok()) return s;
  return server;
}

absl::Status SyncServer::StartCluster() {
  if (options_.cluster.redis_address.empty()) return absl::OkStatus();
  ClusterHandlers handlers;
  handlers.on_room = [this](absl::string_view room, protocol::Frame frame) {
    OnRoomFrame(room, std::move(frame));
  };
  handlers.on_user = [this](absl::string_view user, protocol::Frame frame) {
    OnUserFrame(user, std::move(frame));
  };
  handlers.on_subscribed = [this] {
    for (const auto& room : registry_.Rooms()) room->ClusterResync();
  };
  LATTICE_ASSIGN_OR_RETURN(
      cluster_, Cluster::Start(options_.cluster, std::move(handlers)));
  room_context_.cluster = cluster_.get();
  room_context_.cluster_sync_interval = options_.cluster.sync_interval;
  return absl::OkStatus();
}

SyncServer::SyncServer(boost::asio::io_context& ioc, storage::RoomStore& store,
                       SyncServerOptions options,
                       std::optional<JwtVerifier> verifier)
    : options_(std::move(options)),
      verifier_(std::move(verifier)),
      executor_(options_.executor),
      room_context_{options_.room_context ? options_.room_context
                                          : [&ioc](absl::string_view)
                        -> boost::asio::io_context& { return ioc; },
                    store,
                    executor_,
                    options_.engine,
                    stats_,
                    nullptr},
      registry_(room_context_),
      session_context_{options_.engine,
                       registry_,
                       stats_,
                       verifier_ ? &*verifier_ : nullptr,
                       options_.jwt.leeway,
                       protocol::DecodeLimits{},
                       options_.max_message_bytes,
                       /*on_identified=*/nullptr},
      sweep_timer_(ioc) {
  session_context_.limits.max_payload_bytes = options_.max_message_bytes;
  session_context_.limits.max_event_payload_bytes =
      options_.engine.max_event_payload_bytes;
  session_context_.on_identified = [this](uint64_t id,
                                          const std::string& subject) {
    Identify(id, subject);
  };
  ScheduleSweep();
}

SyncServer::~SyncServer() { Shutdown(); }

void SyncServer::ScheduleSweep() {
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    std::vector<std::shared_ptr<Session>> sessions;
    {
      absl::MutexLock lock(&mu_);
      if (shut_down_) return;
      sessions.reserve(sessions_.size());
      for (const auto& [id, s] : sessions_) sessions.push_back(s);
    }
    const absl::Time now = absl::Now();
    for (const auto& s : sessions) s->CheckExpiry(now);
    ScheduleSweep();
  });
}

void SyncServer::OnOpen(const std::shared_ptr<net::WsConnection>& conn) {
  auto session = std::make_shared<Session>(conn, session_context_);
  absl::MutexLock lock(&mu_);
  sessions_[conn->id()] = std::move(session);
  stats_.sessions_open.fetch_add(1, std::memory_order_relaxed);
}

std::shared_ptr<Session> SyncServer::Find(uint64_t id) {
  absl::MutexLock lock(&mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

void SyncServer::OnMessage(const std::shared_ptr<net::WsConnection>& conn,
                           std::string message) {
  if (auto session = Find(conn->id())) session->OnMessage(message);
}

void SyncServer::OnClose(const std::shared_ptr<net::WsConnection>& conn,
                         uint16_t, std::string) {
  std::shared_ptr<Session> session;
  {
    absl::MutexLock lock(&mu_);
    auto it = sessions_.find(conn->id());
    if (it == sessions_.end()) return;
    session = std::move(it->second);
    sessions_.erase(it);
    // OnClose runs on the connection's strand, where subject() may be read.
    auto user = users_.find(session->subject());
    if (user != users_.end()) {
      user->second.erase(conn->id());
      if (user->second.empty()) users_.erase(user);
    }
  }
  stats_.sessions_open.fetch_sub(1, std::memory_order_relaxed);
  session->OnClose();
}

void SyncServer::Identify(uint64_t id, const std::string& subject) {
  absl::MutexLock lock(&mu_);
  // A session closed meanwhile is not indexed (OnClose already ran).
  if (sessions_.contains(id)) users_[subject].insert(id);
}

std::vector<std::shared_ptr<Session>> SyncServer::SessionsOf(
    const std::string& user) {
  std::vector<std::shared_ptr<Session>> out;
  absl::MutexLock lock(&mu_);
  auto it = users_.find(user);
  if (it == users_.end()) return out;
  out.reserve(it->second.size());
  for (uint64_t id : it->second) {
    auto s = sessions_.find(id);
    if (s != sessions_.end()) out.push_back(s->second);
  }
  return out;
}

uint64_t SyncServer::EmitToUser(const std::string& user, std::string name,
                                std::string payload) {
  auto frame = std::make_shared<const std::string>(protocol::EncodeFrame(
      protocol::EventFrame{"", "server", std::move(name), std::move(payload)}));
  if (cluster_ != nullptr) cluster_->PublishToUser(user, *frame);
  return DeliverToUser(user, std::move(frame));
}

uint64_t SyncServer::DeliverToUser(const std::string& user,
                                   std::shared_ptr<const std::string> frame) {
  const std::vector<std::shared_ptr<Session>> sessions = SessionsOf(user);
  for (const auto& s : sessions) s->Deliver(frame);
  stats_.events_delivered.fetch_add(sessions.size(), std::memory_order_relaxed);
  return sessions.size();
}

void SyncServer::EmitToRoom(const std::string& room, std::string name,
                            std::string payload,
                            std::function<void(uint64_t)> done) {
  std::shared_ptr<Room> r = registry_.Find(room);
  if (r == nullptr) {
    if (cluster_ != nullptr) {  // members may be on other nodes
      cluster_->PublishToRoom(
          room, protocol::EncodeFrame(protocol::EventFrame{
                    room, "server", std::move(name), std::move(payload)}));
    }
    return done(0);
  }
  r->EmitFromServer(std::move(name), std::move(payload), std::move(done));
}

uint64_t SyncServer::RevokeUser(const std::string& user) {
  if (cluster_ != nullptr) {
    cluster_->PublishToUser(
        user, protocol::EncodeFrame(protocol::ErrorFrame{
                  std::string(kRevokedCode), "sessions revoked", 0, 0, ""}));
  }
  return RevokeHere(user);
}

uint64_t SyncServer::RevokeHere(const std::string& user) {
  const std::vector<std::shared_ptr<Session>> sessions = SessionsOf(user);
  for (const auto& s : sessions) s->Revoke();
  return sessions.size();
}

void SyncServer::OnRoomFrame(absl::string_view room, protocol::Frame frame) {
  if (auto r = registry_.Find(room)) return r->OnClusterFrame(std::move(frame));
  // Not in memory here: nothing to do for updates, presence or events (the
  // room catches up with its own hello when it loads). But a node that just
  // loaded the room may lack changes only this node holds: load it and
  // answer, if it is stored here (a point lookup, off this thread).
  const auto* hello = std::get_if<protocol::JoinedFrame>(&frame);
  if (hello == nullptr || hello->ref != kHelloLoaded) return;
  absl::Status submitted = executor_.Submit(
      [this, room = std::string(room), frame = std::move(frame)]() mutable {
        if (!room_context_.store.GetRoomInfo(room).ok()) return;
        registry_.Acquire(room)->OnClusterFrame(std::move(frame));
      });
  if (!submitted.ok()) {
    LATTICE_LOG(kWarning) << "cluster: hello for room " << room
                          << " not answered: " << submitted;
  }
}

void SyncServer::OnUserFrame(absl::string_view user, protocol::Frame frame) {
  const std::string id(user);
  if (auto* event = std::get_if<protocol::EventFrame>(&frame)) {
    event->room.clear();
    DeliverToUser(
        id, std::make_shared<const std::string>(protocol::EncodeFrame(*event)));
  } else if (auto* error = std::get_if<protocol::ErrorFrame>(&frame);
             error != nullptr && error->code == kRevokedCode) {
    RevokeHere(id);
  } else {
    LATTICE_LOG(kWarning) << "cluster: frame of type "
                          << static_cast<int>(protocol::TypeOf(frame))
                          << " for user " << id << " ignored";
  }
}

void SyncServer::AppendMetrics(std::string* out) const {
  AppendPrometheus(stats_, out);
  AppendRoomPrometheus(registry_.Busiest(options_.engine.metrics_busiest_rooms),
                       out);
  if (cluster_ == nullptr) return;
  const net::RedisBusStats bus = cluster_->stats();
  auto line = [out](absl::string_view name, absl::string_view type,
                    uint64_t v) {
    absl::StrAppend(out, "# TYPE ", name, " ", type, "\n", name, " ", v, "\n");
  };
  line("lattice_cluster_subscribed", "gauge", cluster_->subscribed() ? 1 : 0);
  line("lattice_cluster_subscriptions_total", "counter", bus.connections);
  line("lattice_cluster_published_total", "counter", bus.published);
  line("lattice_cluster_dropped_total", "counter", bus.dropped);
  line("lattice_cluster_received_total", "counter", bus.received);
}

void SyncServer::CheckpointPresenceForStop(absl::Duration timeout) {
  struct Pending {
    absl::Mutex mu;
    size_t rooms ABSL_GUARDED_BY(mu) = 0;
  };
  auto pending = std::make_shared<Pending>();
  std::vector<std::shared_ptr<Room>> rooms = registry_.Rooms();
  {
    absl::MutexLock lock(&pending->mu);
    pending->rooms = rooms.size();
  }
  for (const auto& room : rooms) {
    room->CheckpointPresenceForStop([pending] {
      absl::MutexLock lock(&pending->mu);
      --pending->rooms;
    });
  }
  absl::MutexLock lock(&pending->mu);
  const bool written = pending->mu.AwaitWithTimeout(
      absl::Condition(
          +[](size_t* left) { return *left == 0; }, &pending->rooms),
      timeout);
  if (!written) {
    LATTICE_LOG(kWarning) << "presence checkpoints of " << pending->rooms
                          << " rooms still unwritten after " << timeout;
  }
}

void SyncServer::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  if (cluster_ != nullptr) cluster_->Stop();  // no frame arrives after this
  executor_.Shutdown();
}

}  // namespace lattice::engine
