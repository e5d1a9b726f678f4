// An asynchronous WebSocket client (binary messages) on a caller-provided
// io_context, for the SDK's transport and for tests.
//
//   auto client = net::WsClient::Create(ioc, {});
//   client->set_on_message([](std::string bytes) { ... });
//   client->set_on_close([](uint16_t code, std::string reason) { ... });
//   client->Connect("127.0.0.1", port, "/v1/ws", [client](absl::Status s) {
//     if (s.ok()) client->Send(std::make_shared<const std::string>("hi"));
//   });
//   ioc.run();
//
// Thread safety: Connect, Send and Close may be called from any thread. The
// handlers are called on the client's strand, one at a time and in order:
// on_open once; then, only if it was OK, on_message for each message and
// on_close exactly once. The client keeps itself alive while an operation is
// pending, so the caller may drop its pointer at any time; it lets go of the
// handlers after on_close (or a failed on_open), which breaks cycles through
// captured pointers.
#ifndef LATTICE_NET_WEBSOCKET_CLIENT_H_
#define LATTICE_NET_WEBSOCKET_CLIENT_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/status/status.h"

namespace lattice::net {

struct WsClientOptions {
  // Largest incoming message; a larger one closes with 1009. Default: 1 MiB.
  uint64_t max_message_bytes = 1 << 20;
  // Time allowed for resolving, connecting and the handshake together; also
  // bounds the closing handshake. Default: 10 s.
  std::chrono::milliseconds connect_timeout{10'000};
  // Pings after half of it without incoming data; drops the connection
  // (on_close 1006) when nothing arrives for the whole period. Default: 30 s.
  std::chrono::milliseconds idle_timeout{30'000};
  // Offers permessage-deflate. Default: false.
  bool permessage_deflate = false;
  // Extra handshake headers, e.g. {"Origin", "https://app.example"}.
  // Default: none.
  std::vector<std::pair<std::string, std::string>> headers;
};

class WsClient : public std::enable_shared_from_this<WsClient> {
 public:
  using OpenHandler = std::function<void(absl::Status)>;
  using MessageHandler = std::function<void(std::string)>;
  using CloseHandler = std::function<void(uint16_t code, std::string reason)>;

  // `ioc` must outlive the client's pending operations (run it until they
  // complete, or destroy the io_context, which drops them).
  static std::shared_ptr<WsClient> Create(boost::asio::io_context& ioc,
                                          WsClientOptions options = {});
  ~WsClient();
  WsClient(const WsClient&) = delete;
  WsClient& operator=(const WsClient&) = delete;

  // REQUIRES: called before Connect.
  void set_on_message(MessageHandler handler);
  // Called exactly once after a successful open: with the server's close
  // code, 1009 for an oversize message, or 1006 when the connection dropped
  // without a close frame (including timeouts). REQUIRES: before Connect.
  void set_on_close(CloseHandler handler);

  // Connects to ws://host:port/target. `on_open` receives OK once the
  // handshake has completed, or: Unavailable when resolving or connecting
  // fails or the server answers 5xx; DeadlineExceeded after
  // connect_timeout; PermissionDenied for HTTP 403 (e.g. origin);
  // ResourceExhausted for HTTP 429; Unauthenticated for 401;
  // FailedPrecondition for another refusal or a second Connect; Cancelled
  // when Close was called first. The HTTP status appears in the message.
  void Connect(std::string host, uint16_t port, std::string target,
               OpenHandler on_open);

  // Queues a binary message; messages sent before the handshake completes
  // are written right after it. Dropped once Close was called or the
  // connection ended. The outbound queue is not bounded here (the SDK
  // bounds its outbox). REQUIRES: `message` is not null.
  void Send(std::shared_ptr<const std::string> message);

  // Sends a close frame after the queued messages (messages arriving from
  // then on are not delivered); on_close follows with the server's answer.
  // Cancels a Connect in progress (on_open gets Cancelled). Idempotent.
  void Close(uint16_t code, std::string reason);

  // Returns the bytes queued and not yet written (approximate).
  uint64_t queued_bytes() const;

 private:
  struct Impl;
  WsClient(boost::asio::io_context& ioc, WsClientOptions options);
  std::unique_ptr<Impl> impl_;
};

}  // namespace lattice::net

#endif  // LATTICE_NET_WEBSOCKET_CLIENT_H_
