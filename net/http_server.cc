#include "net/http_server.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "base/logging.h"
#include "net/internal/connection_stream.h"
#include "net/internal/server_state.h"
#include "net/internal/websocket_session.h"

#include "absl/strings/str_cat.h"

namespace lattice::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

std::string JsonEscape(absl::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[(c >> 4) & 0xf];
          out += kHex[c & 0xf];
        } else {
          out += c;
        }
    }
  }
  return out;
}

// One HTTP connection: read a request, answer it, repeat while keep-alive.
// A WebSocket upgrade (when the server has a WsHandler) is checked against
// the origin allow-list and the per-IP limit, then handed to a WsSession.
// Every handler runs on the session's strand (the socket's executor).
class HttpSession : public internal::ServerConnection,
                    public std::enable_shared_from_this<HttpSession> {
 public:
  HttpSession(internal::ConnectionStream::socket_type socket,
              std::shared_ptr<internal::ServerState> state,
              internal::ConnectionSlot slot)
      : state_(std::move(state)),
        executor_(socket.get_executor()),
        stream_(std::move(socket)),
        slot_(std::move(slot)) {}

  ~HttpSession() override {
    if (!finished_) state_->Unregister(this, /*from_destructor=*/true);
  }

  void Start() {
    asio::dispatch(executor_, beast::bind_front_handler(&HttpSession::Read,
                                                        shared_from_this()));
  }

  void BeginShutdown(uint16_t) override {
    asio::post(executor_, [self = shared_from_this()] {
      if (self->finished_) return;
      self->shutting_down_ = true;
      // An idle keep-alive connection is closed now; a request that has
      // started to arrive is answered first (then the connection closes).
      if (self->reading_ && self->buffer_.size() == 0 &&
          !(self->parser_ && self->parser_->got_some())) {
        self->stream_.close();
      }
    });
  }

  void ForceClose() override {
    asio::post(executor_, [self = shared_from_this()] {
      if (!self->finished_) self->stream_.close();
    });
  }

 private:
  const HttpServerOptions& options() const { return state_->options(); }

  void Read() {
    if (shutting_down_) return Finish();
    parser_.emplace();
    parser_->body_limit(options().max_body_bytes);
    auto timeout = options().request_timeout;
    if (first_request_ && state_->ws_handler()) {
      timeout = std::min(timeout, options().websocket.handshake_timeout);
    }
    first_request_ = false;
    stream_.expires_after(timeout);
    reading_ = true;
    http::async_read(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&HttpSession::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
        ec == asio::error::operation_aborted || (shutting_down_ && ec)) {
      return Finish();
    }
    if (ec == http::error::body_limit) {
      return Reply(JsonError(413, "body_too_large",
                             absl::StrCat("request body exceeds ",
                                          options().max_body_bytes, " bytes")),
                   false);
    }
    if (ec) {
      // A malformed request: answer once, then close.
      return Reply(JsonError(400, "bad_request", ec.message()), false);
    }
    auto& req = parser_->get();
    if (state_->ws_handler() && websocket::is_upgrade(req)) return Upgrade();
    HttpRequest request{std::string(req.method_string()),
                        std::string(req.target()), std::move(req.body()),
                        std::string(req[http::field::authorization])};
    // The handler may answer later (after a durable write): no deadline
    // while it works; Reply sets the write's.
    stream_.expires_never();
    HttpRespond respond = [self = shared_from_this(),
                           keep_alive = req.keep_alive(),
                           answered = std::make_shared<std::atomic<bool>>(
                               false)](HttpResponse response) {
      if (answered->exchange(true)) return;
      asio::post(self->executor_, [self, keep_alive,
                                   response = std::move(response)]() mutable {
        self->Reply(std::move(response), keep_alive && !self->shutting_down_);
      });
    };
    try {
      state_->handler()(std::move(request), respond);
    } catch (const std::exception& e) {
      LATTICE_LOG(kError) << "http handler threw: " << e.what();
      respond(JsonError(500, "internal", "internal error"));
    }
  }

  void Upgrade() {
    NetStats& stats = state_->stats();
    const auto& ws = options().websocket;
    auto& req = parser_->get();
    if (shutting_down_) {
      stats.ws_refused_shutdown.fetch_add(1, std::memory_order_relaxed);
      return Reply(JsonError(503, "shutting_down", "server is shutting down"),
                   false);
    }
    if (!ws.allowed_origins.empty()) {
      const absl::string_view origin = ToStringView(req[http::field::origin]);
      if (std::find(ws.allowed_origins.begin(), ws.allowed_origins.end(),
                    origin) == ws.allowed_origins.end()) {
        stats.ws_refused_origin.fetch_add(1, std::memory_order_relaxed);
        return Reply(
            JsonError(403, "origin_not_allowed",
                      absl::StrCat("origin '", origin, "' is not allowed")),
            false);
      }
    }
    beast::error_code ec;
    const tcp::endpoint peer = stream_.socket().remote_endpoint(ec);
    if (ec) return Finish();
    std::string ip = internal::ResolveClientIp(
        peer.address(), ToStringView(req["X-Forwarded-For"]),
        state_->trusted_proxies());
    if (!state_->AcquireIpSlot(ip)) {
      stats.ws_refused_ip_limit.fetch_add(1, std::memory_order_relaxed);
      return Reply(JsonError(429, "too_many_connections",
                             absl::StrCat("too many websocket connections "
                                          "from ",
                                          ip)),
                   false);
    }
    internal::IpSlot ip_slot(state_, ip);
    stream_.expires_never();
    auto session = internal::WsSession::Create(
        std::move(stream_), state_, std::move(ip), std::string(req.target()),
        std::move(slot_), std::move(ip_slot));
    session->Start(parser_->release());
    finished_ = true;
    state_->Unregister(this, /*from_destructor=*/false);
  }

  void Reply(HttpResponse r, bool keep_alive) {
    state_->stats().http_requests.fetch_add(1, std::memory_order_relaxed);
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "lattice");
    res->set(http::field::content_type, r.content_type);
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    stream_.expires_after(options().request_timeout);
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
          if (ec || !res->keep_alive()) return self->Finish();
          self->Read();
        });
  }

  // Ends the session: the socket is closed when the session goes away.
  void Finish() {
    if (finished_) return;
    finished_ = true;
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
    slot_.Release();
    state_->Unregister(this, /*from_destructor=*/false);
  }

  static absl::string_view ToStringView(beast::string_view s) {
    return absl::string_view(s.data(), s.size());
  }

  // Immutable after construction.
  const std::shared_ptr<internal::ServerState> state_;
  const internal::ConnectionStrand executor_;

  // Confined to the strand.
  internal::ConnectionStream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  internal::ConnectionSlot slot_;
  bool first_request_ = true;
  bool reading_ = false;
  bool shutting_down_ = false;
  bool finished_ = false;
};

}  // namespace

