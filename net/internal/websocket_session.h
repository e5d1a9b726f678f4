// The server side of one WebSocket: accepts the upgrade handed over by the
// HTTP session (Beast answers the handshake), then runs the protocol itself
// on the bare socket with WsFrameParser: reads messages into
// WsHandler::OnMessage and writes a bounded queue of shared messages one
// write at a time (Beast chat-multi websocket_session::send/on_send,
// advanced_server queue limit). Beast's websocket::stream is not kept past
// the handshake: with its inline read buffer it was 2.5 KiB of every idle
// connection.
//
// Reading: a connection between messages waits for readability
// (async_wait) holding no buffer, then reads what has arrived into a
// per-thread scratch buffer and parses it; only a message split across reads
// is copied into the connection.
//
// Closing (RFC 6455 5.5.1, 7.1.1): whoever closes first sends a close frame
// and the other answers with one. Once the close handshake is done, or the
// connection failed with a protocol error, the server shuts down its sending
// side and reads to the end of the stream, so that the client reads every
// byte before the FIN (a close() with unread input would send a reset). The
// close deadline (handshake_timeout) bounds all of it.
//
// Thread safety: WsHandle, and the WsSession methods Send, Close,
// queued_bytes, BeginShutdown, ForceClose and OnDeadline, are safe from any
// thread (they post to the socket's strand); everything else runs on that
// strand.
//
// Invariants:
//  1. A read (async_wait) is pending from the end of the handshake until the
//     connection ends; its completion with an error, or the end of the
//     stream, is the one place where the connection ends (OnEnd), so
//     OnClose runs exactly once.
//  2. At most one async_write is in flight (writing_). It holds
//     control_writing_, then the first in_flight_ queued messages as one
//     frame (more than one only with batching on).
//  3. queued_bytes_/queued_messages_ count every message accepted by Send
//     and neither written nor dropped, including those still being posted
//     to the strand, so the limits bound memory regardless of strand
//     backlog.
//  4. Nothing follows the close frame: it is appended to control_out_ only
//     when the message queue is empty, nothing is queued after it, and the
//     write that carries it is the last one.
#ifndef LATTICE_NET_INTERNAL_WEBSOCKET_SESSION_H_
#define LATTICE_NET_INTERNAL_WEBSOCKET_SESSION_H_

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "net/internal/connection_stream.h"
#include "net/internal/server_state.h"
#include "net/internal/ws_frame.h"
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
  void OnDeadline() override;

 private:
  using HandshakeStream =
      boost::beast::websocket::stream<ConnectionSocket&, false>;

  void OnAccept(boost::beast::error_code ec);
  void WaitRead();
  void OnReadable(boost::beast::error_code ec);
  // Parses `n` bytes read from the socket.
  void Consume(const char* data, size_t n);
  void OnParsedMessage();
  void OnPeerClose(uint16_t code, std::string reason);
  // Fails the connection (RFC 6455 7.1.7): drops the queue, sends a close
  // frame with `code` and tears down without waiting for the peer's.
  void Fail(uint16_t code, std::string reason);
  // For the peer's close frame or a protocol error: sends our close frame
  // next, ahead of the queued messages, which are dropped.
  void CloseNow(uint16_t code, std::string reason);
  // Sets the one deadline: the next idle check, or the end of the close
  // handshake.
  void SetDeadline(std::chrono::steady_clock::duration after);
  void OnDeadlineDue();
  void OnOverflow();
  void Enqueue(std::shared_ptr<const std::string> message);
  void Write();
  void OnWrite(boost::beast::error_code ec, std::size_t bytes);
  void DoClose(uint16_t code, std::string reason);
  // Queues the close frame behind what is queued and arms the deadline.
  void StartClose();
  // Ends our side of the stream; the read then runs to the end of the
  // stream.
  void Teardown();
  void DropSocket();
  void OnEnd(uint16_t code, std::string reason);
  void Unaccount(const std::string& message);
  // Drops every queued message except those being written.
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
  std::shared_ptr<WsHandle> handle_;

  // Thread-safe.
  std::atomic<uint64_t> queued_bytes_{0};
  std::atomic<size_t> queued_messages_{0};
  std::atomic<bool> refuse_sends_{false};     // set on strand by close or end
  std::atomic<uint64_t> batch_max_bytes_{0};  // 0: one message per write

  // Confined to the strand, but for socket_.get_executor() (the strand
  // itself, which never changes).
  ConnectionSocket socket_;
  // Beast's stream over socket_, for the opening handshake only.
  std::unique_ptr<HandshakeStream> handshake_;
  WsFrameParser parser_;
  // Idle checks while open (every idle_timeout / 2), then the close
  // deadline; earlier deadlines in ServerState::deadlines() are stale.
  std::chrono::steady_clock::time_point deadline_ =
      std::chrono::steady_clock::time_point::max();
  // The outbound queue is queue_[head_...]; the write in progress holds its
  // first in_flight_ messages. A vector and a head index, not a deque: an
  // empty deque holds a 512-byte block, 5% of an idle connection.
  std::vector<std::shared_ptr<const std::string>> queue_;
  size_t head_ = 0;
  size_t in_flight_ = 0;
  // Control frames (pongs, pings, the close frame) to write before the next
  // message.
  std::string control_out_;
  std::string control_writing_;  // those in the write in progress
  uint8_t data_header_[kMaxWsServerHeaderBytes];
  std::vector<boost::asio::const_buffer> batch_;  // a batch's buffers
  ConnectionSlot connection_slot_;
  IpSlot ip_slot_;
  bool registered_ = false;
  bool opened_ = false;  // handshake done, OnOpen called
  bool ended_ = false;
  bool writing_ = false;
  bool read_activity_ = false;  // bytes arrived since the last idle check
  bool ping_outstanding_ = false;
  bool close_requested_ = false;  // by us or the peer; no more messages
  bool close_queued_ = false;     // the close frame is in control_out_
  bool close_sent_ = false;
  bool peer_closed_ = false;  // the peer's close frame arrived
  bool failed_ = false;       // protocol error: no more parsing
  bool torn_down_ = false;    // our sending side is shut down
  // What OnClose reports when the stream ends after a close frame.
  uint16_t close_code_ = 0;
  std::string close_reason_;
};

}  // namespace lattice::net::internal

#endif  // LATTICE_NET_INTERNAL_WEBSOCKET_SESSION_H_
