#include "net/websocket_client.h"

#include <cassert>
#include <deque>
#include <string>
#include <utility>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "base/logging.h"

#include "absl/strings/str_cat.h"

namespace lattice::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Self = std::shared_ptr<WsClient>;

// All members are confined to `strand` except where noted. Handlers capture
// the owning WsClient (`self`) to keep everything alive.
struct WsClient::Impl {
  enum class State { kIdle, kConnecting, kOpen, kClosed };

  Impl(asio::io_context& ioc, WsClientOptions opts)
      : options(std::move(opts)),
        strand(asio::make_strand(ioc)),
        resolver(strand),
        ws(strand),
        connect_timer(strand) {}

  void Connect(const Self& self, std::string host_in, uint16_t port_in,
               std::string target_in, OpenHandler handler) {
    if (state != State::kIdle) {
      if (handler) {
        handler(absl::FailedPreconditionError(
            "ws connect: client was already used"));
      }
      return;
    }
    state = State::kConnecting;
    host = std::move(host_in);
    port = port_in;
    target = std::move(target_in);
    on_open = std::move(handler);
    connect_timer.expires_after(options.connect_timeout);
    connect_timer.async_wait([self](beast::error_code ec) {
      Impl& impl = *self->impl_;
      if (ec || impl.state != State::kConnecting) return;
      impl.timed_out = true;
      impl.AbortConnect();
    });
    resolver.async_resolve(
        host, std::to_string(port),
        [self](beast::error_code ec, tcp::resolver::results_type results) {
          self->impl_->OnResolve(self, ec, std::move(results));
        });
  }

  void AbortConnect() {
    resolver.cancel();
    beast::get_lowest_layer(ws).close();
  }

  void OnResolve(const Self& self, beast::error_code ec,
                 tcp::resolver::results_type results) {
    if (!ec && (cancelled || timed_out)) ec = asio::error::operation_aborted;
    if (ec) return FailConnect("resolve", ec);
    beast::get_lowest_layer(ws).async_connect(
        results, [self](beast::error_code ec2, const tcp::endpoint&) {
          self->impl_->OnConnect(self, ec2);
        });
  }

  void OnConnect(const Self& self, beast::error_code ec) {
    if (!ec && (cancelled || timed_out)) ec = asio::error::operation_aborted;
    if (ec) return FailConnect("connect", ec);
    // Small latency-bound frames: no Nagle delay (see http_server.cc).
    beast::error_code ignored;
    beast::get_lowest_layer(ws).socket().set_option(
        asio::ip::tcp::no_delay(true), ignored);
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = options.connect_timeout;
    timeout.idle_timeout = options.idle_timeout;
    timeout.keep_alive_pings = true;
    ws.set_option(timeout);
    ws.set_option(websocket::stream_base::decorator(
        [headers = options.headers](websocket::request_type& req) {
          req.set(http::field::user_agent, "lattice-ws-client");
          for (const auto& [name, value] : headers) req.set(name, value);
        }));
    ws.read_message_max(options.max_message_bytes);
    if (options.permessage_deflate) {
      websocket::permessage_deflate pmd;
      pmd.client_enable = true;
      ws.set_option(pmd);
    }
    ws.binary(true);
    ws.async_handshake(
        response, absl::StrCat(host, ":", port), target,
        [self](beast::error_code ec2) { self->impl_->OnHandshake(self, ec2); });
  }

  void OnHandshake(const Self& self, beast::error_code ec) {
    if (!ec && (cancelled || timed_out)) ec = asio::error::operation_aborted;
    if (ec) return FailConnect("handshake", ec);
    connect_timer.cancel();
    state = State::kOpen;
    if (auto handler = std::exchange(on_open, nullptr)) {
      handler(absl::OkStatus());
    }
    Read(self);
    if (!queue.empty()) Write(self);
    if (close_requested && !writing) StartClose(self);
  }

