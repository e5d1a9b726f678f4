#include "net/internal/websocket_session.h"

#include <array>
#include <cassert>
#include <exception>
#include <utility>

#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "base/logging.h"

namespace lattice::net::internal {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

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

// Reads land in a buffer per I/O thread; a message split across reads is
// then copied into its connection. One read takes at most this much, and
// one readiness event at most kMaxReadsPerWake reads, so that a client
// sending fast cannot hold the thread.
constexpr size_t kScratchBytes = 64 * 1024;
constexpr int kMaxReadsPerWake = 16;

// The scratch buffer of this thread. A handler callback never runs another
// connection's read on the same thread, but if it did, that read would take
// a buffer of its own rather than overwrite the input being parsed.
class ScratchBuffer {
 public:
  ScratchBuffer() {
    if (in_use_) {
      own_ = std::make_unique<char[]>(kScratchBytes);
      data_ = own_.get();
    } else {
      in_use_ = true;
      data_ = buffer_;
    }
  }
  ~ScratchBuffer() {
    if (data_ == buffer_) in_use_ = false;
  }
  ScratchBuffer(const ScratchBuffer&) = delete;
  ScratchBuffer& operator=(const ScratchBuffer&) = delete;
  char* data() { return data_; }

 private:
  static thread_local char buffer_[kScratchBytes];
  static thread_local bool in_use_;
  std::unique_ptr<char[]> own_;
  char* data_;
};
thread_local char ScratchBuffer::buffer_[kScratchBytes];
thread_local bool ScratchBuffer::in_use_ = false;

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
      socket_(stream.release_socket()),
      parser_(options_.max_message_bytes),
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
  handshake_ = std::make_unique<HandshakeStream>(socket_);
  websocket::stream_base::timeout timeout{};
  timeout.handshake_timeout = options_.handshake_timeout;
  timeout.idle_timeout = websocket::stream_base::none();  // ours, later
  timeout.keep_alive_pings = false;
  handshake_->set_option(timeout);
  handshake_->set_option(
      websocket::stream_base::decorator([](websocket::response_type& res) {
        res.set(http::field::server, "lattice");
      }));
  handshake_->async_accept(
      request,
      beast::bind_front_handler(&WsSession::OnAccept, shared_from_this()));
}

void WsSession::OnAccept(beast::error_code ec) {
  handshake_.reset();
  if (!ec) socket_.non_blocking(true, ec);
  if (ec) {
    state_->stats().ws_handshakes_failed.fetch_add(1,
                                                   std::memory_order_relaxed);
    LATTICE_LOG(kDebug) << "ws handshake from " << remote_ip() << ": "
                        << ec.message();
    ended_ = true;
    refuse_sends_.store(true, std::memory_order_release);
    DropSocket();
    Finish();
    return;
  }
  opened_ = true;
  state_->stats().ws_open.fetch_add(1, std::memory_order_relaxed);
  state_->stats().ws_total.fetch_add(1, std::memory_order_relaxed);
  if (close_requested_) {
    // Shutdown raced with the handshake: close right away.
    StartClose();
  } else if (options_.idle_timeout.count() > 0) {
    SetDeadline(options_.idle_timeout / 2);
  }
  try {
    state_->ws_handler()->OnOpen(handle_);
  } catch (const std::exception& e) {
    LATTICE_LOG(kError) << "ws handler OnOpen threw: " << e.what();
    DoClose(kCloseInternalError, "internal error");
  }
  WaitRead();
}

void WsSession::WaitRead() {
  socket_.async_wait(
      tcp::socket::wait_read,
      beast::bind_front_handler(&WsSession::OnReadable, shared_from_this()));
}

