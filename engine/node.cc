#include "engine/node.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>
#include <utility>

#include "base/logging.h"
#include "engine/admin_api.h"
#include "engine/engine_stats.h"

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"

namespace lattice::engine {

namespace {

void AppendNetStats(const net::NetStats& s, std::string* out) {
  auto line = [out](absl::string_view name, absl::string_view type,
                    const std::atomic<uint64_t>& v) {
    absl::StrAppend(out, "# TYPE ", name, " ", type, "\n", name, " ",
                    v.load(std::memory_order_relaxed), "\n");
  };
  line("lattice_net_connections_open", "gauge", s.connections_open);
  line("lattice_net_websockets_open", "gauge", s.ws_open);
  line("lattice_net_accept_errors_total", "counter", s.accept_errors);
  line("lattice_net_ws_messages_in_total", "counter", s.ws_messages_in);
  line("lattice_net_ws_bytes_in_total", "counter", s.ws_bytes_in);
  line("lattice_net_ws_messages_out_total", "counter", s.ws_messages_out);
  line("lattice_net_ws_writes_total", "counter", s.ws_writes);
  line("lattice_net_ws_bytes_out_total", "counter", s.ws_bytes_out);
  line("lattice_net_ws_send_overflows_total", "counter", s.ws_send_overflows);
  line("lattice_net_ws_close_too_big_total", "counter", s.ws_close_too_big);
  line("lattice_net_ws_close_abnormal_total", "counter", s.ws_close_abnormal);
}

// The server replica of a node in a cluster: drawn once and kept in the
// data directory, so that no two nodes edit documents as the same replica
// (their ops would collide) and a restarted node keeps its own.
absl::StatusOr<uint64_t> NodeReplica(const std::string& data_dir) {
  const std::string path = data_dir + "/NODE_REPLICA";
  if (std::ifstream in(path); in) {
    uint64_t replica = 0;
    if (in >> replica && replica > 1) return replica;
    return absl::DataLossError(absl::StrCat(path, ": not a replica id"));
  }
  absl::BitGen gen;
  // Above 1 (the single node's), below 2^53 (exact in JSON numbers).
  const uint64_t replica = absl::Uniform<uint64_t>(gen, 2, uint64_t{1} << 53);
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << replica << "\n";
    out.flush();
    if (!out) return absl::UnavailableError(absl::StrCat("write ", tmp));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("rename ", tmp, ": ", ec.message()));
  }
  return replica;
}

}  // namespace

Node::Node(NodeOptions options) : options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<Node>> Node::Start(NodeOptions options) {
  std::error_code ec;
  std::filesystem::create_directories(options.data_dir, ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("data dir ", options.data_dir, ": ", ec.message()));
  }
  std::unique_ptr<Node> node(new Node(std::move(options)));
  const NodeOptions& o = node->options_;
  // By default one core is left to the kernel's network work, RocksDB and
  // the store executor: on the 2-core VM one shard beat two in every
  // presence scenario (BENCHMARKS.md, "Threads").
  const int cores = static_cast<int>(std::thread::hardware_concurrency());
  node->shards_ = std::make_unique<net::IoShards>(
      o.threads > 0 ? o.threads : std::max(1, cores - 1));
  net::IoShards* shards = node->shards_.get();
  auto store = storage::RoomStore::Open(o.data_dir, o.store);
  if (!store.ok()) return store.status();
  node->store_ = *std::move(store);
  SyncServerOptions sync_options = o.sync;
  if (!sync_options.cluster.redis_address.empty()) {
    auto replica = NodeReplica(o.data_dir);
    if (!replica.ok()) return replica.status();
    sync_options.engine.server_replica = *replica;
  }
  sync_options.max_message_bytes = o.http.websocket.max_message_bytes;
  sync_options.room_context =
      [shards](absl::string_view room) -> boost::asio::io_context& {
    return shards->ForKey(room);
  };
  auto sync = SyncServer::Create(shards->at(0), *node->store_, sync_options);
  if (!sync.ok()) return sync.status();
  node->sync_ = *std::move(sync);
  node->api_ = std::make_unique<HttpApi>(*node->sync_, o.api);
  Node* raw = node.get();
  net::HttpServerOptions http_options = o.http;
  http_options.connection_context = [shards]() -> boost::asio::io_context& {
    return shards->Next();
  };
  node->http_ = std::make_unique<net::HttpServer>(
      shards->at(0),
      net::HttpServer::AsyncHandler(
          [raw](net::HttpRequest request, net::HttpRespond respond) {
            raw->HandleHttp(std::move(request), std::move(respond));
          }),
      std::move(http_options), node->sync_);
  auto port = node->http_->Listen(o.listen_address, o.port);
  if (!port.ok()) return port.status();
  node->port_ = *port;
  shards->Start();
  return node;
}

Node::~Node() { Shutdown(); }

void Node::HandleHttp(net::HttpRequest request,
                      net::HttpRespond respond) const {
  if (HttpApi::Handles(request.target)) {
    return api_->Handle(std::move(request), std::move(respond));
  }
  if (request.target == "/metrics") {
    if (request.method != "GET") {
      return respond(net::JsonError(405, "method_not_allowed", "use GET"));
    }
    std::string body;
    sync_->AppendMetrics(&body);
    AppendNetStats(http_->stats(), &body);
    return respond(
        net::HttpResponse{200, "text/plain; version=0.0.4", std::move(body)});
  }
  respond(HandleAdminRequest(request));
}

void Node::Shutdown() {
  {
    absl::MutexLock lock(&mu_);
    if (shut_down_) return;
    shut_down_ = true;
  }
  // Before the connections close: their leaving must not be what the
  // restarted server restores.
  if (sync_ != nullptr) sync_->CheckpointPresenceForStop(absl::Seconds(2));
  if (http_ != nullptr) {
    auto closed = std::make_shared<absl::Notification>();
    http_->Shutdown(net::kCloseGoingAway, options_.shutdown_grace,
                    [closed] { closed->Notify(); });
    // A little past the grace period: Shutdown drops what is left by then.
    closed->WaitForNotificationWithTimeout(
        absl::Milliseconds(options_.shutdown_grace.count()) + absl::Seconds(1));
  }
  if (sync_ != nullptr) sync_->Shutdown();  // drains queued store work
  if (shards_ != nullptr) {
    shards_->Stop();
    shards_->Join();
  }
  http_.reset();
  api_.reset();
  sync_.reset();
  if (store_ != nullptr) {
    absl::Status flushed = store_->Flush();
    if (!flushed.ok()) LATTICE_LOG(kWarning) << "flush: " << flushed;
  }
}

}  // namespace lattice::engine
