#include "net/websocket.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <sys/socket.h>
#include <sys/time.h>
#include <thread>
#include <tuple>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "net/http_server.h"
#include "net/internal/server_state.h"
#include "net/websocket_client.h"
#include "tests/net/client_frames.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/ws_test_client.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Oracle: a real HttpServer with a WsHandler on 127.0.0.1 (port 0), run by two
// I/O threads, talked to over real sockets by WsTestClient (blocking, reads
// only when asked), WsClient and raw TCP/HTTP clients. Every wait is bounded;
// nothing sleeps to synchronise.

namespace lattice::net {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using ::lattice::testing::IsOk;
using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::lattice::testing::WsTestClient;
using ::testing::HasSubstr;
using namespace std::chrono_literals;

constexpr absl::Duration kWait = absl::Seconds(10);

std::shared_ptr<const std::string> Shared(std::string s) {
  return std::make_shared<const std::string>(std::move(s));
}

constexpr uint64_t kBatchBytes = 1024;

// 200 short messages with one of 3,000 bytes (above kBatchBytes) among them.
std::vector<std::string> BurstMessages() {
  std::vector<std::string> messages;
  for (int i = 0; i < 200; ++i) {
    messages.push_back(i == 100 ? std::string(3000, 'x')
                                : absl::StrCat("m", i, ";"));
  }
  return messages;
}

// Records every event; echoes binary messages back, except a few commands.
class RecordingHandler : public WsHandler {
 public:
  struct Closed {
    uint64_t id;
    uint16_t code;
    std::string reason;
  };

  void OnOpen(const std::shared_ptr<WsConnection>& conn) override {
    std::lock_guard<std::mutex> lock(mu_);
    opened_.push_back(conn);
    cv_.notify_all();
  }

  void OnMessage(const std::shared_ptr<WsConnection>& conn,
                 std::string message) override {
    if (message == "close-me") {
      conn->Send(Shared("a"));
      conn->Send(Shared("b"));
      conn->Close(4000, "bye");
    } else if (message == "burst") {
      // Queued on the strand before the first write completes, so all but
      // the first message wait behind it.
      conn->EnableBatching(kBatchBytes);
      for (const std::string& m : BurstMessages()) conn->Send(Shared(m));
    } else if (message == "throw") {
      throw std::runtime_error("handler failure");
    } else if (echo_) {
      conn->Send(Shared(message));
    }
    std::lock_guard<std::mutex> lock(mu_);
    ++messages_;
    cv_.notify_all();
  }

  void OnClose(const std::shared_ptr<WsConnection>& conn, uint16_t code,
               std::string reason) override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_.push_back({conn->id(), code, std::move(reason)});
    cv_.notify_all();
  }

  // Waits until `pred` (called under the lock) holds.
  template <typename Pred>
  bool WaitFor(Pred pred, std::chrono::milliseconds timeout = 10s) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, pred);
  }
  bool WaitOpened(size_t n) {
    return WaitFor([&] { return opened_.size() >= n; });
  }
  bool WaitClosed(size_t n) {
    return WaitFor([&] { return closed_.size() >= n; });
  }

  std::vector<std::shared_ptr<WsConnection>> opened() {
    std::lock_guard<std::mutex> lock(mu_);
    return opened_;
  }
  std::vector<Closed> closed() {
    std::lock_guard<std::mutex> lock(mu_);
    return closed_;
  }
  void set_echo(bool echo) { echo_ = echo; }

 private:
  std::atomic<bool> echo_{true};
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::shared_ptr<WsConnection>> opened_;
  std::vector<Closed> closed_;
  size_t messages_ = 0;
};

// A plain TCP connection driven with bounded waits.
class RawClient {
 public:
  explicit RawClient(uint16_t port) : stream_(ioc_) {
    beast::error_code ec;
    stream_.socket().connect(
        tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), ec);
    connected_ = !ec;
  }
  bool connected() const { return connected_; }

  // Sends a keep-alive GET and returns the response (nullopt on timeout).
  std::optional<http::response<http::string_body>> Get(std::string target) {
    http::request<http::string_body> req(http::verb::get, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.keep_alive(true);
    beast::error_code ec;
    http::write(stream_.socket(), req, ec);
    if (ec) return std::nullopt;
    http::response<http::string_body> res;
    bool done = false;
    http::async_read(stream_, buffer_, res,
                     [&](beast::error_code e, std::size_t) {
                       ec = e;
                       done = true;
                     });
    if (!RunUntil(done, 10s) || ec) return std::nullopt;
    return res;
  }

  // Returns true when the server closes the connection within `timeout`.
  bool WaitClosedByServer(std::chrono::milliseconds timeout) {
    bool done = false;
    std::function<void()> read = [&] {
      stream_.socket().async_read_some(
          buffer_.prepare(4096), [&](beast::error_code ec, std::size_t n) {
            buffer_.commit(n);
            if (ec) {
              done = true;
            } else {
              read();
            }
          });
    };
    read();
    const bool closed = RunUntil(done, timeout);
    if (!closed) {
      stream_.close();
      RunUntil(done, 1000ms);
    }
    return closed;
  }

 private:
  bool RunUntil(const bool& done, std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!done) {
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      if (ioc_.stopped()) ioc_.restart();
      ioc_.run_one_for(deadline - now);
    }
    return true;
  }

  asio::io_context ioc_;
  beast::tcp_stream stream_;
  beast::flat_buffer buffer_;
  bool connected_ = false;
};