void WsSession::OnReadable(beast::error_code ec) {
  if (!ec) {
    ScratchBuffer scratch;
    for (int i = 0; i < kMaxReadsPerWake; ++i) {
      const size_t n =
          socket_.read_some(asio::buffer(scratch.data(), kScratchBytes), ec);
      if (ec == asio::error::would_block) {
        ec = {};
        break;
      }
      if (ec) break;
      read_activity_ = true;
      // After the peer's close frame or a protocol error the rest is
      // read only to reach the end of the stream.
      if (!peer_closed_ && !failed_) Consume(scratch.data(), n);
      // A short read emptied the socket; waiting re-arms the readiness
      // check, which reports data that arrived since.
      if (n < kScratchBytes) break;
    }
  }
  if (!ec) return WaitRead();
  if (close_code_ != 0) return OnEnd(close_code_, close_reason_);
  return OnEnd(kCloseAbnormal, ec.message());
}

void WsSession::Consume(const char* data, size_t n) {
  absl::string_view input(data, n);
  for (;;) {
    switch (parser_.Parse(input)) {
      case WsFrameParser::kNeedMore:
        return;
      case WsFrameParser::kMessage:
        OnParsedMessage();
        break;
      case WsFrameParser::kPing:
        if (!close_requested_) {
          AppendWsControlFrame(WsOpcode::kPong, parser_.control_payload(),
                               control_out_);
          if (!writing_) Write();
        }
        break;
      case WsFrameParser::kPong:
        break;  // any input counts as activity
      case WsFrameParser::kClose:
        return OnPeerClose(parser_.close_code(),
                           std::string(parser_.close_reason()));
      case WsFrameParser::kError:
        return Fail(parser_.error_code(), parser_.error_reason());
    }
  }
}

void WsSession::OnParsedMessage() {
  std::string message = parser_.TakeMessage();
  if (close_requested_) return;  // closing: the rest is dropped
  if (parser_.message_is_text()) {
    DoClose(kCloseUnsupportedData, "text messages are not supported");
    return;
  }
  Deliver(std::move(message));
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

void WsSession::OnPeerClose(uint16_t code, std::string reason) {
  peer_closed_ = true;
  CloseNow(code, std::move(reason));
}

void WsSession::Fail(uint16_t code, std::string reason) {
  failed_ = true;
  LATTICE_LOG(kDebug) << "ws " << id() << " from " << remote_ip() << ": "
                      << reason;
  CloseNow(code, std::move(reason));
}

void WsSession::CloseNow(uint16_t code, std::string reason) {
  if (close_requested_) {
    // Our close frame is queued or out (the two may cross): once it is
    // out, the connection is done.
    if (close_sent_) Teardown();
    return;
  }
  close_requested_ = true;
  refuse_sends_.store(true, std::memory_order_release);
  close_code_ = code;
  close_reason_ = std::move(reason);
  DropQueue();
  StartClose();
}

void WsSession::SetDeadline(std::chrono::steady_clock::duration after) {
  deadline_ = std::chrono::steady_clock::now() + after;
  state_->deadlines().Schedule(deadline_, weak_from_this());
}

void WsSession::OnDeadline() {
  asio::post(socket_.get_executor(),
             [self = shared_from_this()] { self->OnDeadlineDue(); });
}

void WsSession::OnDeadlineDue() {
  if (ended_ || std::chrono::steady_clock::now() < deadline_) return;
  deadline_ = std::chrono::steady_clock::time_point::max();
  if (close_requested_) {
    LATTICE_LOG(kDebug) << "ws " << id() << ": close timed out";
    DropSocket();
    return;
  }
  if (read_activity_) {
    read_activity_ = false;
    ping_outstanding_ = false;
  } else if (!ping_outstanding_) {
    // Half the idle time without a byte: ask for one.
    ping_outstanding_ = true;
    AppendWsControlFrame(WsOpcode::kPing, {}, control_out_);
    if (!writing_) Write();
  } else {
    LATTICE_LOG(kDebug) << "ws " << id() << ": idle timeout";
    DropSocket();
    return;
  }
  SetDeadline(options_.idle_timeout / 2);
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
    asio::post(
        socket_.get_executor(),
        beast::bind_front_handler(&WsSession::OnOverflow, shared_from_this()));
    return;
  }
  asio::post(socket_.get_executor(), [self = shared_from_this(),
                                      message = std::move(message)]() mutable {
    self->Enqueue(std::move(message));
  });
}

