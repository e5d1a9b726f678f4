#include "tests/testing/ws_test_client.h"

#include <chrono>
#include <utility>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>

#include "absl/strings/str_cat.h"

namespace lattice::testing {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

struct WsTestClient::Impl {
  explicit Impl(Options opts) : options(std::move(opts)), ws(ioc) {}

  // Runs the io_context on this thread until `done` or `deadline`.
  bool RunUntil(const bool& done, absl::Time deadline) {
    while (!done) {
      const absl::Time now = absl::Now();
      if (now >= deadline) return false;
      if (ioc.stopped()) ioc.restart();
      ioc.run_one_for(absl::ToChronoNanoseconds(deadline - now));
    }
    return true;
  }

  // Closes the socket and lets pending operations finish (they complete at
  // once with operation_aborted).
  void Abort() {
    beast::get_lowest_layer(ws).close();
    bool never = false;
    RunUntil(never, absl::Now() + absl::Milliseconds(10));
    if (!closed) SetClosed(1006, "dropped");
  }

  void SetClosed(uint16_t code, std::string reason) {
    closed = true;
    closed_code = code;
    close_reason = std::move(reason);
  }

  // Records how the connection ended after a read (or close) failed.
  void OnFailure(beast::error_code ec) {
    if (closed) return;
    const websocket::close_reason& cr = ws.reason();
    if (cr.code != 0) {
      SetClosed(static_cast<uint16_t>(cr.code),
                std::string(cr.reason.data(), cr.reason.size()));
    } else if (ec == websocket::error::message_too_big) {
      SetClosed(1009, "message too big");
    } else {
      SetClosed(1006, ec.message());
    }
    beast::get_lowest_layer(ws).close();
  }

  absl::Status Write(absl::string_view bytes, bool binary) {
    if (!connected || closed) {
      return absl::FailedPreconditionError("ws test client: not open");
    }
    ws.binary(binary);
    bool done = false;
    beast::error_code result;
    ws.async_write(asio::buffer(bytes.data(), bytes.size()),
                   [&](beast::error_code ec, std::size_t) {
                     result = ec;
                     done = true;
                   });
    if (!RunUntil(done, absl::Now() + options.io_timeout)) {
      Abort();
      RunUntil(done, absl::Now() + absl::Seconds(1));
      return absl::DeadlineExceededError("ws test client: send timed out");
    }
    if (result) {
      return absl::UnavailableError(
          absl::StrCat("ws test client: send: ", result.message()));
    }
    return absl::OkStatus();
  }