// A WebSocket client that writes frames byte by byte (client_frames.h) over
// a blocking socket whose reads time out, to send what no client library
// would. Reads server frames one at a time.
class RawWsClient {
 public:
  struct Frame {
    uint8_t opcode = 0;
    std::string payload;
  };

  explicit RawWsClient(uint16_t port) : socket_(ioc_) {
    beast::error_code ec;
    socket_.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                    ec);
    if (ec) return;
    const timeval timeout{10, 0};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
               sizeof(timeout));
    Write(
        "GET /raw HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n");
    // The 101 response ends with an empty line; frames follow it.
    while (in_.find("\r\n\r\n") == std::string::npos) {
      if (!ReadMore()) return;
    }
    const size_t end = in_.find("\r\n\r\n") + 4;
    upgraded_ = in_.rfind("HTTP/1.1 101", 0) == 0;
    in_.erase(0, end);
  }
  bool upgraded() const { return upgraded_; }

  void Write(absl::string_view bytes) {
    beast::error_code ec;
    asio::write(socket_, asio::buffer(bytes.data(), bytes.size()), ec);
  }

  // The next frame from the server; nullopt at the end of the stream or
  // after 10 s.
  std::optional<Frame> ReadFrame() {
    while (true) {
      if (in_.size() >= 2) {
        const uint8_t len7 = static_cast<uint8_t>(in_[1]) & 0x7F;
        size_t header = 2;
        uint64_t len = len7;
        if (len7 >= 126 && in_.size() >= (len7 == 126 ? 4u : 10u)) {
          header = len7 == 126 ? 4 : 10;
          len = 0;
          for (size_t i = 2; i < header; ++i) {
            len = (len << 8) | static_cast<uint8_t>(in_[i]);
          }
        }
        if (len7 < 126 || header > 2) {
          if (in_.size() >= header + len) {
            Frame f{static_cast<uint8_t>(in_[0] & 0x0F),
                    in_.substr(header, len)};
            in_.erase(0, header + len);
            return f;
          }
        }
      }
      if (!ReadMore()) return std::nullopt;
    }
  }

  // True when the server ends the stream (after any frames) within 10 s.
  // Then closes this side, as a client does once the server has (RFC 6455
  // 7.1.1); the server reports the close only after that.
  bool ReadsToEnd() {
    while (ReadMore()) {
    }
    beast::error_code ignored;
    socket_.close(ignored);
    return eof_;
  }

 private:
  bool ReadMore() {
    char buf[4096];
    beast::error_code ec;
    const size_t n = socket_.read_some(asio::buffer(buf), ec);
    if (ec) {
      eof_ = ec == asio::error::eof;
      return false;
    }
    in_.append(buf, n);
    return true;
  }

  asio::io_context ioc_;
  tcp::socket socket_;
  std::string in_;
  bool upgraded_ = false;
  bool eof_ = false;
};

class WebSocketTest : public ::testing::Test {
 protected:
  void Start(HttpServerOptions options = {}, bool with_ws = true) {
    handler_ = std::make_shared<RecordingHandler>();
    server_ = std::make_unique<HttpServer>(
        ioc_,
        [](const HttpRequest& req) -> HttpResponse {
          if (req.target == "/healthz") {
            return {200, "application/json", "{\"status\":\"ok\"}"};
          }
          return JsonError(404, "not_found", req.target);
        },
        options, with_ws ? handler_ : nullptr);
    auto port = server_->Listen("127.0.0.1", 0);
    ASSERT_THAT(port, IsOk());
    port_ = *port;
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { ioc_.run(); });
  }

  void TearDown() override {
    if (server_) {
      // Clients are gone by now; a graceful shutdown must finish promptly.
      EXPECT_TRUE(ShutdownAndWait(1001, 2s));
    }
    ioc_.stop();
    for (auto& t : threads_) t.join();
    server_.reset();
  }

  // Calls Shutdown and waits (bounded) for its on_done.
  bool ShutdownAndWait(uint16_t code, std::chrono::milliseconds grace) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    server_->Shutdown(code, grace, [done] { done->set_value(); });
    return future.wait_for(grace + 10s) == std::future_status::ready;
  }

  WsTestClient::Options ClientOptions() { return {}; }

  asio::io_context ioc_;
  std::shared_ptr<RecordingHandler> handler_;
  std::unique_ptr<HttpServer> server_;
  std::vector<std::thread> threads_;
  uint16_t port_ = 0;
};

