#include "net/internal/websocket_session.h"

#include <cassert>
#include <exception>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/error.hpp>
#include <boost/beast/websocket/option.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "base/logging.h"

namespace lattice::net::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

// Close codes an endpoint may put in a close frame (RFC 6455 7.4).
bool IsSendableCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

void CountClose(NetStats& stats, uint16_t code, uint16_t overflow_code) {
  auto bump = [](std::atomic<uint64_t>& counter) {
    counter.fetch_add(1, std::memory_order_relaxed);
  };
  if (code == overflow_code) return bump(stats.ws_close_overflow);
  switch (code) {
    case kCloseNormal:
      return bump(stats.ws_close_normal);
    case kCloseGoingAway:
      return bump(stats.ws_close_going_away);
    case kCloseProtocolError:
    case kCloseUnsupportedData:
    case 1007:
    case kClosePolicyViolation:
      return bump(stats.ws_close_protocol);
    case kCloseTooBig:
      return bump(stats.ws_close_too_big);
    case kCloseAbnormal:
      return bump(stats.ws_close_abnormal);
    default:
      return bump(stats.ws_close_other);
  }
}

// What a read waiting for the next message holds. Beast's async_read
// prepares 1.5 KiB (tcp_frame_size) before it waits, which was a sixth of
// an idle connection's memory; a first read of at most this many bytes
// holds little and still takes a cursor move or a small change whole.
constexpr size_t kIdleReadBytes = 256;

}  // namespace

void WsHandle::Send(std::shared_ptr<const std::string> message) {
  if (auto session = session_.lock()) session->Send(std::move(message));
}

void WsHandle::Close(uint16_t code, std::string reason) {
  if (auto session = session_.lock()) session->Close(code, std::move(reason));
}

void WsHandle::EnableBatching(uint64_t max_bytes) {
  if (auto session = session_.lock()) session->EnableBatching(max_bytes);
}

uint64_t WsHandle::queued_bytes() const {
  auto session = session_.lock();
  return session ? session->queued_bytes() : 0;
}

std::shared_ptr<WsSession> WsSession::Create(ConnectionStream stream,
                                             std::shared_ptr<ServerState> state,
                                             std::string remote_ip,
                                             std::string target,
                                             ConnectionSlot connection_slot,
                                             IpSlot ip_slot) {
  const uint64_t id = state->NextWsId();
  std::shared_ptr<WsSession> session(
      new WsSession(std::move(stream), std::move(state),
                    std::move(connection_slot), std::move(ip_slot)));
  session->handle_ = std::make_shared<WsHandle>(id, std::move(remote_ip),
                                                std::move(target), session);
  return session;
}

WsSession::WsSession(ConnectionStream stream,
                     std::shared_ptr<ServerState> state,
                     ConnectionSlot connection_slot, IpSlot ip_slot)
    : state_(std::move(state)),
      options_(state_->ws_options()),
      executor_(stream.get_executor()),
      ws_(stream.release_socket()),
      close_deadline_(executor_),
      connection_slot_(std::move(connection_slot)),
      ip_slot_(std::move(ip_slot)) {}

WsSession::~WsSession() {
  if (registered_) state_->Unregister(this, /*from_destructor=*/true);
}

void WsSession::Start(Request request) {
  registered_ = state_->Register(this, weak_from_this());
  if (!registered_) {
    state_->stats().ws_refused_shutdown.fetch_add(1, std::memory_order_relaxed);
    DropSocket();
    return;
  }
  websocket::stream_base::timeout timeout{};
  timeout.handshake_timeout = options_.handshake_timeout;
  timeout.idle_timeout = options_.idle_timeout;
  timeout.keep_alive_pings = true;
  ws_.set_option(timeout);
  ws_.set_option(
      websocket::stream_base::decorator([](websocket::response_type& res) {
        res.set(http::field::server, "lattice");
      }));
  ws_.read_message_max(options_.max_message_bytes);
  // Beast splits an outgoing message into frames of write_buffer_bytes
  // (default 4 KiB), one write each: a 400 KB snapshot took 100 writes.
  // Control frames still fit between 64 KiB fragments. (A server without
  // permessage-deflate allocates no write buffer for this.)
  ws_.write_buffer_bytes(64 * 1024);
  if (options_.permessage_deflate) {
    websocket::permessage_deflate pmd;
    pmd.server_enable = true;
    ws_.set_option(pmd);
  }
  ws_.binary(true);
  ws_.async_accept(request, beast::bind_front_handler(&WsSession::OnAccept,
                                                      shared_from_this()));
}