class HttpServer::Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, std::shared_ptr<internal::ServerState> state)
      : ioc_(ioc),
        acceptor_(asio::make_strand(ioc)),
        retry_timer_(acceptor_.get_executor()),
        state_(std::move(state)) {}

  absl::StatusOr<uint16_t> Open(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
    if (!ec && state_->options().reuse_port) {
      acceptor_.set_option(
          asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>(true),
          ec);
    }
    if (!ec) acceptor_.bind(endpoint, ec);
    if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      return absl::UnavailableError(
          absl::StrCat("listen on ", endpoint.address().to_string(), ":",
                       endpoint.port(), ": ", ec.message()));
    }
    return acceptor_.local_endpoint().port();
  }

  void Accept() {
    const auto& pick = state_->options().connection_context;
    acceptor_.async_accept(
        asio::make_strand(pick ? pick() : ioc_),
        beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void Stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
      self->retry_timer_.cancel();
    });
  }

 private:
  void OnAccept(beast::error_code ec,
                internal::ConnectionStream::socket_type socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (ec) {
      // Out of descriptors or memory (EMFILE, ENFILE, ENOBUFS): accepting
      // again at once would spin on the same error. Pause, so that the
      // process keeps serving the connections it has. Nothing is logged
      // while it lasts (no log line per attempt, and nothing that needs a
      // descriptor); the next accepted connection reports the episode.
      state_->stats().accept_errors.fetch_add(1, std::memory_order_relaxed);
      if (failed_accepts_++ == 0) first_error_ = ec;
      retry_timer_.expires_after(std::chrono::milliseconds(100));
      retry_timer_.async_wait(
          [self = shared_from_this()](beast::error_code wait_ec) {
            if (!wait_ec && self->acceptor_.is_open()) self->Accept();
          });
      return;
    }
    if (failed_accepts_ > 0) {
      LATTICE_LOG(kWarning)
          << "http accept failed " << failed_accepts_ << " times ("
          << first_error_.message() << "), pausing 100 ms after each";
      failed_accepts_ = 0;
    }
    // Frames are small and latency-bound: without TCP_NODELAY an ack or
    // update waits for the peer's delayed ACK (about 40 ms on Linux).
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto session = std::make_shared<HttpSession>(
        std::move(socket), state_, internal::ConnectionSlot(state_));
    // Refused once shutdown has begun; the socket closes with `session`.
    if (state_->Register(session.get(), session)) session->Start();
    Accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  // On acceptor_'s strand: the pause after a failed accept, and the
  // failures since the last accepted connection.
  asio::steady_timer retry_timer_;
  uint64_t failed_accepts_ = 0;
  beast::error_code first_error_;
  const std::shared_ptr<internal::ServerState> state_;
};

