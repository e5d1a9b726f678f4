#include "net/http_server.h"

#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using ::testing::HasSubstr;

// A real server on 127.0.0.1 with an ephemeral port, driven by a synchronous
// Beast client on the test thread.
class HttpServerTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = {}) {
    server_ = std::make_unique<HttpServer>(
        ioc_,
        [](const HttpRequest& req) -> HttpResponse {
          if (req.target == "/throw") throw std::runtime_error("boom");
          return {200, "text/plain",
                  req.method + " " + req.target + " " + req.body};
        },
        options);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    thread_ = std::thread([this] { ioc_.run(); });
  }
  // An asynchronous handler that answers from another thread after a
  // while, twice (the second answer must be ignored).
  void StartAsync() {
    server_ = std::make_unique<HttpServer>(
        ioc_,
        HttpServer::AsyncHandler([this](HttpRequest req, HttpRespond respond) {
          std::lock_guard<std::mutex> lock(mu_);
          answerers_.emplace_back([req = std::move(req), respond] {
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
            respond({200, "text/plain", "late " + req.target});
            respond({500, "text/plain", "again"});
          });
        }));
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_TRUE(port.ok()) << port.status();
    port_ = *port;
    thread_ = std::thread([this] { ioc_.run(); });
  }
  void TearDown() override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (std::thread& t : answerers_) t.join();
    }
    server_->Stop();
    ioc_.stop();
    thread_.join();
  }

  http::response<http::string_body> Send(http::verb verb, std::string target,
                                         std::string body = "") {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(
        asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
    http::request<http::string_body> req(verb, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.body() = std::move(body);
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res;
  }

  asio::io_context ioc_;
  std::unique_ptr<HttpServer> server_;
  std::thread thread_;
  uint16_t port_ = 0;
  std::mutex mu_;
  std::vector<std::thread> answerers_;
};

TEST_F(HttpServerTest, RoutesRequestToHandler) {
  Start();
  auto res = Send(http::verb::post, "/rooms/a?x=1", "payload");
  EXPECT_EQ(res.result_int(), 200u);
  EXPECT_EQ(res.body(), "POST /rooms/a?x=1 payload");
}

TEST_F(HttpServerTest, OversizeBodyGetsJson413) {
  HttpServerOptions options;
  options.max_body_bytes = 16;
  Start(options);
  auto res = Send(http::verb::post, "/x", std::string(100, 'a'));
  EXPECT_EQ(res.result_int(), 413u);
  EXPECT_THAT(res.body(), HasSubstr("\"code\":\"body_too_large\""));
  // The server keeps serving.
  EXPECT_EQ(Send(http::verb::get, "/ok").result_int(), 200u);
}

TEST_F(HttpServerTest, ThrowingHandlerGetsJson500AndServerCarriesOn) {
  Start();
  auto res = Send(http::verb::get, "/throw");
  EXPECT_EQ(res.result_int(), 500u);
  EXPECT_THAT(res.body(), HasSubstr("\"code\":\"internal\""));
  EXPECT_EQ(Send(http::verb::get, "/ok").result_int(), 200u);
}

// Out of descriptors, the listener pauses for 100 ms after a failed accept
// instead of retrying at once (which spins a core and floods the log), and
// accepts again once descriptors are free.
//
// Not in sanitizer builds: UBSan's vptr check opens a pipe the first time it
// meets a type, so with no descriptor left any shared_ptr copy in the server
// is reported as a bad vptr.
#ifndef __SANITIZE_ADDRESS__
TEST_F(HttpServerTest, AcceptPausesWhenOutOfDescriptors) {
  Start();
  asio::io_context ioc;
  std::vector<std::unique_ptr<asio::ip::tcp::socket>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<asio::ip::tcp::socket>(ioc));
    clients.back()->open(asio::ip::tcp::v4());
  }
  rlimit old;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &old), 0);
  // Below the descriptors already open (the listener, the clients): no new
  // one can be made, so every accept fails. (Not one may succeed: a session
  // accepted under the limit would fail elsewhere, e.g. in UBSan's checks,
  // which need a pipe.)
  rlimit low = old;
  low.rlim_cur = 3;
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
  const asio::ip::tcp::endpoint server(asio::ip::make_address("127.0.0.1"),
                                       port_);
  for (auto& c : clients) c->connect(server);  // queued in the backlog
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  const uint64_t errors = server_->stats().accept_errors.load();
  ASSERT_EQ(setrlimit(RLIMIT_NOFILE, &old), 0);
  EXPECT_GE(errors, 1u);
  EXPECT_LE(errors, 10u);  // about one per 100 ms, not thousands
  clients.clear();
  EXPECT_EQ(Send(http::verb::get, "/ok").result_int(), 200u);
}
#endif  // __SANITIZE_ADDRESS__
TEST_F(HttpServerTest, AsyncHandlerAnswersLaterAndOnlyOnce) {
  StartAsync();
  // Two requests on one keep-alive connection: a second answer to the
  // first would arrive in place of the answer to the second.
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
  beast::flat_buffer buffer;
  for (const std::string target : {"/a", "/b"}) {
    http::request<http::string_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    http::write(stream, req);
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    EXPECT_EQ(res.result_int(), 200u);
    EXPECT_EQ(res.body(), "late " + target);
  }
}

TEST(HttpServer, BadListenAddressIsInvalidArgument) {
  asio::io_context ioc;
  HttpServer server(ioc, [](const HttpRequest&) { return HttpResponse{}; });
  EXPECT_THAT(server.Listen("not-an-ip", 0),
              lattice::testing::StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("bad address")));
}

TEST(JsonError, EscapesMessage) {
  auto r = JsonError(400, "bad", "quote \" and\nnewline");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(r.body,
            "{\"status\":400,\"code\":\"bad\",\"message\":\"quote \\\" "
            "and\\nnewline\"}\n");
}

}  // namespace
}  // namespace lattice::net