void WsSession::OnAccept(beast::error_code ec) {
  if (ec) {
    state_->stats().ws_handshakes_failed.fetch_add(1,
                                                   std::memory_order_relaxed);
    LATTICE_LOG(kDebug) << "ws handshake from " << remote_ip() << ": "
                        << ec.message();
    ended_ = true;
    refuse_sends_.store(true, std::memory_order_release);
    DropSocket();
    DisarmTimeouts();
    Finish();
    return;
  }
  opened_ = true;
  state_->stats().ws_open.fetch_add(1, std::memory_order_relaxed);
  state_->stats().ws_total.fetch_add(1, std::memory_order_relaxed);
  if (close_requested_) {
    // Shutdown raced with the handshake: close right away.
    close_requested_ = false;
    DoClose(close_code_, close_reason_);
  }
  try {
    state_->ws_handler()->OnOpen(handle_);
  } catch (const std::exception& e) {
    LATTICE_LOG(kError) << "ws handler OnOpen threw: " << e.what();
    DoClose(kCloseInternalError, "internal error");
  }
  Read(kIdleReadBytes);
}

void WsSession::Read(size_t limit) {
  // Limit 0: Beast reads what the frame holds, up to 1.5 KiB a step; the
  // message size limit (read_message_max) still applies across steps.
  ws_.async_read_some(
      buffer_, limit,
      beast::bind_front_handler(&WsSession::OnRead, shared_from_this()));
}

void WsSession::OnRead(beast::error_code ec, std::size_t) {
  if (ec) {
    if (close_requested_) return OnEnd(close_code_, close_reason_);
    if (ec == websocket::error::closed) {
      const websocket::close_reason& cr = ws_.reason();
      const auto code = static_cast<uint16_t>(cr.code);
      return OnEnd(code == 0 ? kCloseNoStatus : code,
                   std::string(cr.reason.data(), cr.reason.size()));
    }
    if (ec == websocket::error::message_too_big) {
      return OnEnd(kCloseTooBig, "message too big");
    }
    return OnEnd(kCloseAbnormal, ec.message());
  }
  if (!ws_.is_message_done()) return Read(0);
  if (close_requested_) {
    // Closing: keep reading for the peer's close frame, drop the rest.
  } else if (!ws_.got_binary()) {
    DoClose(kCloseUnsupportedData, "text messages are not supported");
  } else {
    Deliver(beast::buffers_to_string(buffer_.data()));
  }
  buffer_.clear();
  // Give back what a larger message grew, so that an idle connection holds
  // kIdleReadBytes at most.
  if (buffer_.capacity() > kIdleReadBytes) buffer_.shrink_to_fit();
  Read(kIdleReadBytes);
}

void WsSession::Deliver(std::string message) {
  NetStats& stats = state_->stats();
  stats.ws_messages_in.fetch_add(1, std::memory_order_relaxed);
  stats.ws_bytes_in.fetch_add(message.size(), std::memory_order_relaxed);
  try {
    state_->ws_handler()->OnMessage(handle_, std::move(message));
  } catch (const std::exception& e) {
    LATTICE_LOG(kError) << "ws handler OnMessage threw: " << e.what();
    DoClose(kCloseInternalError, "internal error");
  }
}