void WsSession::Close(uint16_t code, std::string reason) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), code,
                                      reason = std::move(reason)]() mutable {
    self->DoClose(code, std::move(reason));
  });
}

void WsSession::BeginShutdown(uint16_t close_code) {
  Close(close_code, "server shutting down");
}

void WsSession::ForceClose() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
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
  if (head_ == queue_.size() && close_requested_ && !close_queued_ && opened_) {
    // Everything before the close frame is out or dropped (invariant 4).
    close_queued_ = true;
    AppendWsCloseFrame(close_code_, close_reason_, control_out_);
  }
  // Control frames queued from now on go to control_out_ again, never into
  // the buffer being written.
  control_writing_.swap(control_out_);
  in_flight_ = 0;
  uint64_t bytes = 0;
  if (head_ < queue_.size()) {
    const uint64_t max_bytes = batch_max_bytes_.load(std::memory_order_relaxed);
    // A batch holds at most this many messages, which bounds batch_.
    constexpr size_t kMaxBatchMessages = 256;
    bytes = queue_[head_]->size();
    in_flight_ = 1;
    while (head_ + in_flight_ < queue_.size() &&
           in_flight_ < kMaxBatchMessages &&
           bytes + queue_[head_ + in_flight_]->size() <= max_bytes) {
      bytes += queue_[head_ + in_flight_++]->size();
    }
  }
  if (control_writing_.empty() && in_flight_ == 0) return;
  writing_ = true;
  auto on_write =
      beast::bind_front_handler(&WsSession::OnWrite, shared_from_this());
  const asio::const_buffer control = asio::buffer(control_writing_);
  if (in_flight_ == 0) {
    asio::async_write(socket_, control, std::move(on_write));
    return;
  }
  const size_t header_bytes =
      EncodeWsFrameHeader(WsOpcode::kBinary, bytes, data_header_);
  const asio::const_buffer header(data_header_, header_bytes);
  if (in_flight_ == 1) {
    const std::array<asio::const_buffer, 3> buffers{
        control, header, asio::buffer(*queue_[head_])};
    asio::async_write(socket_, buffers, std::move(on_write));
    return;
  }
  batch_.clear();
  batch_.push_back(control);
  batch_.push_back(header);
  for (size_t i = head_; i < head_ + in_flight_; ++i) {
    batch_.push_back(asio::buffer(*queue_[i]));
  }
  asio::async_write(socket_, batch_, std::move(on_write));
}

void WsSession::OnWrite(beast::error_code ec, std::size_t) {
  writing_ = false;
  control_writing_.clear();
  control_writing_.shrink_to_fit();  // a 125-byte pong's buffer
  // The write that carries the close frame is the last (invariant 4).
  if (close_queued_) close_sent_ = true;
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
    queue_ = {};
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
    if (ec != asio::error::operation_aborted) {
      LATTICE_LOG(kDebug) << "ws " << id() << " write: " << ec.message();
      DropSocket();
    }
    return;
  }
  if (written > 0) {
    NetStats& stats = state_->stats();
    stats.ws_messages_out.fetch_add(written, std::memory_order_relaxed);
    stats.ws_writes.fetch_add(1, std::memory_order_relaxed);
    stats.ws_bytes_out.fetch_add(written_bytes, std::memory_order_relaxed);
  }
  if (ended_) return;
  if (close_sent_) {
    // Done once the peer has answered; a failed connection does not wait
    // for the answer.
    if (peer_closed_ || failed_) Teardown();
    return;
  }
  Write();
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
  // Still in the handshake: OnAccept closes once it completes.
  if (opened_) StartClose();
}

void WsSession::StartClose() {
  SetDeadline(options_.handshake_timeout);
  if (!writing_) Write();
}

void WsSession::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  beast::error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_send, ignored);
}

void WsSession::DropSocket() {
  beast::error_code ignored;  // the bare socket's close() would throw
  socket_.close(ignored);
}

void WsSession::OnEnd(uint16_t code, std::string reason) {
  ended_ = true;
  refuse_sends_.store(true, std::memory_order_release);
  DropSocket();
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
