#include "net/http_server.h"

#include <memory>
#include <optional>
#include <utility>

#include <boost/asio/dispatch.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "base/logging.h"

#include "absl/strings/str_cat.h"

namespace lattice::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
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
// Every handler runs on the session's strand (the socket's executor).
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket,
          std::shared_ptr<const HttpServer::Handler> handler,
          const HttpServerOptions& options)
      : stream_(std::move(socket)),
        handler_(std::move(handler)),
        options_(options) {}

  void Start() {
    asio::dispatch(
        stream_.get_executor(),
        beast::bind_front_handler(&Session::Read, shared_from_this()));
  }

 private:
  void Read() {
    parser_.emplace();
    parser_->body_limit(options_.max_body_bytes);
    stream_.expires_after(options_.request_timeout);
    http::async_read(
        stream_, buffer_, *parser_,
        beast::bind_front_handler(&Session::OnRead, shared_from_this()));
  }

  void OnRead(beast::error_code ec, std::size_t) {
    if (ec == http::error::end_of_stream) return Close();
    if (ec == http::error::body_limit) {
      return Reply(JsonError(413, "body_too_large",
                             absl::StrCat("request body exceeds ",
                                          options_.max_body_bytes, " bytes")),
                   false);
    }
    if (ec == beast::error::timeout) return Close();
    if (ec) {
      // A malformed request: answer once, then close.
      return Reply(JsonError(400, "bad_request", ec.message()), false);
    }
    auto& req = parser_->get();
    HttpRequest request{std::string(req.method_string()),
                        std::string(req.target()), std::move(req.body()),
                        std::string(req[http::field::authorization])};
    HttpResponse response;
    try {
      response = (*handler_)(request);
    } catch (const std::exception& e) {
      LATTICE_LOG(kError) << "http handler threw: " << e.what();
      response = JsonError(500, "internal", "internal error");
    }
    Reply(std::move(response), req.keep_alive());
  }

  void Reply(HttpResponse r, bool keep_alive) {
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(r.status), 11);
    res->set(http::field::server, "lattice");
    res->set(http::field::content_type, r.content_type);
    res->keep_alive(keep_alive);
    res->body() = std::move(r.body);
    res->prepare_payload();
    http::async_write(
        stream_, *res,
        [self = shared_from_this(), res](beast::error_code ec, std::size_t) {
          if (ec || !res->keep_alive()) return self->Close();
          self->Read();
        });
  }

  void Close() {
    beast::error_code ec;
    stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  std::shared_ptr<const HttpServer::Handler> handler_;
  HttpServerOptions options_;
};

}  // namespace

class HttpServer::Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(asio::io_context& ioc, std::shared_ptr<const Handler> handler,
           const HttpServerOptions& options)
      : ioc_(ioc),
        acceptor_(asio::make_strand(ioc)),
        handler_(std::move(handler)),
        options_(options) {}

  absl::StatusOr<uint16_t> Open(const tcp::endpoint& endpoint) {
    beast::error_code ec;
    acceptor_.open(endpoint.protocol(), ec);
    if (!ec) acceptor_.set_option(asio::socket_base::reuse_address(true), ec);
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
    acceptor_.async_accept(
        asio::make_strand(ioc_),
        beast::bind_front_handler(&Listener::OnAccept, shared_from_this()));
  }

  void Stop() {
    asio::post(acceptor_.get_executor(), [self = shared_from_this()] {
      beast::error_code ec;
      self->acceptor_.close(ec);
    });
  }

 private:
  void OnAccept(beast::error_code ec, tcp::socket socket) {
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) return;
    if (!ec) {
      std::make_shared<Session>(std::move(socket), handler_, options_)->Start();
    } else {
      LATTICE_LOG(kWarning) << "http accept: " << ec.message();
    }
    Accept();
  }

  asio::io_context& ioc_;
  tcp::acceptor acceptor_;
  std::shared_ptr<const Handler> handler_;
  HttpServerOptions options_;
};

HttpResponse JsonError(int status, absl::string_view code,
                       absl::string_view message) {
  return HttpResponse{
      status, "application/json",
      absl::StrCat("{\"status\":", status, ",\"code\":\"", JsonEscape(code),
                   "\",\"message\":\"", JsonEscape(message), "\"}\n")};
}

HttpServer::HttpServer(asio::io_context& ioc, Handler handler,
                       HttpServerOptions options)
    : ioc_(ioc),
      handler_(std::make_shared<const Handler>(std::move(handler))),
      options_(options) {}

HttpServer::~HttpServer() { Stop(); }

absl::StatusOr<uint16_t> HttpServer::Listen(absl::string_view address,
                                            uint16_t port) {
  beast::error_code ec;
  auto ip = asio::ip::make_address(std::string(address), ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen: bad address '", address, "': ", ec.message()));
  }
  auto listener = std::make_shared<Listener>(ioc_, handler_, options_);
  auto bound = listener->Open(tcp::endpoint(ip, port));
  if (!bound.ok()) return bound.status();
  listener->Accept();
  listener_ = std::move(listener);
  return bound;
}

void HttpServer::Stop() {
  if (listener_) listener_->Stop();
  listener_.reset();
}

}  // namespace lattice::net
