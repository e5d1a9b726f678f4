#include "tests/testing/http_test_client.h"

#include <chrono>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "absl/strings/str_cat.h"

namespace lattice::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

absl::StatusOr<HttpResult> HttpCall(
    uint16_t port, absl::string_view method, absl::string_view target,
    absl::string_view body,
    const std::vector<std::pair<std::string, std::string>>& headers,
    absl::Duration timeout) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.expires_after(
      std::chrono::microseconds(absl::ToInt64Microseconds(timeout)));
  http::request<http::string_body> req;
  req.method_string(beast::string_view(method.data(), method.size()));
  req.target(beast::string_view(target.data(), target.size()));
  req.version(11);
  req.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) req.set(name, value);
  req.body() = std::string(body);
  req.prepare_payload();
  http::response<http::string_body> res;
  beast::flat_buffer buffer;
  beast::error_code result = asio::error::timed_out;
  stream.async_connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
      [&](beast::error_code connected) {
        if (connected) {
          result = connected;
          return;
        }
        http::async_write(stream, req, [&](beast::error_code written, size_t) {
          if (written) {
            result = written;
            return;
          }
          http::async_read(
              stream, buffer, res,
              [&](beast::error_code read, size_t) { result = read; });
        });
      });
  ioc.run();
  if (result) {
    return absl::UnavailableError(
        absl::StrCat(method, " ", target, ": ", result.message()));
  }
  HttpResult out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  out.body = std::move(res.body());
  return out;
}

}  // namespace lattice::testing
