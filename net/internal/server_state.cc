#include "net/internal/server_state.h"

#include <algorithm>
#include <utility>

#include <boost/asio/post.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/str_split.h"

namespace lattice::net::internal {

namespace asio = boost::asio;

std::string NormalizeIp(const asio::ip::address& address) {
  if (address.is_v6() && address.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, address.to_v6())
        .to_string();
  }
  return address.to_string();
}

namespace {

bool IsTrusted(const std::string& ip, const std::vector<std::string>& trusted) {
  for (const auto& t : trusted) {
    if (t == ip) return true;
  }
  return false;
}

std::vector<std::string> NormalizeAll(const std::vector<std::string>& ips) {
  std::vector<std::string> out;
  for (const auto& ip : ips) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(ip, ec);
    out.push_back(ec ? ip : NormalizeIp(address));
  }
  return out;
}

// A tenth of the shortest WebSocket timeout, within [10 ms, 1 s]: deadlines
// fire at most that late.
std::chrono::milliseconds DeadlineTick(const WebSocketOptions& options) {
  std::chrono::milliseconds shortest = options.handshake_timeout;
  if (options.idle_timeout.count() > 0) {
    shortest = std::min(shortest, options.idle_timeout / 2);
  }
  return std::clamp(shortest / 10, std::chrono::milliseconds(10),
                    std::chrono::milliseconds(1000));
}

}  // namespace

std::string ResolveClientIp(const asio::ip::address& peer,
                            absl::string_view forwarded_for,
                            const std::vector<std::string>& trusted) {
  std::string client = NormalizeIp(peer);
  if (forwarded_for.empty() || !IsTrusted(client, trusted)) return client;
  std::vector<absl::string_view> hops = absl::StrSplit(forwarded_for, ',');
  for (auto it = hops.rbegin(); it != hops.rend(); ++it) {
    boost::system::error_code ec;
    auto address = asio::ip::make_address(
        std::string(absl::StripAsciiWhitespace(*it)), ec);
    if (ec) break;
    client = NormalizeIp(address);
    if (!IsTrusted(client, trusted)) break;
  }
  return client;
}

ServerState::ServerState(asio::io_context& ioc,
                         HttpServer::AsyncHandler handler,
                         HttpServerOptions options,
                         std::shared_ptr<WsHandler> ws_handler)
    : handler_(std::move(handler)),
      options_(std::move(options)),
      ws_handler_(std::move(ws_handler)),
      trusted_proxies_(NormalizeAll(options_.websocket.trusted_proxies)),
      strand_(asio::make_strand(ioc)),
      grace_timer_(strand_),
      deadlines_(std::make_shared<DeadlineQueue>(
          strand_, DeadlineTick(options_.websocket))) {}

bool ServerState::Register(ServerConnection* conn,
                           std::weak_ptr<ServerConnection> weak) {
  absl::MutexLock lock(&mu_);
  if (shutting_down_) return false;
  connections_.emplace(conn, std::move(weak));
  return true;
}

void ServerState::Unregister(ServerConnection* conn, bool from_destructor) {
  std::function<void()> on_done;
  bool done = false;
  {
    absl::MutexLock lock(&mu_);
    if (connections_.erase(conn) == 0) return;
    // Under mu_: a connection schedules deadlines only once registered, so
    // none is lost. (From a destructor the io_context may be going away.)
    if (connections_.empty() && !from_destructor) deadlines_->Clear();
    if (shutting_down_ && !shutdown_done_ && connections_.empty()) {
      shutdown_done_ = true;
      done = true;
      on_done = std::move(on_done_);
      on_done_ = nullptr;
    }
  }
  if (!done || from_destructor) return;
  asio::post(strand_,
             [self = shared_from_this()] { self->grace_timer_.cancel(); });
  if (on_done) on_done();
}

bool ServerState::shutting_down() const {
  absl::MutexLock lock(&mu_);
  return shutting_down_;
}

bool ServerState::AcquireIpSlot(const std::string& ip) {
  absl::MutexLock lock(&mu_);
  uint32_t& n = per_ip_[ip];
  if (n >= options_.websocket.max_connections_per_ip) {
    if (n == 0) per_ip_.erase(ip);
    return false;
  }
  ++n;
  return true;
}

void ServerState::ReleaseIpSlot(const std::string& ip) {
  absl::MutexLock lock(&mu_);
  auto it = per_ip_.find(ip);
  if (it == per_ip_.end()) return;
  if (--it->second == 0) per_ip_.erase(it);
}

std::vector<std::shared_ptr<ServerConnection>> ServerState::Snapshot() const {
  std::vector<std::shared_ptr<ServerConnection>> out;
  absl::MutexLock lock(&mu_);
  out.reserve(connections_.size());
  for (const auto& [raw, weak] : connections_) {
    if (auto conn = weak.lock()) out.push_back(std::move(conn));
  }
  return out;
}

void ServerState::BeginShutdown(uint16_t close_code,
                                std::chrono::milliseconds grace,
                                std::function<void()> on_done) {
  bool done_now = false;
  {
    absl::MutexLock lock(&mu_);
    if (shutting_down_) return;
    shutting_down_ = true;
    if (connections_.empty()) {
      shutdown_done_ = true;
      done_now = true;
    } else {
      on_done_ = std::move(on_done);
    }
  }
  if (done_now) {
    if (on_done) on_done();
    return;
  }
  // Arm the grace timer before any connection can end: the cancel posted by
  // the last Unregister then runs after it on strand_.
  asio::post(strand_, [self = shared_from_this(), grace] {
    {
      absl::MutexLock lock(&self->mu_);
      if (self->shutdown_done_) return;
    }
    self->grace_timer_.expires_after(grace);
    self->grace_timer_.async_wait([self](boost::system::error_code ec) {
      if (!ec) self->ForceCloseAll();
    });
  });
  for (const auto& conn : Snapshot()) conn->BeginShutdown(close_code);
}

void ServerState::ForceCloseAll() {
  for (const auto& conn : Snapshot()) conn->ForceClose();
}

void ServerState::ClearOnDone() {
  absl::MutexLock lock(&mu_);
  on_done_ = nullptr;
}

ConnectionSlot::ConnectionSlot(std::shared_ptr<ServerState> state)
    : state_(std::move(state)) {
  state_->stats().connections_open.fetch_add(1, std::memory_order_relaxed);
  state_->stats().connections_total.fetch_add(1, std::memory_order_relaxed);
}

ConnectionSlot& ConnectionSlot::operator=(ConnectionSlot&& other) noexcept {
  if (this != &other) {
    Release();
    state_ = std::move(other.state_);
  }
  return *this;
}

void ConnectionSlot::Release() {
  if (!state_) return;
  state_->stats().connections_open.fetch_sub(1, std::memory_order_relaxed);
  state_.reset();
}

IpSlot& IpSlot::operator=(IpSlot&& other) noexcept {
  if (this != &other) {
    Release();
    state_ = std::move(other.state_);
    ip_ = std::move(other.ip_);
  }
  return *this;
}

void IpSlot::Release() {
  if (!state_) return;
  state_->ReleaseIpSlot(ip_);
  state_.reset();
}

}  // namespace lattice::net::internal