  absl::Status ConnectError(absl::string_view step, beast::error_code ec) {
    const std::string where =
        absl::StrCat("ws connect to ", host, ":", port, target, ": ", step);
    if (cancelled) return absl::CancelledError(absl::StrCat(where, ": closed"));
    if (timed_out) {
      return absl::DeadlineExceededError(absl::StrCat(
          where, ": timed out after ", options.connect_timeout.count(), " ms"));
    }
    const unsigned status = response.result_int();
    if (ec == websocket::error::upgrade_declined && status != 0) {
      const std::string message =
          absl::StrCat(where, ": HTTP ", status, ": ", response.body());
      switch (status) {
        case 401:
          return absl::UnauthenticatedError(message);
        case 403:
          return absl::PermissionDeniedError(message);
        case 429:
          return absl::ResourceExhaustedError(message);
        default:
          if (status >= 500) return absl::UnavailableError(message);
          return absl::FailedPreconditionError(message);
      }
    }
    return absl::UnavailableError(absl::StrCat(where, ": ", ec.message()));
  }

  void FailConnect(absl::string_view step, beast::error_code ec) {
    connect_timer.cancel();
    absl::Status status = ConnectError(step, ec);
    state = State::kClosed;
    beast::get_lowest_layer(ws).close();
    DisarmTimeouts();
    DropQueue();
    OpenHandler handler = std::exchange(on_open, nullptr);
    on_message = nullptr;
    on_close = nullptr;
    if (handler) handler(std::move(status));
  }

  void Read(const Self& self) {
    ws.async_read(buffer, [self](beast::error_code ec, std::size_t) {
      self->impl_->OnRead(self, ec);
    });
  }

  void OnRead(const Self& self, beast::error_code ec) {
    if (ec) {
      const websocket::close_reason& cr = ws.reason();
      if (cr.code != 0 && (ec == websocket::error::closed || close_requested)) {
        return End(static_cast<uint16_t>(cr.code),
                   std::string(cr.reason.data(), cr.reason.size()));
      }
      if (ec == websocket::error::message_too_big) {
        return End(1009, "message too big");
      }
      return End(1006, ec.message());
    }
    std::string message = beast::buffers_to_string(buffer.data());
    buffer.clear();
    if (buffer.capacity() > 64 * 1024) buffer.shrink_to_fit();
    if (on_message && !close_requested) on_message(std::move(message));
    Read(self);
  }

  void Send(const Self& self, std::shared_ptr<const std::string> message) {
    if (state == State::kClosed || close_requested) {
      Unaccount(*message);
      return;
    }
    queue.push_back(std::move(message));
    if (state == State::kOpen && !writing) Write(self);
  }

  void Write(const Self& self) {
    writing = true;
    ws.async_write(asio::buffer(*queue.front()),
                   [self](beast::error_code ec, std::size_t) {
                     self->impl_->OnWrite(self, ec);
                   });
  }

  void OnWrite(const Self& self, beast::error_code ec) {
    writing = false;
    Unaccount(*queue.front());
    queue.pop_front();
    if (ec) {
      // The pending read ends the connection.
      DropQueue();
      if (ec != asio::error::operation_aborted &&
          ec != websocket::error::closed) {
        beast::get_lowest_layer(ws).close();
      }
      return;
    }
    if (state != State::kOpen) return;
    if (!queue.empty()) {
      Write(self);
    } else if (close_requested) {
      StartClose(self);
    }
  }

  void Close(const Self& self, uint16_t code, std::string reason) {
    if (close_requested || state == State::kClosed) return;
    close_requested = true;
    close_code = code;
    if (reason.size() > 123) reason.resize(123);
    close_reason = std::move(reason);
    switch (state) {
      case State::kIdle:
        state = State::kClosed;
        on_open = nullptr;
        on_message = nullptr;
        on_close = nullptr;
        return;
      case State::kConnecting:
        cancelled = true;
        AbortConnect();
        return;
      case State::kOpen:
        if (!writing) StartClose(self);
        return;
      case State::kClosed:
        return;
    }
  }