  const Options options;
  asio::io_context ioc;
  websocket::stream<beast::tcp_stream> ws;
  websocket::response_type response;
  beast::flat_buffer buffer;
  bool connected = false;
  bool closed = false;
  std::optional<uint16_t> closed_code;
  std::string close_reason;
  // A read started by a Receive that timed out.
  bool read_pending = false;
  bool read_done = false;
  beast::error_code read_ec;
};

WsTestClient::WsTestClient() : WsTestClient(Options()) {}

WsTestClient::WsTestClient(Options options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

WsTestClient::~WsTestClient() {
  // Let pending operations complete while their references are valid.
  if (impl_->connected) impl_->Abort();
}

absl::Status WsTestClient::Connect(absl::string_view host, uint16_t port) {
  Impl& s = *impl_;
  if (s.connected) {
    return absl::FailedPreconditionError("ws test client: already connected");
  }
  const absl::Time deadline = absl::Now() + s.options.io_timeout;
  beast::error_code ec;
  tcp::resolver resolver(s.ioc);
  auto endpoints =
      resolver.resolve(std::string(host), std::to_string(port), ec);
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("ws test client: resolve ", host, ": ", ec.message()));
  }
  bool done = false;
  beast::get_lowest_layer(s.ws).async_connect(
      endpoints, [&](beast::error_code e, const tcp::endpoint&) {
        ec = e;
        done = true;
      });
  if (!s.RunUntil(done, deadline)) {
    beast::get_lowest_layer(s.ws).close();
    s.RunUntil(done, absl::Now() + absl::Seconds(1));
    return absl::DeadlineExceededError("ws test client: connect timed out");
  }
  if (ec) {
    return absl::UnavailableError(
        absl::StrCat("ws test client: connect: ", ec.message()));
  }
  s.ws.set_option(
      websocket::stream_base::timeout::suggested(beast::role_type::client));
  s.ws.set_option(websocket::stream_base::decorator(
      [headers = s.options.headers](websocket::request_type& req) {
        for (const auto& [name, value] : headers) req.set(name, value);
      }));
  s.ws.read_message_max(s.options.max_message_bytes);
  if (s.options.permessage_deflate) {
    websocket::permessage_deflate pmd;
    pmd.client_enable = true;
    s.ws.set_option(pmd);
  }
  done = false;
  s.ws.async_handshake(s.response, absl::StrCat(host, ":", port),
                       s.options.target, [&](beast::error_code e) {
                         ec = e;
                         done = true;
                       });
  if (!s.RunUntil(done, deadline)) {
    beast::get_lowest_layer(s.ws).close();
    s.RunUntil(done, absl::Now() + absl::Seconds(1));
    return absl::DeadlineExceededError("ws test client: handshake timed out");
  }
  if (ec == websocket::error::upgrade_declined) {
    beast::get_lowest_layer(s.ws).close();
    const unsigned status = s.response.result_int();
    std::string message =
        absl::StrCat("ws test client: upgrade declined: HTTP ", status, ": ",
                     s.response.body());
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
  if (ec) {
    beast::get_lowest_layer(s.ws).close();
    return absl::UnavailableError(
        absl::StrCat("ws test client: handshake: ", ec.message()));
  }
  s.ws.binary(true);
  s.connected = true;
  return absl::OkStatus();
}

absl::Status WsTestClient::Send(absl::string_view bytes) {
  return impl_->Write(bytes, /*binary=*/true);
}

absl::Status WsTestClient::SendText(absl::string_view text) {
  return impl_->Write(text, /*binary=*/false);
}

absl::StatusOr<std::string> WsTestClient::Receive(absl::Duration timeout) {
  Impl& s = *impl_;
  if (s.closed) {
    return absl::FailedPreconditionError(
        absl::StrCat("ws test client: closed with code ", *s.closed_code));
  }
  if (!s.connected) {
    return absl::FailedPreconditionError("ws test client: not connected");
  }
  if (!s.read_pending) {
    s.read_pending = true;
    s.read_done = false;
    s.ws.async_read(s.buffer, [&s](beast::error_code ec, std::size_t) {
      s.read_ec = ec;
      s.read_done = true;
    });
  }
  if (!s.RunUntil(s.read_done, absl::Now() + timeout)) {
    return absl::DeadlineExceededError(absl::StrCat(
        "ws test client: no message within ", absl::FormatDuration(timeout)));
  }
  s.read_pending = false;
  if (s.read_ec) {
    s.OnFailure(s.read_ec);
    return absl::FailedPreconditionError(
        absl::StrCat("ws test client: closed with code ", *s.closed_code, " (",
                     s.read_ec.message(), ")"));
  }
  std::string message = beast::buffers_to_string(s.buffer.data());
  s.buffer.consume(s.buffer.size());
  return message;
}

std::optional<uint16_t> WsTestClient::WaitClosed(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!impl_->closed && impl_->connected) {
    const absl::Duration left = deadline - absl::Now();
    if (left <= absl::ZeroDuration()) break;
    auto message = Receive(left);
    if (!message.ok() &&
        message.status().code() == absl::StatusCode::kDeadlineExceeded) {
      break;
    }
  }
  return impl_->closed_code;
}

std::optional<uint16_t> WsTestClient::closed_code() const {
  return impl_->closed_code;
}

const std::string& WsTestClient::close_reason() const {
  return impl_->close_reason;
}

absl::Status WsTestClient::Close(uint16_t code, absl::string_view reason) {
  Impl& s = *impl_;
  if (!s.connected) {
    return absl::FailedPreconditionError("ws test client: not connected");
  }
  if (s.closed) return absl::OkStatus();
  bool done = false;
  beast::error_code result;
  s.ws.async_close(
      websocket::close_reason(static_cast<websocket::close_code>(code),
                              beast::string_view(reason.data(), reason.size())),
      [&](beast::error_code ec) {
        result = ec;
        done = true;
      });
  const absl::Time deadline = absl::Now() + s.options.io_timeout;
  const bool finished = s.RunUntil(done, deadline);
  // A read left pending by Receive completes once the close is done.
  if (s.read_pending) s.RunUntil(s.read_done, deadline);
  s.read_pending = false;
  if (!finished) {
    s.Abort();
    s.RunUntil(done, absl::Now() + absl::Seconds(1));
    return absl::DeadlineExceededError("ws test client: close timed out");
  }
  if (result) {
    s.OnFailure(result);
    return absl::UnavailableError(
        absl::StrCat("ws test client: close: ", result.message()));
  }
  const websocket::close_reason& cr = s.ws.reason();
  s.SetClosed(cr.code != 0 ? static_cast<uint16_t>(cr.code) : code,
              std::string(cr.reason.data(), cr.reason.size()));
  return absl::OkStatus();
}

void WsTestClient::Drop() {
  if (impl_->connected) impl_->Abort();
}

int WsTestClient::handshake_status() const {
  return static_cast<int>(impl_->response.result_int());
}

const std::string& WsTestClient::handshake_body() const {
  return impl_->response.body();
}

}  // namespace lattice::testing