TEST_F(WebSocketTest, EchoesBinaryMessages) {
  Start();
  WsTestClient client;
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  EXPECT_EQ(client.handshake_status(), 101);
  const std::string binary("\0\x01\xff bytes", 9);
  // Past the server's first read of 256 bytes, and past one 4 KiB fragment
  // of the client's.
  const std::string longer(300, 'a');
  const std::string fragmented(5000, 'b');
  for (const std::string& m :
       {std::string("hello"), binary, std::string(), longer, fragmented}) {
    ASSERT_THAT(client.Send(m), IsOk());
    EXPECT_THAT(client.Receive(kWait), IsOkAndHolds(m));
  }
  ASSERT_TRUE(handler_->WaitOpened(1));
  auto conn = handler_->opened()[0];
  EXPECT_EQ(conn->id(), 1u);
  EXPECT_EQ(conn->remote_ip(), "127.0.0.1");
  EXPECT_EQ(conn->target(), "/");

  EXPECT_THAT(client.Close(1000, "done"), IsOk());
  EXPECT_EQ(client.closed_code(), 1000);
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 1000);
  EXPECT_EQ(handler_->closed()[0].reason, "done");

  const NetStats& stats = server_->stats();
  EXPECT_EQ(stats.ws_total.load(), 1u);
  EXPECT_EQ(stats.ws_open.load(), 0u);
  const uint64_t bytes = 5 + binary.size() + longer.size() + fragmented.size();
  EXPECT_EQ(stats.ws_messages_in.load(), 5u);
  EXPECT_EQ(stats.ws_bytes_in.load(), bytes);
  EXPECT_EQ(stats.ws_messages_out.load(), 5u);
  EXPECT_EQ(stats.ws_bytes_out.load(), bytes);
  EXPECT_EQ(stats.ws_close_normal.load(), 1u);
}

TEST_F(WebSocketTest, UpgradeTargetIsReported) {
  Start();
  WsTestClient::Options options;
  options.target = "/v1/ws?room=a";
  WsTestClient client(options);
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  ASSERT_TRUE(handler_->WaitOpened(1));
  EXPECT_EQ(handler_->opened()[0]->target(), "/v1/ws?room=a");
}

TEST_F(WebSocketTest, MessageAtLimitIsAcceptedAndLargerClosesWith1009) {
  HttpServerOptions options;
  options.websocket.max_message_bytes = 64 * 1024;
  Start(options);
  WsTestClient client;
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  const std::string at_limit(64 * 1024, 'x');
  ASSERT_THAT(client.Send(at_limit), IsOk());
  EXPECT_THAT(client.Receive(kWait), IsOkAndHolds(at_limit));

  ASSERT_THAT(client.Send(std::string(64 * 1024 + 1, 'y')), IsOk());
  EXPECT_EQ(client.WaitClosed(kWait), 1009);
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 1009);
  EXPECT_EQ(server_->stats().ws_close_too_big.load(), 1u);
}

// The server negotiates no extension: a client that offers
// permessage-deflate gets plain frames (a compressed frame would fail the
// connection with 1002, reserved bit set).
TEST_F(WebSocketTest, PermessageDeflateOfferIsDeclined) {
  Start();
  WsTestClient::Options client_options;
  client_options.permessage_deflate = true;
  WsTestClient client(client_options);
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  const std::string compressible(64 * 1024, 'z');
  ASSERT_THAT(client.Send(compressible), IsOk());
  EXPECT_THAT(client.Receive(kWait), IsOkAndHolds(compressible));
  EXPECT_EQ(server_->stats().ws_bytes_in.load(), compressible.size());
}

TEST_F(WebSocketTest, TextMessageClosesWith1003) {
  Start();
  WsTestClient client;
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  ASSERT_THAT(client.SendText("{\"json\":true}"), IsOk());
  EXPECT_EQ(client.WaitClosed(kWait), 1003);
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 1003);
  EXPECT_EQ(server_->stats().ws_messages_in.load(), 0u);
}

TEST_F(WebSocketTest, FragmentsAndControlFramesByHand) {
  using ::lattice::net::testing::ClientFrame;
  Start();
  RawWsClient client(port_);
  ASSERT_TRUE(client.upgraded());
  // A message in three fragments with a ping between them: the ping is
  // answered at once, the message delivered whole (and echoed).
  client.Write(ClientFrame("frag", {.fin = false}) +
               ClientFrame("ping!", {.opcode = 0x9}) +
               ClientFrame("ment", {.fin = false, .opcode = 0x0}) +
               ClientFrame("ed", {.opcode = 0x0}));
  auto pong = client.ReadFrame();
  ASSERT_TRUE(pong.has_value());
  EXPECT_EQ(pong->opcode, 0xA);
  EXPECT_EQ(pong->payload, "ping!");
  auto echo = client.ReadFrame();
  ASSERT_TRUE(echo.has_value());
  EXPECT_EQ(echo->opcode, 0x2);
  EXPECT_EQ(echo->payload, "fragmented");
  // A close without a code is answered with one without a code.
  client.Write(ClientFrame("", {.opcode = 0x8}));
  auto close = client.ReadFrame();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, 0x8);
  EXPECT_EQ(close->payload, "");
  EXPECT_TRUE(client.ReadsToEnd());
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, kCloseNoStatus);
}