void WsSession::Send(std::shared_ptr<const std::string> message) {
  assert(message != nullptr);
  if (refuse_sends_.load(std::memory_order_acquire)) return;
  const uint64_t size = message->size();
  const uint64_t bytes =
      queued_bytes_.fetch_add(size, std::memory_order_relaxed) + size;
  const size_t count =
      queued_messages_.fetch_add(1, std::memory_order_relaxed) + 1;
  if (bytes > options_.max_send_queue_bytes ||
      count > options_.max_send_queue_messages) {
    Unaccount(*message);
    asio::post(executor_, beast::bind_front_handler(&WsSession::OnOverflow,
                                                    shared_from_this()));
    return;
  }
  asio::post(executor_, [self = shared_from_this(),
                         message = std::move(message)]() mutable {
    self->Enqueue(std::move(message));
  });
}

void WsSession::Close(uint16_t code, std::string reason) {
  asio::post(executor_, [self = shared_from_this(), code,
                         reason = std::move(reason)]() mutable {
    self->DoClose(code, std::move(reason));
  });
}

void WsSession::BeginShutdown(uint16_t close_code) {
  Close(close_code, "server shutting down");
}

void WsSession::ForceClose() {
  asio::post(executor_, [self = shared_from_this()] {
    if (!self->ended_) self->DropSocket();
  });
}

void WsSession::OnOverflow() {
  if (ended_ || close_requested_) return;
  state_->stats().ws_send_overflows.fetch_add(1, std::memory_order_relaxed);
  LATTICE_LOG(kInfo) << "ws " << id() << " from " << remote_ip()
                     << ": send queue full ("
                     << queued_bytes_.load(std::memory_order_relaxed)
                     << " bytes); closing with "
                     << options_.overflow_close_code;
  DropQueue();
  DoClose(options_.overflow_close_code, "send queue overflow");
}

void WsSession::Enqueue(std::shared_ptr<const std::string> message) {
  if (ended_ || close_requested_ || !opened_) {
    Unaccount(*message);
    return;
  }
  queue_.push_back(std::move(message));
  if (!writing_) Write();
}

void WsSession::Write() {
  writing_ = true;
  const uint64_t max_bytes = batch_max_bytes_.load(std::memory_order_relaxed);
  // A batch holds at most this many messages, which bounds batch_.
  constexpr size_t kMaxBatchMessages = 256;
  uint64_t bytes = queue_[head_]->size();
  in_flight_ = 1;
  while (head_ + in_flight_ < queue_.size() && in_flight_ < kMaxBatchMessages &&
         bytes + queue_[head_ + in_flight_]->size() <= max_bytes) {
    bytes += queue_[head_ + in_flight_++]->size();
  }
  auto on_write =
      beast::bind_front_handler(&WsSession::OnWrite, shared_from_this());
  if (in_flight_ == 1) {
    ws_.async_write(asio::buffer(*queue_[head_]), std::move(on_write));
    return;
  }
  batch_.clear();
  for (size_t i = head_; i < head_ + in_flight_; ++i) {
    batch_.push_back(asio::buffer(*queue_[i]));
  }
  ws_.async_write(batch_, std::move(on_write));
}

void WsSession::OnWrite(beast::error_code ec, std::size_t) {
  writing_ = false;
  const size_t written = in_flight_;
  in_flight_ = 0;
  uint64_t written_bytes = 0;
  for (size_t i = head_; i < head_ + written; ++i) {
    written_bytes += queue_[i]->size();
    Unaccount(*queue_[i]);
    queue_[i].reset();
  }
  head_ += written;
  if (head_ == queue_.size()) {
    // Drained: an idle connection keeps no queue memory.
    queue_.clear();
    if (queue_.capacity() > 4) queue_.shrink_to_fit();
    batch_ = {};
    head_ = 0;
  } else if (head_ >= 64 && head_ * 2 >= queue_.size()) {
    queue_.erase(queue_.begin(), queue_.begin() + head_);
    head_ = 0;
  }
  if (ec) {
    // The pending read fails as well and ends the connection; a broken
    // socket is closed so that it surely does.
    DropQueue();
    refuse_sends_.store(true, std::memory_order_release);
    if (ec != asio::error::operation_aborted &&
        ec != websocket::error::closed) {
      LATTICE_LOG(kDebug) << "ws " << id() << " write: " << ec.message();
      DropSocket();
    }
    return;
  }
  NetStats& stats = state_->stats();
  stats.ws_messages_out.fetch_add(written, std::memory_order_relaxed);
  stats.ws_writes.fetch_add(1, std::memory_order_relaxed);
  stats.ws_bytes_out.fetch_add(written_bytes, std::memory_order_relaxed);
  if (ended_) return;
  if (head_ < queue_.size()) {
    Write();
  } else if (close_requested_ && !close_started_) {
    StartCloseHandshake();
  }
}

