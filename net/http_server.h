// A small asynchronous HTTP/1.1 server on Boost.Beast, for health checks,
// metrics and the backend API.
//
//   boost::asio::io_context ioc;
//   net::HttpServer server(ioc, [](const net::HttpRequest& req) {
//     return net::HttpResponse{200, "text/plain", "ok\n"};
//   });
//   auto port = server.Listen("127.0.0.1", 0);   // StatusOr<uint16_t>
//   ioc.run();
//
// Threading: every connection runs on its own strand of the io_context; the
// handler is called on that strand and may run concurrently for different
// connections, so it must be thread-safe. Listen and Stop may be called from
// any thread.
//
// Limits: request bodies above `max_body_bytes` are refused with 413; a
// request must arrive within `request_timeout`; both answer with a JSON body.
#ifndef LATTICE_NET_HTTP_SERVER_H_
#define LATTICE_NET_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

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

// Returns a JSON error body {"status":..,"code":..,"message":..}.
HttpResponse JsonError(int status, absl::string_view code,
                       absl::string_view message);

struct HttpServerOptions {
  // Largest request body accepted. Default: 1 MiB.
  uint64_t max_body_bytes = 1 << 20;
  // Time allowed to receive one whole request. Default: 10 s.
  std::chrono::milliseconds request_timeout{10'000};
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest&)>;

  // `ioc` must outlive the server.
  HttpServer(boost::asio::io_context& ioc, Handler handler,
             HttpServerOptions options = {});
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

 private:
  class Listener;
  boost::asio::io_context& ioc_;
  std::shared_ptr<const Handler> handler_;
  HttpServerOptions options_;
  std::shared_ptr<Listener> listener_;
};

}  // namespace lattice::net

#endif  // LATTICE_NET_HTTP_SERVER_H_
