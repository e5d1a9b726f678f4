// SyncServer: the engine behind the WebSocket endpoint. It turns connections
// into Sessions, owns the room registry and the store executor that keeps
// RocksDB work off the network threads, and sweeps expired tokens. It also
// indexes sessions by user id, for backend user events and revocation
// (engine/http_api.h).
//
//   auto store = storage::RoomStore::Open(dir, {});
//   auto sync = SyncServer::Create(ioc, **store, options);
//   net::HttpServer http(ioc, handler, {.websocket = *sync, ...});
//   ...
//   (*sync)->Shutdown();   // before the store is closed
//
// Threading: net::WsHandler calls arrive on connection strands; rooms run on
// their own strands of the same io_context; store calls run on the
// executor's threads (docs/architecture.md, "Threading").
//
// Thread safety: every public method may be called from any thread.
#ifndef LATTICE_ENGINE_SYNC_SERVER_H_
#define LATTICE_ENGINE_SYNC_SERVER_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/auth/jwt_verifier.h"
#include "engine/cluster/cluster.h"
#include "engine/engine_options.h"
#include "engine/engine_stats.h"
#include "engine/room/room_registry.h"
#include "engine/session/session.h"
#include "net/websocket.h"
#include "storage/room_store.h"
#include "storage/store_executor.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace lattice::engine {

struct SyncServerOptions {
  EngineOptions engine;
  // Token verification; ignored when engine.anonymous.
  JwtVerifierOptions jwt;
  // Threads and queue of the store executor. Default: 8 threads (they
  // bound how many appends share one fsync, see storage/store_executor.h).
  storage::StoreExecutorOptions executor;
  // The WebSocket message limit the transport enforces, announced in
  // welcome. Default: 1 MiB.
  uint64_t max_message_bytes = 1 << 20;
  // Picks the io_context whose strand owns a room, e.g. IoShards::ForKey
  // (net/io_shards.h). Every io_context it returns must outlive the server.
  // Default (empty): the server's own.
  std::function<boost::asio::io_context&(absl::string_view room)> room_context;
  // Several nodes sharing fan-out through Redis (engine/cluster/cluster.h).
  // Default: none (one node). Every node of a cluster needs its own
  // engine.server_replica (engine::Node sees to it).
  ClusterOptions cluster;
};

class SyncServer : public net::WsHandler {
 public:
  // Errors: InvalidArgument for unusable JWT keys or options (a bad Redis
  // address among them). Redis itself need not be up.
  // REQUIRES: `ioc` and `store` outlive the server.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<SyncServer>> Create(
      boost::asio::io_context& ioc, storage::RoomStore& store,
      SyncServerOptions options);
  ~SyncServer() override;

  // net::WsHandler.
  void OnOpen(const std::shared_ptr<net::WsConnection>& conn) override;
  void OnMessage(const std::shared_ptr<net::WsConnection>& conn,
                 std::string message) override;
  void OnClose(const std::shared_ptr<net::WsConnection>& conn, uint16_t code,
               std::string reason) override;

  // For a graceful stop, before the connections close: checkpoints every
  // loaded room's presence as it is now and none after
  // (Room::CheckpointPresenceForStop), waiting at most `timeout`.
  void CheckpointPresenceForStop(absl::Duration timeout);

  // Stops the expiry sweep and waits for every queued store call to finish
  // (acknowledged changes are already durable). Idempotent. The destructor
  // calls it. REQUIRES before destruction: the io_context no longer runs
  // (stopped or its threads joined), so no handler of ours is in flight.
  void Shutdown();

  const EngineStats& stats() const { return stats_; }
  // The link to the other nodes; null on a single node.
  const Cluster* cluster() const { return cluster_.get(); }
  const EngineOptions& engine_options() const { return options_.engine; }
  // The rooms, for the backend API (engine/http_api.h).
  RoomRegistry& rooms() { return registry_; }

  // Sends a backend event (EventFrame with an empty room, from "server") to
  // every connection of `user` (a token's sub) that completed hello;
  // returns how many connections of this node it was handed to (the other
  // nodes of a cluster get it through Redis, uncounted).
  uint64_t EmitToUser(const std::string& user, std::string name,
                      std::string payload) ABSL_LOCKS_EXCLUDED(mu_);
  // Sends a backend event to every member of `room` if it is in memory;
  // `done` gets the count on this node (0 when the room is not in memory
  // here), on a room strand or at once; other nodes get it through Redis,
  // uncounted. `done` must not block.
  void EmitToRoom(const std::string& room, std::string name,
                  std::string payload, std::function<void(uint64_t)> done);
  // Closes every connection of `user` with kCloseAuthFailed (4001), on
  // every node of a cluster; returns how many on this one. The user's tokens
  // stay valid: a client that reconnects with one is let in (docs/http-api.md).
  uint64_t RevokeUser(const std::string& user) ABSL_LOCKS_EXCLUDED(mu_);

  // The engine's counters and the busiest rooms' figures
  // (EngineOptions::metrics_busiest_rooms), in Prometheus text format.
  void AppendMetrics(std::string* out) const;

 private:
  SyncServer(boost::asio::io_context& ioc, storage::RoomStore& store,
             SyncServerOptions options, std::optional<JwtVerifier> verifier);
  std::shared_ptr<Session> Find(uint64_t id) ABSL_LOCKS_EXCLUDED(mu_);
  // Indexes a session that completed hello under its user id.
  void Identify(uint64_t id, const std::string& subject)
      ABSL_LOCKS_EXCLUDED(mu_);
  std::vector<std::shared_ptr<Session>> SessionsOf(const std::string& user)
      ABSL_LOCKS_EXCLUDED(mu_);
  void ScheduleSweep();
  // Starts the cluster link when options_.cluster names a Redis.
  absl::Status StartCluster();
  // A frame another node published to a room's channel.
  void OnRoomFrame(absl::string_view room, protocol::Frame frame);
  // A frame another node published to a user's channel.
  void OnUserFrame(absl::string_view user, protocol::Frame frame);
  // Hands `frame` to this node's sessions of `user`; returns how many.
  uint64_t DeliverToUser(const std::string& user,
                         std::shared_ptr<const std::string> frame)
      ABSL_LOCKS_EXCLUDED(mu_);
  uint64_t RevokeHere(const std::string& user) ABSL_LOCKS_EXCLUDED(mu_);

  // Immutable after construction.
  const SyncServerOptions options_;
  const std::optional<JwtVerifier> verifier_;
  EngineStats stats_;
  storage::StoreExecutor executor_;
  RoomContext room_context_;
  RoomRegistry registry_;
  SessionContext session_context_;
  boost::asio::steady_timer sweep_timer_;
  // Set once by Create before the server is handed out; rooms reach it
  // through room_context_.cluster.
  std::unique_ptr<Cluster> cluster_;

  absl::Mutex mu_;
  // Sessions by connection id. Looked up once per message: an uncontended
  // mutex costs tens of nanoseconds against microseconds of frame work.
  absl::flat_hash_map<uint64_t, std::shared_ptr<Session>> sessions_
      ABSL_GUARDED_BY(mu_);
  // Session ids by user id (a token's sub), for sessions that completed
  // hello. Written once per session at hello and once at close, under the
  // same lock as sessions_, so the per-message path still takes one lock.
  absl::flat_hash_map<std::string, absl::flat_hash_set<uint64_t>> users_
      ABSL_GUARDED_BY(mu_);
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_SYNC_SERVER_H_
