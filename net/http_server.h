// A small asynchronous HTTP/1.1 server on Boost.Beast, for health checks,
// metrics and the backend API, which also carries the WebSocket transport on
// the same port: a request that is a WebSocket upgrade goes to a WebSocket
// session (net/websocket.h) when a WsHandler is given; everything else stays
// HTTP.
//
//   boost::asio::io_context ioc;
//   net::HttpServer server(ioc, [](const net::HttpRequest& req) {
//     return net::HttpResponse{200, "text/plain", "ok\n"};
//   }, {}, ws_handler);   // ws_handler may be null: HTTP only
//   auto port = server.Listen("127.0.0.1", 0);   // StatusOr<uint16_t>
//   ...
//   server.Shutdown(net::kCloseGoingAway, std::chrono::seconds(5),
//                   [&] { ioc.stop(); });
//   ioc.run();
//
// Threading: every connection runs on its own strand of the io_context; the
// handler is called on that strand and may run concurrently for different
// connections, so it must be thread-safe. An asynchronous handler (for
// answers that wait on other work, e.g. a durable write) gets an
// HttpRespond to call later instead of returning the response; the
// connection reads no further request until it is called. Listen, Stop,
// Shutdown and stats() may be called from any thread.
//
// Limits: request bodies above `max_body_bytes` are refused with 413; a
// request must arrive within `request_timeout`; both answer with a JSON body.
// WebSocket limits are in WebSocketOptions.
#ifndef LATTICE_NET_HTTP_SERVER_H_
#define LATTICE_NET_HTTP_SERVER_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "net/websocket.h"

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace lattice::net {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string target;  // path and query, as sent
  std::string body;
  std::string authorization;  // the Authorization header, if any
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

// Answers one request: call it once, from any thread, possibly after the
// handler returned. Later calls are ignored.
using HttpRespond = std::function<void(HttpResponse)>;

// Returns a JSON error body {"status":..,"code":..,"message":..}.
HttpResponse JsonError(int status, absl::string_view code,
                       absl::string_view message);

struct HttpServerOptions {
  // Largest request body accepted. Default: 1 MiB.
  uint64_t max_body_bytes = 1 << 20;
  // Time allowed to receive one whole request. With a WsHandler the first
  // request on a connection (possibly an upgrade) must arrive within
  // min(request_timeout, websocket.handshake_timeout). Default: 10 s.
  std::chrono::milliseconds request_timeout{10'000};
  // WebSocket transport; used only when the server has a WsHandler.
  WebSocketOptions websocket;
  // Picks the io_context of each accepted connection, e.g. IoShards::Next
  // (net/io_shards.h); called on the listener's strand. Every io_context it
  // returns must outlive the server. Default (empty): the server's own.
  std::function<boost::asio::io_context&()> connection_context;
  // SO_REUSEPORT: several processes listen on one port and the kernel
  // spreads new connections across them (several nodes of a cluster on one
  // machine, each under its own descriptor limit). Default: false
  bool reuse_port = false;
};

namespace internal {
class ServerState;
}  // namespace internal

// Counters for a /metrics endpoint. Updated by the server's I/O threads with
// relaxed atomics; readable from any thread (each value on its own, not as
// one consistent snapshot).
struct NetStats {
  // -- TCP connections (HTTP and WebSocket)
  std::atomic<uint64_t> connections_open{0};
  std::atomic<uint64_t> connections_total{0};  // accepted since start
  std::atomic<uint64_t> http_requests{0};      // answered, any status
  // accept() failures (out of descriptors or memory); each pauses accepting
  // for 100 ms.
  std::atomic<uint64_t> accept_errors{0};

  // -- WebSockets
  std::atomic<uint64_t> ws_open{0};
  std::atomic<uint64_t> ws_total{0};  // completed handshakes since start
  std::atomic<uint64_t> ws_messages_in{0};
  std::atomic<uint64_t> ws_bytes_in{0};
  std::atomic<uint64_t> ws_messages_out{0};  // written to the socket
  std::atomic<uint64_t> ws_writes{0};  // WebSocket messages: batches count 1
  std::atomic<uint64_t> ws_bytes_out{0};
  std::atomic<uint64_t> ws_send_overflows{0};  // queue limit hit

  // Upgrades refused before the handshake, and handshakes that failed.
  std::atomic<uint64_t> ws_refused_origin{0};     // 403
  std::atomic<uint64_t> ws_refused_ip_limit{0};   // 429
  std::atomic<uint64_t> ws_refused_shutdown{0};   // 503
  std::atomic<uint64_t> ws_handshakes_failed{0};  // bad request, timeout

  // Ended connections by the code given to OnClose.
  std::atomic<uint64_t> ws_close_normal{0};      // 1000
  std::atomic<uint64_t> ws_close_going_away{0};  // 1001
  std::atomic<uint64_t> ws_close_protocol{0};    // 1002, 1003, 1007, 1008
  std::atomic<uint64_t> ws_close_too_big{0};     // 1009
  std::atomic<uint64_t> ws_close_overflow{0};    // overflow_close_code
  std::atomic<uint64_t> ws_close_abnormal{0};    // 1006: no close frame
  std::atomic<uint64_t> ws_close_other{0};       // anything else
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;
  // Must not block; answers through `respond` (see HttpRespond).
  using AsyncHandler = std::function<void(HttpRequest, HttpRespond respond)>;

  // `ioc` must outlive the server. With a non-null `ws_handler`, WebSocket
  // upgrades are accepted (see net/websocket.h); without one they reach
  // `handler` like any other request.
  HttpServer(boost::asio::io_context& ioc, Handler handler,
             HttpServerOptions options = {},
             std::shared_ptr<WsHandler> ws_handler = nullptr);
  // The same with an asynchronous handler.
  HttpServer(boost::asio::io_context& ioc, AsyncHandler handler,
             HttpServerOptions options = {},
             std::shared_ptr<WsHandler> ws_handler = nullptr);
  // Stops accepting. Open connections keep running on the io_context (they
  // hold what they need); use Shutdown first to end them.
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts accepting; returns the bound port (useful with port 0).
  // Errors: InvalidArgument for a bad address, Unavailable when binding fails.
  [[nodiscard]] absl::StatusOr<uint16_t> Listen(absl::string_view address,
                                                uint16_t port);

  // Stops accepting new connections. Connections in flight finish their
  // current request.
  void Stop();

  // Ends the server gracefully: stops accepting, closes idle HTTP keep-alive
  // connections (a request in progress is answered first), and closes every
  // WebSocket with `close_code` after its queued messages; OnClose is called
  // for each. Connections left after `grace` are dropped. `on_done` (may be
  // empty) is called once, on an I/O thread, when no connection is left; it
  // is not called if the server is destroyed first. Later calls have no
  // effect. Safe from any thread, e.g. a signal handler on the io_context.
  void Shutdown(uint16_t close_code = kCloseGoingAway,
                std::chrono::milliseconds grace = std::chrono::seconds(5),
                std::function<void()> on_done = nullptr);

  // Returns the server's counters; valid for the server's lifetime.
  const NetStats& stats() const;

 private:
  class Listener;

  // Immutable after construction.
  boost::asio::io_context& ioc_;
  const std::shared_ptr<internal::ServerState> state_;

  absl::Mutex mu_;
  std::shared_ptr<Listener> listener_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lattice::net

#endif  // LATTICE_NET_HTTP_SERVER_H_