TEST_F(WebSocketTest, ProtocolErrorClosesWith1002AndOthersCarryOn) {
  using ::lattice::net::testing::ClientFrame;
  Start();
  WsTestClient good;
  ASSERT_THAT(good.Connect("127.0.0.1", port_), IsOk());
  RawWsClient bad(port_);
  ASSERT_TRUE(bad.upgraded());
  // An unmasked frame, then bytes the server must not act on.
  bad.Write(ClientFrame("x", {.masked = false}) + ClientFrame("after"));
  auto close = bad.ReadFrame();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->opcode, 0x8);
  EXPECT_EQ(close->payload.substr(0, 2), std::string("\x03\xea", 2));  // 1002
  EXPECT_TRUE(bad.ReadsToEnd());
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, kCloseProtocolError);
  EXPECT_EQ(handler_->closed()[0].reason, "unmasked client frame");
  EXPECT_EQ(server_->stats().ws_messages_in.load(), 0u);
  // The other connection is untouched.
  ASSERT_THAT(good.Send("still here"), IsOk());
  EXPECT_THAT(good.Receive(kWait), IsOkAndHolds("still here"));
}

TEST_F(WebSocketTest, ClientThatNeverEndsTheStreamIsDroppedAfterTheClose) {
  using ::lattice::net::testing::ClientFrame;
  using ::lattice::net::testing::ClosePayload;
  HttpServerOptions options;
  options.websocket.handshake_timeout = 200ms;  // bounds the close as well
  Start(options);
  RawWsClient client(port_);
  ASSERT_TRUE(client.upgraded());
  client.Write(ClientFrame(ClosePayload(4100, "done"), {.opcode = 0x8}));
  auto close = client.ReadFrame();
  ASSERT_TRUE(close.has_value());
  EXPECT_EQ(close->payload, ClosePayload(4100, "done"));
  // The client keeps its socket open: the server ends it at the deadline
  // and reports the client's code.
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 4100);
  EXPECT_EQ(handler_->closed()[0].reason, "done");
}

TEST_F(WebSocketTest, PingsDuringALargeWriteAreAllAnswered) {
  using ::lattice::net::testing::ClientFrame;
  Start();
  RawWsClient client(port_);
  ASSERT_TRUE(client.upgraded());
  // The echo of 512 KiB outgrows the socket buffers while the client does
  // not read, so the pings arrive during that write and queue behind it.
  const std::string big(512 * 1024, 'b');
  std::string input = ClientFrame(big);
  for (int i = 0; i < 5; ++i) {
    input += ClientFrame(absl::StrCat("p", i, std::string(100, '.')),
                         {.opcode = 0x9});
  }
  client.Write(input);
  std::vector<std::string> pongs;
  bool echoed = false;
  while (pongs.size() < 5 || !echoed) {
    auto frame = client.ReadFrame();
    ASSERT_TRUE(frame.has_value());
    if (frame->opcode == 0xA) {
      pongs.push_back(frame->payload);
    } else {
      EXPECT_EQ(frame->opcode, 0x2);
      EXPECT_EQ(frame->payload, big);
      echoed = true;
    }
  }
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(pongs[i], absl::StrCat("p", i, std::string(100, '.')));
  }
}

TEST_F(WebSocketTest, ManyMessagesArriveInOrder) {
  Start();
  WsTestClient client;
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  constexpr int kCount = 2000;
  for (int i = 0; i < kCount; ++i) {
    ASSERT_THAT(client.Send("m" + std::to_string(i)), IsOk());
  }
  for (int i = 0; i < kCount; ++i) {
    ASSERT_THAT(client.Receive(kWait), IsOkAndHolds("m" + std::to_string(i)));
  }
}

TEST_F(WebSocketTest, BatchingJoinsQueuedMessagesInOrder) {
  Start();
  WsTestClient client;
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  ASSERT_THAT(client.Send("burst"), IsOk());
  std::string expected;
  for (const std::string& m : BurstMessages()) expected += m;
  std::string received;
  int messages = 0;
  bool big_alone = false;
  while (received.size() < expected.size()) {
    absl::StatusOr<std::string> m = client.Receive(kWait);
    ASSERT_THAT(m, IsOk());
    ++messages;
    if (m->size() > kBatchBytes) {
      big_alone = *m == std::string(3000, 'x');
    }
    received += *m;
  }
  EXPECT_EQ(received, expected);
  EXPECT_TRUE(big_alone) << "a message above the batch limit goes alone";
  // 199 short messages of ~5 bytes fit in a handful of 1 KiB batches.
  EXPECT_LT(messages, 20);
  // OnClose runs on the strand after the last write's completion.
  ASSERT_THAT(client.Close(1000, "done"), IsOk());
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(server_->stats().ws_messages_out.load(), 200u);
  EXPECT_EQ(server_->stats().ws_writes.load(), static_cast<uint64_t>(messages));
}

