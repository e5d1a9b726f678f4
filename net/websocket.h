// The server side of the WebSocket transport: options, the connection handle
// and the handler interface. Bytes in, bytes out: net/ never looks inside a
// message. WebSockets share the HTTP server's port; an upgrade request is
// handed to a WebSocket session (see net/http_server.h).
//
//   class Echo : public net::WsHandler {
//     void OnOpen(const std::shared_ptr<net::WsConnection>&) override {}
//     void OnMessage(const std::shared_ptr<net::WsConnection>& conn,
//                    std::string message) override {
//       conn->Send(std::make_shared<const std::string>(std::move(message)));
//     }
//     void OnClose(const std::shared_ptr<net::WsConnection>&, uint16_t,
//                  std::string) override {}
//   };
//   net::HttpServer server(ioc, admin_handler, {}, std::make_shared<Echo>());
//
// Thread safety: WsConnection is safe for concurrent use (every method may be
// called from any thread). WsHandler callbacks for one connection run in order
// on that connection's strand; callbacks for different connections may run
// concurrently, so a handler shared by all connections must be thread-safe.
#ifndef LATTICE_NET_WEBSOCKET_H_
#define LATTICE_NET_WEBSOCKET_H_

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lattice::net {

// Well-known close codes (RFC 6455 section 7.4.1) and ours.
inline constexpr uint16_t kCloseNormal = 1000;
inline constexpr uint16_t kCloseGoingAway = 1001;
inline constexpr uint16_t kCloseProtocolError = 1002;
inline constexpr uint16_t kCloseUnsupportedData = 1003;  // e.g. text frames
inline constexpr uint16_t kCloseNoStatus = 1005;         // never on the wire
inline constexpr uint16_t kCloseAbnormal = 1006;         // never on the wire
inline constexpr uint16_t kClosePolicyViolation = 1008;
inline constexpr uint16_t kCloseTooBig = 1009;
inline constexpr uint16_t kCloseInternalError = 1011;

// Field order follows the published interface (designated initializers
// depend on it).
struct WebSocketOptions {
  // Largest message accepted; a larger one closes the connection with 1009,
  // found from the frame headers before the payload is read. Default: 1 MiB.
  uint64_t max_message_bytes = 1 << 20;
  // Outbound backlog per connection, counting every message accepted by
  // Send and not yet written. Past either limit the connection is closed
  // with `overflow_close_code` and its pending messages are discarded (the
  // client reconnects and resyncs). Default: 8 MiB.
  uint64_t max_send_queue_bytes = 8 << 20;
  // Default: 8192.
  size_t max_send_queue_messages = 8192;
  // Close code sent on send-queue overflow. Default: 4002 ("resync
  // required").
  uint16_t overflow_close_code = 4002;
  // Time allowed for the opening handshake (on a fresh connection this also
  // bounds the wait for the upgrade request) and, separately, for the
  // closing handshake: a close that has not completed within it drops the
  // connection. Default: 10 s.
  std::chrono::milliseconds handshake_timeout{10'000};
  // Idle timeout, checked every half of it: a connection silent for a half
  // is pinged, and one still silent at the next check is dropped (OnClose
  // with 1006), between 1 and 1.5 times this after its last byte. 0
  // disables it. Default: 30 s.
  std::chrono::milliseconds idle_timeout{30'000};
  // Exact Origin header values accepted; others (and a missing Origin) get
  // HTTP 403 with a JSON body. Empty accepts any origin. Default: empty.
  std::vector<std::string> allowed_origins;
  // Open WebSockets per client IP; further upgrades get HTTP 429 with a
  // JSON body. Default: 1024.
  uint32_t max_connections_per_ip = 1024;
  // Peer IPs whose X-Forwarded-For header is believed: the client IP is the
  // rightmost address in it that is not itself a trusted proxy. Default:
  // empty (the TCP peer is the client).
  std::vector<std::string> trusted_proxies;
};

// One accepted WebSocket, as a handle. The server keeps the connection alive
// while it is open; the handle only refers to it, so holding one after
// OnClose is harmless and cheap (Send then drops messages, queued_bytes is
// 0). The same handle object is passed to every callback of a connection.
//
// Thread safety: safe for concurrent use; every method may be called from any
// thread, including from inside WsHandler callbacks.
class WsConnection {
 public:
  virtual ~WsConnection() = default;

  // Returns the connection id: unique per server, counting from 1.
  virtual uint64_t id() const = 0;
  // Returns the client IP after trusted-proxy resolution, e.g. "10.0.0.7".
  virtual const std::string& remote_ip() const = 0;
  // Returns the request target of the upgrade, e.g. "/v1/ws?room=a".
  virtual const std::string& target() const = 0;

  // Queues a binary message. The buffer is shared, so a broadcast is encoded
  // once for all connections; it must not be modified afterwards. Messages
  // are written in the order Send was called (per calling thread). If the
  // queue would pass its limits the connection is closed with
  // overflow_close_code and the message dropped. After Close (or the end of
  // the connection) messages are dropped silently.
  // REQUIRES: `message` is not null.
  virtual void Send(std::shared_ptr<const std::string> message) = 0;

  // Lets the connection join messages queued behind a write in progress
  // into one WebSocket message of at most `max_bytes` (a larger message is
  // still sent alone). Under load a connection then makes one write per
  // burst instead of one per message; an idle connection still sends each
  // message at once. Only for applications whose messages are
  // self-delimiting, and only once the peer said it can split them (Lattice
  // protocol 2, docs/protocol.md). Takes effect from the next write.
  virtual void EnableBatching(uint64_t max_bytes) = 0;

  // Sends a close frame after the messages already queued, then closes.
  // Idempotent: only the first call's code and reason are used.
  virtual void Close(uint16_t code, std::string reason) = 0;

  // Returns the bytes accepted by Send and not yet written (approximate; for
  // metrics and tests).
  virtual uint64_t queued_bytes() const = 0;
};

// Receives connection events.
//
// Thread safety: OnOpen, OnMessage and OnClose for one connection are called
// in that order on the connection's strand, never concurrently for the same
// connection; calls for different connections may be concurrent. Callbacks
// should not block: they run on an I/O thread. An exception thrown by a
// callback is logged and closes the connection with 1011.
class WsHandler {
 public:
  virtual ~WsHandler() = default;

  // Called once the handshake has completed.
  virtual void OnOpen(const std::shared_ptr<WsConnection>& conn) = 0;
  // Called for each binary message, at most max_message_bytes long. Text
  // messages are refused (close 1003) and never reach the handler.
  virtual void OnMessage(const std::shared_ptr<WsConnection>& conn,
                         std::string message) = 0;
  // Called exactly once per opened connection when it has ended. `code` is
  // the close code we sent when the server closed it (e.g. 1003, 1001,
  // overflow_close_code), the peer's code when the peer closed it, 1009 for
  // an oversize message, and 1006 when the connection dropped without a
  // close frame (including idle timeouts).
  virtual void OnClose(const std::shared_ptr<WsConnection>& conn, uint16_t code,
                       std::string reason) = 0;
};

}  // namespace lattice::net

#endif  // LATTICE_NET_WEBSOCKET_H_