HttpResponse JsonError(int status, absl::string_view code,
                       absl::string_view message) {
  return HttpResponse{
      status, "application/json",
      absl::StrCat("{\"status\":", status, ",\"code\":\"", JsonEscape(code),
                   "\",\"message\":\"", JsonEscape(message), "\"}\n")};
}

HttpServer::HttpServer(asio::io_context& ioc, Handler handler,
                       HttpServerOptions options,
                       std::shared_ptr<WsHandler> ws_handler)
    : HttpServer(ioc,
                 AsyncHandler([handler = std::move(handler)](
                                  HttpRequest request, HttpRespond respond) {
                   respond(handler(request));
                 }),
                 std::move(options), std::move(ws_handler)) {}

HttpServer::HttpServer(asio::io_context& ioc, AsyncHandler handler,
                       HttpServerOptions options,
                       std::shared_ptr<WsHandler> ws_handler)
    : ioc_(ioc),
      state_(std::make_shared<internal::ServerState>(
          ioc, std::move(handler), std::move(options), std::move(ws_handler))) {
}

HttpServer::~HttpServer() {
  state_->ClearOnDone();
  Stop();
}

absl::StatusOr<uint16_t> HttpServer::Listen(absl::string_view address,
                                            uint16_t port) {
  beast::error_code ec;
  auto ip = asio::ip::make_address(std::string(address), ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen: bad address '", address, "': ", ec.message()));
  }
  auto listener = std::make_shared<Listener>(ioc_, state_);
  auto bound = listener->Open(tcp::endpoint(ip, port));
  if (!bound.ok()) return bound.status();
  listener->Accept();
  std::shared_ptr<Listener> old;
  {
    absl::MutexLock lock(&mu_);
    old = std::exchange(listener_, std::move(listener));
  }
  if (old) old->Stop();
  return bound;
}

void HttpServer::Stop() {
  std::shared_ptr<Listener> listener;
  {
    absl::MutexLock lock(&mu_);
    listener = std::move(listener_);
  }
  if (listener) listener->Stop();
}

void HttpServer::Shutdown(uint16_t close_code, std::chrono::milliseconds grace,
                          std::function<void()> on_done) {
  Stop();
  state_->BeginShutdown(close_code, grace, std::move(on_done));
}

const NetStats& HttpServer::stats() const { return state_->stats(); }

}  // namespace lattice::net
