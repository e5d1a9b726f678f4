// A Node is one running Lattice server: the RoomStore in a data directory,
// the sync engine, and the HTTP/WebSocket listener, on thread shards (one
// io_context and thread each, net/io_shards.h): a connection lives on the
// next shard in turn, a room on the shard its name hashes to. lattice-server is
// a Node with flags; tests start Nodes in process on 127.0.0.1 port 0.
//
//   NodeOptions options;
//   options.data_dir = "./data";
//   LATTICE_ASSIGN_OR_RETURN(auto node, Node::Start(std::move(options)));
//   std::cout << node->port();
//   ...
//   node->Shutdown();   // clients get 1001 and reconnect elsewhere
//
// HTTP endpoints: GET /healthz, GET /version, GET /metrics (Prometheus
// text), and the backend API under /v1/ (engine/http_api.h,
// docs/http-api.md). WebSocket upgrades on any path speak docs/protocol.md.
//
// Thread safety: Start, port and Shutdown may be called from any thread;
// Shutdown is idempotent and the destructor calls it.
#ifndef LATTICE_ENGINE_NODE_H_
#define LATTICE_ENGINE_NODE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/http_api.h"
#include "engine/sync_server.h"
#include "net/http_server.h"
#include "net/io_shards.h"
#include "storage/room_store.h"

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace lattice::engine {

struct NodeOptions {
  // Address and port to listen on (port 0 picks a free one).
  // Default: 127.0.0.1:7700
  std::string listen_address = "127.0.0.1";
  uint16_t port = 7700;
  // The RocksDB data directory (created when missing). Default: ./data
  std::string data_dir = "./data";
  // I/O threads, one per shard. Default: the number of cores minus one (at
  // least one).
  int threads = 0;
  storage::RoomStoreOptions store;
  SyncServerOptions sync;
  // The backend API (its key).
  HttpApiOptions api;
  net::HttpServerOptions http;
  // How long Shutdown lets clients finish before dropping them.
  // Default: 5 s.
  std::chrono::milliseconds shutdown_grace{5000};
};

class Node {
 public:
  // Opens the store, starts the threads and listens.
  // Errors: the store's (Unavailable when another process holds the
  // directory), InvalidArgument for bad JWT keys, Unavailable when the
  // address cannot be bound.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Node>> Start(
      NodeOptions options);
  ~Node();
  Node(const Node&) = delete;
  Node& operator=(const Node&) = delete;

  uint16_t port() const { return port_; }
  const SyncServer& sync() const { return *sync_; }

  // Closes every WebSocket with 1001 (going away), waits for them up to the
  // grace period, drains the store executor, stops the threads and flushes
  // the store. Acknowledged changes were durable before their ack.
  void Shutdown();

 private:
  explicit Node(NodeOptions options);
  // Routes a request: /v1/ to the backend API, the rest to the
  // operational endpoints. Any I/O thread.
  void HandleHttp(net::HttpRequest request, net::HttpRespond respond) const;

  const NodeOptions options_;
  std::unique_ptr<net::IoShards> shards_;  // destroyed last
  std::unique_ptr<storage::RoomStore> store_;
  std::shared_ptr<SyncServer> sync_;
  std::unique_ptr<HttpApi> api_;
  std::unique_ptr<net::HttpServer> http_;
  uint16_t port_ = 0;

  absl::Mutex mu_;
  bool shut_down_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_NODE_H_