TEST_F(WebSocketTest, BroadcastSharesOneBuffer) {
  Start();
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<WsTestClient>());
    ASSERT_THAT(clients.back()->Connect("127.0.0.1", port_), IsOk());
  }
  ASSERT_TRUE(handler_->WaitOpened(3));
  auto message = Shared("broadcast");
  for (const auto& conn : handler_->opened()) conn->Send(message);
  for (auto& client : clients) {
    EXPECT_THAT(client->Receive(kWait), IsOkAndHolds("broadcast"));
  }
  std::set<uint64_t> ids;
  for (const auto& conn : handler_->opened()) ids.insert(conn->id());
  EXPECT_EQ(ids.size(), 3u);
}

TEST_F(WebSocketTest, ServerCloseComesAfterQueuedMessages) {
  Start();
  WsTestClient client;
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  ASSERT_THAT(client.Send("close-me"), IsOk());
  EXPECT_THAT(client.Receive(kWait), IsOkAndHolds("a"));
  EXPECT_THAT(client.Receive(kWait), IsOkAndHolds("b"));
  EXPECT_EQ(client.WaitClosed(kWait), 4000);
  EXPECT_EQ(client.close_reason(), "bye");
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 4000);
}

TEST_F(WebSocketTest, ThrowingHandlerClosesWith1011) {
  Start();
  WsTestClient client;
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  ASSERT_THAT(client.Send("throw"), IsOk());
  EXPECT_EQ(client.WaitClosed(kWait), 1011);
}

TEST_F(WebSocketTest, SlowConsumerIsClosedWithOverflowCode) {
  constexpr uint64_t kLimit = 256 * 1024;
  HttpServerOptions options;
  options.websocket.max_send_queue_bytes = kLimit;
  Start(options);
  WsTestClient client;  // never reads until the end
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  ASSERT_TRUE(handler_->WaitOpened(1));
  auto conn = handler_->opened()[0];

  // The producer sends while the queue has room. The socket buffers absorb
  // a few MiB; once the queue has made no progress for a while the consumer
  // has stalled, and one more message overflows the queue.
  auto chunk = Shared(std::string(64 * 1024, 'q'));
  const auto has_room = [&] {
    return conn->queued_bytes() + chunk->size() <= kLimit;
  };
  uint64_t max_queued = 0;
  int sent = 0;
  while (server_->stats().ws_send_overflows.load() == 0 && sent < 100000) {
    if (!has_room()) {
      const auto deadline = std::chrono::steady_clock::now() + 500ms;
      while (!has_room() && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(1ms);  // polling a bounded wait
      }
    }
    conn->Send(chunk);
    ++sent;
    max_queued = std::max(max_queued, conn->queued_bytes());
  }
  ASSERT_EQ(server_->stats().ws_send_overflows.load(), 1u) << sent;
  EXPECT_LE(max_queued, kLimit);
  // It was the stalled reader, not a burst: much more than the queue limit
  // had been written before the overflow.
  EXPECT_GT(server_->stats().ws_bytes_out.load(), 4 * kLimit);

  // The client drains what was written, then sees the overflow close.
  EXPECT_EQ(client.WaitClosed(absl::Seconds(30)), 4002);
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 4002);
  EXPECT_EQ(conn->queued_bytes(), 0u);
  EXPECT_EQ(server_->stats().ws_close_overflow.load(), 1u);
  conn->Send(chunk);  // after the end: dropped
  EXPECT_EQ(conn->queued_bytes(), 0u);
}

TEST_F(WebSocketTest, OriginAllowList) {
  HttpServerOptions options;
  options.websocket.allowed_origins = {"https://app.example"};
  Start(options);

  WsTestClient no_origin;
  EXPECT_THAT(no_origin.Connect("127.0.0.1", port_),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("403")));
  EXPECT_EQ(no_origin.handshake_status(), 403);
  EXPECT_THAT(no_origin.handshake_body(),
              HasSubstr("\"code\":\"origin_not_allowed\""));

  WsTestClient::Options evil_options;
  evil_options.headers = {{"Origin", "https://evil.example"}};
  WsTestClient evil(evil_options);
  EXPECT_THAT(evil.Connect("127.0.0.1", port_),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("403")));

  WsTestClient::Options good_options;
  good_options.headers = {{"Origin", "https://app.example"}};
  WsTestClient good(good_options);
  ASSERT_THAT(good.Connect("127.0.0.1", port_), IsOk());
  ASSERT_THAT(good.Send("hi"), IsOk());
  EXPECT_THAT(good.Receive(kWait), IsOkAndHolds("hi"));
  EXPECT_EQ(server_->stats().ws_refused_origin.load(), 2u);
}

TEST_F(WebSocketTest, PerIpLimitAnswers429) {
  HttpServerOptions options;
  options.websocket.max_connections_per_ip = 2;
  Start(options);
  WsTestClient a, b, c;
  ASSERT_THAT(a.Connect("127.0.0.1", port_), IsOk());
  ASSERT_THAT(b.Connect("127.0.0.1", port_), IsOk());
  EXPECT_THAT(c.Connect("127.0.0.1", port_),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("429")));
  EXPECT_THAT(c.handshake_body(),
              HasSubstr("\"code\":\"too_many_connections\""));
  EXPECT_EQ(server_->stats().ws_refused_ip_limit.load(), 1u);

  // A slot frees when a connection ends.
  ASSERT_THAT(a.Close(), IsOk());
  ASSERT_TRUE(handler_->WaitClosed(1));
  WsTestClient d;
  EXPECT_THAT(d.Connect("127.0.0.1", port_), IsOk());
}