void WsSession::DoClose(uint16_t code, std::string reason) {
  if (ended_ || close_requested_) return;
  close_requested_ = true;
  refuse_sends_.store(true, std::memory_order_release);
  if (!IsSendableCloseCode(code)) {
    LATTICE_LOG(kWarning) << "ws close: code " << code
                          << " may not be sent; using 1000";
    code = kCloseNormal;
  }
  close_code_ = code;
  // A close frame carries at most 123 bytes of reason.
  if (reason.size() > 123) reason.resize(123);
  close_reason_ = std::move(reason);
  if (!opened_) {
    // Still in the handshake: OnAccept closes once it completes.
    return;
  }
  close_deadline_.expires_after(options_.handshake_timeout);
  close_deadline_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (ec || self->ended_) return;
    LATTICE_LOG(kDebug) << "ws " << self->id() << ": close timed out";
    self->DropSocket();
  });
  if (!writing_) StartCloseHandshake();
}

void WsSession::StartCloseHandshake() {
  close_started_ = true;
  ws_.async_close(
      websocket::close_reason(static_cast<websocket::close_code>(close_code_),
                              close_reason_),
      [self = shared_from_this()](beast::error_code ec) {
        if (ec && ec != asio::error::operation_aborted) {
          LATTICE_LOG(kDebug)
              << "ws " << self->id() << " close: " << ec.message();
        }
      });
}

void WsSession::DropSocket() {
  beast::error_code ignored;  // the bare socket's close() would throw
  beast::get_lowest_layer(ws_).close(ignored);
}

void WsSession::DisarmTimeouts() {
  // Beast leaves its timer armed when a connection fails; a pending wait
  // would hold the io_context (and Shutdown's caller) for up to
  // idle_timeout / 2.
  websocket::stream_base::timeout off{};
  off.handshake_timeout = websocket::stream_base::none();
  off.idle_timeout = websocket::stream_base::none();
  off.keep_alive_pings = false;
  ws_.set_option(off);
  close_deadline_.cancel();
}

void WsSession::OnEnd(uint16_t code, std::string reason) {
  ended_ = true;
  refuse_sends_.store(true, std::memory_order_release);
  DropSocket();
  DisarmTimeouts();
  DropQueue();
  NetStats& stats = state_->stats();
  CountClose(stats, code, options_.overflow_close_code);
  stats.ws_open.fetch_sub(1, std::memory_order_relaxed);
  // The slots are free by the time OnClose runs (an engine that reacts to
  // OnClose may count on it).
  connection_slot_.Release();
  ip_slot_.Release();
  try {
    state_->ws_handler()->OnClose(handle_, code, std::move(reason));
  } catch (const std::exception& e) {
    LATTICE_LOG(kError) << "ws handler OnClose threw: " << e.what();
  }
  Finish();
}

void WsSession::Unaccount(const std::string& message) {
  queued_bytes_.fetch_sub(message.size(), std::memory_order_relaxed);
  queued_messages_.fetch_sub(1, std::memory_order_relaxed);
}

void WsSession::DropQueue() {
  const size_t keep = writing_ ? in_flight_ : 0;
  while (queue_.size() - head_ > keep) {
    Unaccount(*queue_.back());
    queue_.pop_back();
  }
}

void WsSession::Finish() {
  connection_slot_.Release();
  ip_slot_.Release();
  if (registered_) {
    registered_ = false;
    state_->Unregister(this, /*from_destructor=*/false);
  }
}

}  // namespace lattice::net::internal
