// The server side of one WebSocket: accepts the upgrade handed over by the
// HTTP session, reads messages into WsHandler::OnMessage, and writes a
// bounded queue of shared messages one async_write at a time (Beast
// chat-multi websocket_session::send/on_send, advanced_server queue limit).
//
// Thread safety: WsHandle, and the WsSession methods Send, Close,
// queued_bytes, BeginShutdown and ForceClose, are safe from any thread;
// everything else runs on the socket's strand.
//
// Invariants:
//  1. A read is pending from the end of the handshake until the connection
//     ends; its completion with an error is the one place where the
//     connection ends (OnEnd), so OnClose runs exactly once.
//  2. At most one async_write is in flight (writing_), always for the
//     first in_flight_ queued messages (more than one only with batching
//     on).
//  3. queued_bytes_/queued_messages_ count every message accepted by Send
//     and neither written nor dropped, including those still being posted
//     to the strand, so the limits bound memory regardless of strand
//     backlog.
#ifndef LATTICE_NET_INTERNAL_WEBSOCKET_SESSION_H_
#define LATTICE_NET_INTERNAL_WEBSOCKET_SESSION_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "net/internal/connection_stream.h"
#include "net/internal/server_state.h"
#include "net/websocket.h"

namespace lattice::net::internal {

class WsSession;

// The WsConnection given to the WsHandler. It holds its session weakly, so
// handles kept by the application (e.g. in a room's subscriber list) never
// keep a finished connection's socket and buffers alive, nor form a cycle
// through the handler (session -> server state -> handler -> handle).
// Thread safety: safe for concurrent use.
class WsHandle final : public WsConnection {
 public:
  WsHandle(uint64_t id, std::string remote_ip, std::string target,
           std::weak_ptr<WsSession> session)
      : id_(id),
        remote_ip_(std::move(remote_ip)),
        target_(std::move(target)),
        session_(std::move(session)) {}

  uint64_t id() const override { return id_; }
  const std::string& remote_ip() const override { return remote_ip_; }
  const std::string& target() const override { return target_; }
  void Send(std::shared_ptr<const std::string> message) override;
  void Close(uint16_t code, std::string reason) override;
  void EnableBatching(uint64_t max_bytes) override;
  uint64_t queued_bytes() const override;

 private:
  const uint64_t id_;
  const std::string remote_ip_;
  const std::string target_;
  const std::weak_ptr<WsSession> session_;
};

class WsSession final : public ServerConnection,
                        public std::enable_shared_from_this<WsSession> {
 public:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;

  // Takes over an HTTP connection whose upgrade request passed the origin
  // and per-IP checks. The slots are released when the connection ends.
  static std::shared_ptr<WsSession> Create(ConnectionStream stream,
                                           std::shared_ptr<ServerState> state,
                                           std::string remote_ip,
                                           std::string target,
                                           ConnectionSlot connection_slot,
                                           IpSlot ip_slot);
  ~WsSession() override;

  // Registers the session and answers the upgrade.
  // REQUIRES: called on the socket's strand, once.
  void Start(Request request);

  // The WsConnection operations (see WsHandle). Any thread.
  void Send(std::shared_ptr<const std::string> message);
  void Close(uint16_t code, std::string reason);
  void EnableBatching(uint64_t max_bytes) {
    batch_max_bytes_.store(max_bytes, std::memory_order_relaxed);
  }
  uint64_t queued_bytes() const {
    return queued_bytes_.load(std::memory_order_relaxed);
  }

  // ServerConnection.
  void BeginShutdown(uint16_t close_code) override;
  void ForceClose() override;

 private:
  void OnAccept(boost::beast::error_code ec);
  // Reads the next piece of a message: at most `limit` bytes (0: what the
  // frame holds). A new message starts with kIdleReadBytes (see the .cc),
  // the rest of it with 0.
  void Read(size_t limit);
  void OnRead(boost::beast::error_code ec, std::size_t bytes);
  void OnOverflow();
  void Enqueue(std::shared_ptr<const std::string> message);
  void Write();
  void OnWrite(boost::beast::error_code ec, std::size_t bytes);
  void DoClose(uint16_t code, std::string reason);
  void StartCloseHandshake();
  void DropSocket();
  void DisarmTimeouts();
  void OnEnd(uint16_t code, std::string reason);
  void Unaccount(const std::string& message);
  // Drops every queued message except one being written.
  void DropQueue();
  void Finish();
  void Deliver(std::string message);

  WsSession(ConnectionStream stream, std::shared_ptr<ServerState> state,
            ConnectionSlot connection_slot, IpSlot ip_slot);
  uint64_t id() const { return handle_->id(); }
  const std::string& remote_ip() const { return handle_->remote_ip(); }

  // Immutable after construction (handle_: after Create).
  const std::shared_ptr<ServerState> state_;
  const WebSocketOptions& options_;  // owned by state_
  const ConnectionStrand executor_;
  std::shared_ptr<WsHandle> handle_;

  // Thread-safe.
  std::atomic<uint64_t> queued_bytes_{0};
  std::atomic<size_t> queued_messages_{0};
  std::atomic<bool> refuse_sends_{false};     // set on strand by close or end
  std::atomic<uint64_t> batch_max_bytes_{0};  // 0: one message per write

  // Confined to the strand.
  boost::beast::websocket::stream<ConnectionSocket> ws_;
  // The message being read. Between messages it holds at most
  // kIdleReadBytes (see Read).
  boost::beast::flat_buffer buffer_;
  // The outbound queue is queue_[head_...]; the write in progress holds its
  // first in_flight_ messages. A vector and a head index, not a deque: an
  // empty deque holds a 512-byte block, 5% of an idle connection.
  std::vector<std::shared_ptr<const std::string>> queue_;
  size_t head_ = 0;
  size_t in_flight_ = 0;
  std::vector<boost::asio::const_buffer> batch_;  // a batch's buffers
  boost::asio::steady_timer close_deadline_;
  ConnectionSlot connection_slot_;
  IpSlot ip_slot_;
  bool registered_ = false;
  bool opened_ = false;  // handshake done, OnOpen called
  bool ended_ = false;
  bool writing_ = false;
  bool close_requested_ = false;  // by us: Close, overflow, text, shutdown
  bool close_started_ = false;    // async_close issued
  uint16_t close_code_ = 0;
  std::string close_reason_;
};

}  // namespace lattice::net::internal

#endif  // LATTICE_NET_INTERNAL_WEBSOCKET_SESSION_H_