TEST_F(WebSocketTest, TrustedProxyForwardedForIsTheClientIp) {
  HttpServerOptions options;
  options.websocket.trusted_proxies = {"127.0.0.1"};
  options.websocket.max_connections_per_ip = 1;
  Start(options);
  WsTestClient::Options first;
  first.headers = {{"X-Forwarded-For", "203.0.113.9"}};
  WsTestClient a(first);
  ASSERT_THAT(a.Connect("127.0.0.1", port_), IsOk());
  ASSERT_TRUE(handler_->WaitOpened(1));
  EXPECT_EQ(handler_->opened()[0]->remote_ip(), "203.0.113.9");
  // The limit counts the forwarded address, not the proxy.
  WsTestClient::Options second;
  second.headers = {{"X-Forwarded-For", "203.0.113.10"}};
  WsTestClient b(second);
  EXPECT_THAT(b.Connect("127.0.0.1", port_), IsOk());
  WsTestClient c(first);
  EXPECT_THAT(c.Connect("127.0.0.1", port_),
              StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("429")));
}

TEST(ResolveClientIp, WalksForwardedForPastTrustedProxies) {
  using internal::ResolveClientIp;
  const auto ip = [](const char* s) { return asio::ip::make_address(s); };
  const std::vector<std::string> trusted = {"127.0.0.1", "10.0.0.2"};
  // An untrusted peer is the client, whatever it claims.
  EXPECT_EQ(ResolveClientIp(ip("192.0.2.1"), "203.0.113.9", trusted),
            "192.0.2.1");
  EXPECT_EQ(ResolveClientIp(ip("127.0.0.1"), "", trusted), "127.0.0.1");
  EXPECT_EQ(ResolveClientIp(ip("127.0.0.1"), "198.51.100.1, 10.0.0.2", trusted),
            "198.51.100.1");
  // Spoofed entries left of the first untrusted hop are ignored.
  EXPECT_EQ(ResolveClientIp(ip("127.0.0.1"), "1.1.1.1, 198.51.100.1 ,10.0.0.2",
                            trusted),
            "198.51.100.1");
  EXPECT_EQ(ResolveClientIp(ip("127.0.0.1"), "garbage, 10.0.0.2", trusted),
            "10.0.0.2");
  EXPECT_EQ(ResolveClientIp(ip("::ffff:127.0.0.1"), "2001:db8::1", trusted),
            "2001:db8::1");
}

TEST_F(WebSocketTest, HandshakeTimeoutClosesSilentConnection) {
  HttpServerOptions options;
  options.websocket.handshake_timeout = 200ms;
  Start(options);
  RawClient silent(port_);
  ASSERT_TRUE(silent.connected());
  EXPECT_TRUE(silent.WaitClosedByServer(10s));
}

TEST_F(WebSocketTest, IdleTimeoutClosesClientThatNeverAnswersPings) {
  HttpServerOptions options;
  options.websocket.idle_timeout = 400ms;
  Start(options);
  WsTestClient deaf;  // never reads, so never answers a ping
  ASSERT_THAT(deaf.Connect("127.0.0.1", port_), IsOk());
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 1006);
  EXPECT_EQ(deaf.WaitClosed(kWait), 1006);
}

TEST_F(WebSocketTest, PingsKeepAReadingClientAlive) {
  HttpServerOptions options;
  options.websocket.idle_timeout = 400ms;
  Start(options);
  WsTestClient client;
  ASSERT_THAT(client.Connect("127.0.0.1", port_), IsOk());
  // Reading for several idle periods answers the server's pings.
  EXPECT_THAT(client.Receive(absl::Milliseconds(1500)),
              StatusIs(absl::StatusCode::kDeadlineExceeded, HasSubstr("no")));
  EXPECT_EQ(client.closed_code(), std::nullopt);
  ASSERT_THAT(client.Send("still here"), IsOk());
  EXPECT_THAT(client.Receive(kWait), IsOkAndHolds("still here"));
}

TEST_F(WebSocketTest, ShutdownClosesEveryConnection) {
  Start();
  std::vector<std::unique_ptr<WsTestClient>> clients;
  for (int i = 0; i < 3; ++i) {
    clients.push_back(std::make_unique<WsTestClient>());
    ASSERT_THAT(clients.back()->Connect("127.0.0.1", port_), IsOk());
  }
  ASSERT_TRUE(handler_->WaitOpened(3));
  RawClient keep_alive(port_);
  auto res = keep_alive.Get("/healthz");
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 200u);
  EXPECT_EQ(server_->stats().connections_open.load(), 4u);

  auto done = std::make_shared<std::promise<void>>();
  auto future = done->get_future();
  server_->Shutdown(1001, 5s, [done] { done->set_value(); });
  for (auto& client : clients) EXPECT_EQ(client->WaitClosed(kWait), 1001);
  EXPECT_TRUE(keep_alive.WaitClosedByServer(10s));
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  ASSERT_TRUE(handler_->WaitClosed(3));
  for (const auto& closed : handler_->closed()) EXPECT_EQ(closed.code, 1001);
  EXPECT_EQ(server_->stats().connections_open.load(), 0u);
  EXPECT_EQ(server_->stats().ws_close_going_away.load(), 3u);

  WsTestClient late;
  EXPECT_THAT(late.Connect("127.0.0.1", port_), ::testing::Not(IsOk()));
  server_.reset();  // shut down already
}