  void StartClose(const Self& self) {
    if (close_started) return;
    close_started = true;
    ws.async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code),
                                close_reason),
        [self](beast::error_code ec) {
          if (ec && ec != asio::error::operation_aborted) {
            LATTICE_LOG(kDebug) << "ws client close: " << ec.message();
          }
        });
  }

  // Beast leaves its timer armed when a connection fails; a pending wait
  // would keep the io_context running for up to idle_timeout / 2.
  void DisarmTimeouts() {
    websocket::stream_base::timeout off{};
    off.handshake_timeout = websocket::stream_base::none();
    off.idle_timeout = websocket::stream_base::none();
    off.keep_alive_pings = false;
    ws.set_option(off);
    connect_timer.cancel();
  }

  void End(uint16_t code, std::string reason) {
    state = State::kClosed;
    beast::get_lowest_layer(ws).close();
    DisarmTimeouts();
    DropQueue();
    CloseHandler handler = std::exchange(on_close, nullptr);
    on_message = nullptr;
    if (handler) handler(code, std::move(reason));
  }

  void Unaccount(const std::string& message) {
    queued_bytes.fetch_sub(message.size(), std::memory_order_relaxed);
  }

  void DropQueue() {
    const size_t keep = writing ? 1 : 0;
    while (queue.size() > keep) {
      Unaccount(*queue.back());
      queue.pop_back();
    }
  }

  // Immutable after construction.
  const WsClientOptions options;
  const asio::strand<asio::io_context::executor_type> strand;

  // Thread-safe.
  std::atomic<uint64_t> queued_bytes{0};

  // Set before Connect, then confined to the strand.
  MessageHandler on_message;
  CloseHandler on_close;

  // Confined to the strand.
  tcp::resolver resolver;
  websocket::stream<beast::tcp_stream> ws;
  asio::steady_timer connect_timer;
  websocket::response_type response;
  beast::flat_buffer buffer;
  std::deque<std::shared_ptr<const std::string>> queue;
  OpenHandler on_open;
  std::string host;
  uint16_t port = 0;
  std::string target;
  State state = State::kIdle;
  bool writing = false;
  bool timed_out = false;
  bool cancelled = false;
  bool close_requested = false;
  bool close_started = false;
  uint16_t close_code = 1000;
  std::string close_reason;
};

WsClient::WsClient(asio::io_context& ioc, WsClientOptions options)
    : impl_(std::make_unique<Impl>(ioc, std::move(options))) {}

WsClient::~WsClient() = default;

std::shared_ptr<WsClient> WsClient::Create(asio::io_context& ioc,
                                           WsClientOptions options) {
  return std::shared_ptr<WsClient>(new WsClient(ioc, std::move(options)));
}

void WsClient::set_on_message(MessageHandler handler) {
  impl_->on_message = std::move(handler);
}

void WsClient::set_on_close(CloseHandler handler) {
  impl_->on_close = std::move(handler);
}

void WsClient::Connect(std::string host, uint16_t port, std::string target,
                       OpenHandler on_open) {
  asio::post(impl_->strand, [self = shared_from_this(), host = std::move(host),
                             port, target = std::move(target),
                             on_open = std::move(on_open)]() mutable {
    self->impl_->Connect(self, std::move(host), port, std::move(target),
                         std::move(on_open));
  });
}

void WsClient::Send(std::shared_ptr<const std::string> message) {
  assert(message != nullptr);
  impl_->queued_bytes.fetch_add(message->size(), std::memory_order_relaxed);
  asio::post(impl_->strand, [self = shared_from_this(),
                             message = std::move(message)]() mutable {
    self->impl_->Send(self, std::move(message));
  });
}

void WsClient::Close(uint16_t code, std::string reason) {
  asio::post(impl_->strand, [self = shared_from_this(), code,
                             reason = std::move(reason)]() mutable {
    self->impl_->Close(self, code, std::move(reason));
  });
}

uint64_t WsClient::queued_bytes() const {
  return impl_->queued_bytes.load(std::memory_order_relaxed);
}

}  // namespace lattice::net
