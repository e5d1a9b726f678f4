// State shared by an HttpServer and its connections: the handlers and
// options, counters, the registry of live connections (for Shutdown) and the
// per-IP WebSocket counts. Connections hold it by shared_ptr, so it outlives
// the HttpServer while any of them is alive (chat-multi shared_state).
//
// Thread safety: safe for concurrent use. The registry and per-IP counts are
// guarded by one mutex, held only to update or copy them (never while calling
// into a connection or a user callback).
#ifndef LATTICE_NET_INTERNAL_SERVER_STATE_H_
#define LATTICE_NET_INTERNAL_SERVER_STATE_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "net/http_server.h"
#include "net/internal/deadline_queue.h"
#include "net/websocket.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace lattice::net::internal {

// A live connection the server can end: an HTTP or a WebSocket session.
// Both methods are safe from any thread (they post to the session's strand).
class ServerConnection {
 public:
  virtual ~ServerConnection() = default;
  // Begins a graceful end (see HttpServer::Shutdown).
  virtual void BeginShutdown(uint16_t close_code) = 0;
  // Drops the connection now.
  virtual void ForceClose() = 0;
  // A deadline it scheduled with ServerState::deadlines() is due (called
  // on the queue's strand).
  virtual void OnDeadline() {}
};

// Returns the address as text, with IPv4-mapped IPv6 addresses as IPv4.
std::string NormalizeIp(const boost::asio::ip::address& address);

// Returns the client IP for a connection from `peer`. When `peer` is a
// trusted proxy, X-Forwarded-For (`forwarded_for`, may be empty) is walked
// from the right past trusted proxies; the first untrusted address is the
// client. An unparsable entry stops the walk at the last good address.
// REQUIRES: `trusted` holds normalized addresses (NormalizeIp).
std::string ResolveClientIp(const boost::asio::ip::address& peer,
                            absl::string_view forwarded_for,
                            const std::vector<std::string>& trusted);

class ServerState : public std::enable_shared_from_this<ServerState> {
 public:
  ServerState(boost::asio::io_context& ioc, HttpServer::AsyncHandler handler,
              HttpServerOptions options, std::shared_ptr<WsHandler> ws_handler);
  ServerState(const ServerState&) = delete;
  ServerState& operator=(const ServerState&) = delete;

  const HttpServer::AsyncHandler& handler() const { return handler_; }
  const HttpServerOptions& options() const { return options_; }
  const WebSocketOptions& ws_options() const { return options_.websocket; }
  // Null when the server serves HTTP only.
  const std::shared_ptr<WsHandler>& ws_handler() const { return ws_handler_; }
  // Normalized trusted proxy addresses.
  const std::vector<std::string>& trusted_proxies() const {
    return trusted_proxies_;
  }
  NetStats& stats() { return stats_; }
  DeadlineQueue& deadlines() { return *deadlines_; }
  uint64_t NextWsId() { return next_ws_id_.fetch_add(1); }

  // Adds a connection to the registry. Returns false (and adds nothing) once
  // shutdown has begun: the caller must then drop the connection.
  [[nodiscard]] bool Register(ServerConnection* conn,
                              std::weak_ptr<ServerConnection> weak);
  // Removes a connection. When it is the last one during shutdown, the
  // shutdown completes: the grace timer is cancelled and on_done runs on
  // this thread, unless `from_destructor` (then nothing is called back: the
  // io_context may be going away).
  void Unregister(ServerConnection* conn, bool from_destructor);
  bool shutting_down() const;

  // Takes one WebSocket slot for `ip`; false when the per-IP limit is
  // reached.
  [[nodiscard]] bool AcquireIpSlot(const std::string& ip);
  void ReleaseIpSlot(const std::string& ip);

  // See HttpServer::Shutdown (the listener is stopped by the caller).
  void BeginShutdown(uint16_t close_code, std::chrono::milliseconds grace,
                     std::function<void()> on_done);
  // Forgets on_done (the HttpServer is going away).
  void ClearOnDone();

 private:
  std::vector<std::shared_ptr<ServerConnection>> Snapshot() const;
  void ForceCloseAll();

  // Immutable after construction.
  const HttpServer::AsyncHandler handler_;
  const HttpServerOptions options_;
  const std::shared_ptr<WsHandler> ws_handler_;
  const std::vector<std::string> trusted_proxies_;

  // Thread-safe.
  NetStats stats_;
  std::atomic<uint64_t> next_ws_id_{1};

  // Confined to strand_.
  boost::asio::strand<boost::asio::io_context::executor_type> strand_;
  boost::asio::steady_timer grace_timer_;

  // Thread-safe; a shared_ptr because its handlers keep it alive.
  const std::shared_ptr<DeadlineQueue> deadlines_;

  mutable absl::Mutex mu_;
  absl::flat_hash_map<ServerConnection*, std::weak_ptr<ServerConnection>>
      connections_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, uint32_t> per_ip_ ABSL_GUARDED_BY(mu_);
  bool shutting_down_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(mu_) = false;
  std::function<void()> on_done_ ABSL_GUARDED_BY(mu_);
};

// Counts one open TCP connection in NetStats::connections_open until
// released or destroyed. Move-only; handed from the HTTP session to the
// WebSocket session on upgrade.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  explicit ConnectionSlot(std::shared_ptr<ServerState> state);
  ConnectionSlot(ConnectionSlot&& other) noexcept = default;
  ConnectionSlot& operator=(ConnectionSlot&& other) noexcept;
  ~ConnectionSlot() { Release(); }
  void Release();

 private:
  std::shared_ptr<ServerState> state_;
};

// Holds one per-IP WebSocket slot until released or destroyed. Move-only.
class IpSlot {
 public:
  IpSlot() = default;
  IpSlot(std::shared_ptr<ServerState> state, std::string ip)
      : state_(std::move(state)), ip_(std::move(ip)) {}
  IpSlot(IpSlot&& other) noexcept = default;
  IpSlot& operator=(IpSlot&& other) noexcept;
  ~IpSlot() { Release(); }
  void Release();

 private:
  std::shared_ptr<ServerState> state_;
  std::string ip_;
};

}  // namespace lattice::net::internal

#endif  // LATTICE_NET_INTERNAL_SERVER_STATE_H_