TEST_F(WebSocketTest, ShutdownDropsClientsThatIgnoreTheCloseAfterGrace) {
  Start();
  WsTestClient deaf;  // never reads, so never answers the close
  ASSERT_THAT(deaf.Connect("127.0.0.1", port_), IsOk());
  ASSERT_TRUE(handler_->WaitOpened(1));
  EXPECT_TRUE(ShutdownAndWait(4001, 300ms));
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 4001);
  server_.reset();
}

// After Shutdown and the server's destruction nothing is left on the
// io_context (no armed Beast timers, no sessions), so run() returns.
TEST(WebSocketShutdown, IoContextRunsOutOfWork) {
  asio::io_context ioc;
  auto handler = std::make_shared<RecordingHandler>();
  auto server = std::make_unique<HttpServer>(
      ioc, [](const HttpRequest&) { return HttpResponse{}; },
      HttpServerOptions{}, handler);
  auto port = server->Listen("127.0.0.1", 0);
  ASSERT_THAT(port, IsOk());
  std::promise<void> finished;
  auto finished_future = finished.get_future();
  std::thread runner([&] {
    ioc.run();
    finished.set_value();
  });

  WsTestClient dropped, closed;
  ASSERT_THAT(dropped.Connect("127.0.0.1", *port), IsOk());
  ASSERT_THAT(closed.Connect("127.0.0.1", *port), IsOk());
  ASSERT_TRUE(handler->WaitOpened(2));
  dropped.Drop();  // ends in failure: Beast's idle timer must be disarmed
  ASSERT_TRUE(handler->WaitClosed(1));
  std::promise<void> done;
  server->Shutdown(1001, 5s, [&] { done.set_value(); });
  EXPECT_EQ(closed.WaitClosed(kWait), 1001);
  EXPECT_EQ(done.get_future().wait_for(10s), std::future_status::ready);
  server.reset();

  const bool ran_out =
      finished_future.wait_for(5s) == std::future_status::ready;
  EXPECT_TRUE(ran_out) << "io_context still has work after shutdown";
  if (!ran_out) ioc.stop();
  runner.join();
}

TEST_F(WebSocketTest, OnCloseIsCalledExactlyOncePerConnection) {
  Start();
  WsTestClient polite, rude;
  ASSERT_THAT(polite.Connect("127.0.0.1", port_), IsOk());
  ASSERT_THAT(rude.Connect("127.0.0.1", port_), IsOk());
  ASSERT_TRUE(handler_->WaitOpened(2));
  ASSERT_THAT(polite.Close(1000), IsOk());
  rude.Drop();
  ASSERT_TRUE(handler_->WaitClosed(2));
  // Let every connection end for sure, then count.
  ASSERT_TRUE(ShutdownAndWait(1001, 2s));
  std::map<uint64_t, std::vector<uint16_t>> codes;
  for (const auto& closed : handler_->closed()) {
    codes[closed.id].push_back(closed.code);
  }
  ASSERT_EQ(codes.size(), 2u);
  std::vector<uint16_t> all;
  for (const auto& [id, list] : codes) {
    EXPECT_EQ(list.size(), 1u) << "connection " << id;
    all.insert(all.end(), list.begin(), list.end());
  }
  EXPECT_THAT(all, ::testing::UnorderedElementsAre(1000, 1006));
  const auto opened = handler_->opened();
  // A handle used after OnClose drops messages.
  opened[0]->Send(Shared("late"));
  opened[0]->Close(1000, "again");
  EXPECT_EQ(opened[0]->queued_bytes(), 0u);
  server_.reset();
}

TEST_F(WebSocketTest, PlainHttpSharesThePort) {
  Start();
  WsTestClient ws;
  ASSERT_THAT(ws.Connect("127.0.0.1", port_), IsOk());
  RawClient http_client(port_);
  auto res = http_client.Get("/healthz");
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 200u);
  EXPECT_EQ(res->body(), "{\"status\":\"ok\"}");
  // Keep-alive: a second request on the same connection.
  res = http_client.Get("/nope");
  ASSERT_TRUE(res.has_value());
  EXPECT_EQ(res->result_int(), 404u);
  ASSERT_THAT(ws.Send("x"), IsOk());
  EXPECT_THAT(ws.Receive(kWait), IsOkAndHolds("x"));
}

TEST_F(WebSocketTest, WithoutWsHandlerAnUpgradeIsPlainHttp) {
  Start({}, /*with_ws=*/false);
  WsTestClient ws;
  EXPECT_THAT(
      ws.Connect("127.0.0.1", port_),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("404")));
}

// WsClient against the server: open, echo, close with the server's answer.
TEST_F(WebSocketTest, WsClientRoundTrip) {
  Start();
  std::promise<absl::Status> opened;
  std::promise<std::string> received;
  std::promise<uint16_t> closed;
  auto client = WsClient::Create(ioc_, {});
  client->set_on_message(
      [&](std::string message) { received.set_value(std::move(message)); });
  client->set_on_close(
      [&](uint16_t code, std::string) { closed.set_value(code); });
  client->Send(Shared("early"));  // queued until the handshake is done
  client->Connect("127.0.0.1", port_, "/v1/ws",
                  [&](absl::Status s) { opened.set_value(s); });
  auto open_future = opened.get_future();
  ASSERT_EQ(open_future.wait_for(10s), std::future_status::ready);
  ASSERT_THAT(open_future.get(), IsOk());
  auto message_future = received.get_future();
  ASSERT_EQ(message_future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(message_future.get(), "early");
  client->Close(1000, "bye");
  auto close_future = closed.get_future();
  ASSERT_EQ(close_future.wait_for(10s), std::future_status::ready);
  EXPECT_EQ(close_future.get(), 1000);
  ASSERT_TRUE(handler_->WaitClosed(1));
  EXPECT_EQ(handler_->closed()[0].code, 1000);
  EXPECT_EQ(handler_->opened()[0]->target(), "/v1/ws");
}

TEST_F(WebSocketTest, WsClientReportsRefusedOrigin) {
  HttpServerOptions options;
  options.websocket.allowed_origins = {"https://app.example"};
  Start(options);
  std::promise<absl::Status> opened;
  WsClientOptions client_options;
  client_options.headers = {{"Origin", "https://other.example"}};
  auto client = WsClient::Create(ioc_, client_options);
  client->Connect("127.0.0.1", port_, "/",
                  [&](absl::Status s) { opened.set_value(s); });
  auto future = opened.get_future();
  ASSERT_EQ(future.wait_for(10s), std::future_status::ready);
  EXPECT_THAT(future.get(), StatusIs(absl::StatusCode::kPermissionDenied,
                                     HasSubstr("HTTP 403")));
}

TEST(WsClient, ReportsConnectionRefusedAsUnavailable) {
  asio::io_context ioc;
  // A port that was just free: bind, read it, close.
  tcp::acceptor probe(ioc,
                      tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = probe.local_endpoint().port();
  probe.close();
  std::optional<absl::Status> result;
  auto client = WsClient::Create(ioc, {});
  client->Connect("127.0.0.1", port, "/",
                  [&](absl::Status s) { result = std::move(s); });
  ioc.run_for(10s);
  ASSERT_TRUE(result.has_value());
  EXPECT_THAT(*result,
              StatusIs(absl::StatusCode::kUnavailable, HasSubstr("connect")));
}

// A bare Beast server that completes the handshake, then drops the socket
// without a close frame: the client must report 1006, exactly once.
TEST(WsClient, DroppedConnectionReportsAbnormalClose) {
  asio::io_context server_ioc;
  tcp::acceptor acceptor(server_ioc,
                         tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const uint16_t port = acceptor.local_endpoint().port();
  websocket::stream<beast::tcp_stream> server_ws(server_ioc);
  acceptor.async_accept(beast::get_lowest_layer(server_ws).socket(),
                        [&](beast::error_code ec) {
                          if (ec) return;
                          server_ws.async_accept([&](beast::error_code ec2) {
                            if (!ec2)
                              beast::get_lowest_layer(server_ws).close();
                          });
                        });
  std::thread server_thread([&] { server_ioc.run_for(10s); });

  asio::io_context ioc;
  std::optional<absl::Status> opened;
  std::vector<uint16_t> codes;
  auto client = WsClient::Create(ioc, {});
  client->set_on_close(
      [&](uint16_t code, std::string) { codes.push_back(code); });
  client->Connect("127.0.0.1", port, "/",
                  [&](absl::Status s) { opened = std::move(s); });
  ioc.run_for(10s);  // returns as soon as the client has nothing left to do
  server_thread.join();
  ASSERT_TRUE(opened.has_value());
  EXPECT_THAT(*opened, IsOk());
  EXPECT_THAT(codes, ::testing::ElementsAre(1006));
}

TEST(WsClient, CloseBeforeConnectCompletesCancels) {
  asio::io_context ioc;
  tcp::acceptor acceptor(ioc,
                         tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  // Accepted by the kernel but never answered: the handshake hangs.
  std::optional<absl::Status> opened;
  auto client = WsClient::Create(ioc, {});
  client->Connect("127.0.0.1", acceptor.local_endpoint().port(), "/",
                  [&](absl::Status s) { opened = std::move(s); });
  client->Close(1000, "never mind");
  ioc.run_for(10s);
  ASSERT_TRUE(opened.has_value());
  EXPECT_THAT(*opened, StatusIs(absl::StatusCode::kCancelled, HasSubstr("")));
}

}  // namespace
}  // namespace lattice::net
