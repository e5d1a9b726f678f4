// lattice-load: a native load generator for lattice-server (issue 5). It
// opens many WebSocket clients (Asio sockets, one io_context per generator
// thread, many connections per thread) that speak the real protocol
// (docs/protocol.md): hello(token) -> welcome, join(room) -> joined, then
// change frames carrying real crdt updates.
//
//   lattice-load --mode=connect   --port=P --secret_file=S --connections=1000
//   lattice-load --mode=roundtrip --port=P --secret_file=S --rooms=50
//                --clients=2 --hz=10 --duration_s=20 --server_pid=PID
//   lattice-load --mode=idle      --port=P --secret_file=S --connections=2000
//                --server_pid=PID
//
// Latency: every change sets key "c<replica>" of the sender's own crdt::Doc
// to Value::Int(steady_clock nanoseconds at send). The ack latency is send ->
// ack at the sender; the delivery latency is send -> update frame at each
// other member, read back by applying the update to the receiver's own
// replica of the room document (all clients share the process clock). The
// CPU that decoding costs the generator is measured and reported.
//
// Transport: a client writes the upgrade request and Beast's HTTP parser
// reads the 101 response; after that a client speaks RFC 6455 on the bare
// socket with the server's own frame code (net/internal/ws_frame.h), like the
// server: it waits for readability and reads everything pending into its
// worker's buffer, one recv per wake. Beast's websocket::stream made two
// recvs per frame (the second one EAGAIN); at 90,000 frames a second the
// generator's core saturated and its own queueing became part of the latency
// it measured.
//
// Safety: connects only to 127.0.0.x; every loop is bounded in count and in
// time (--max_total_s); the tool stops by itself.
//
// Thread safety: each Client is confined to the thread that runs its
// io_context; Workers share only relaxed atomic counters with the main
// thread, which reads the latency samples after the worker threads joined.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <time.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "crdt/doc.h"
#include "crdt/internal/presence_codec.h"
#include "crdt/presence.h"
#include "crdt/value.h"
#include "engine/auth/jwt_minter.h"
#include "engine/protocol/frames.h"
#include "net/internal/ws_frame.h"

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

ABSL_FLAG(std::string, mode, "roundtrip",
          "connect, roundtrip, cursors (roundtrip with presence frames) or "
          "idle");
ABSL_FLAG(std::string, host, "127.0.0.1", "server address (127.0.0.x only)");
ABSL_FLAG(uint16_t, port, 0, "server port");
ABSL_FLAG(std::string, secret_file, "", "HS256 secret the server verifies");
ABSL_FLAG(int, threads, 1, "generator threads (one io_context each)");
ABSL_FLAG(int, connections, 1000, "connect/idle: connections to open");
ABSL_FLAG(int, concurrency, 64,
          "connect/idle: connections in flight at once (1: sequential)");
ABSL_FLAG(int, room_size, 10, "connect/idle: clients per room");
ABSL_FLAG(int, source_ips, 1,
          "bind client i to 127.0.0.(1 + i % N): each address has its own "
          "ephemeral port range (~28,000 ports)");
ABSL_FLAG(int, rooms, 1, "roundtrip: rooms");
ABSL_FLAG(int, clients, 2, "roundtrip: clients per room");
ABSL_FLAG(double, hz, 10, "roundtrip: changes per second per client");
ABSL_FLAG(double, duration_s, 20, "roundtrip: sending time");
ABSL_FLAG(double, drain_s, 15, "roundtrip: longest wait for the stragglers");
ABSL_FLAG(bool, decode, true,
          "roundtrip: decode every update (delivery latency); false counts "
          "update frames only");
ABSL_FLAG(bool, presence_replica, false,
          "cursors: merge every presence delta into a crdt::Presence replica "
          "per client, as a client does; false only decodes each delta (the "
          "same validating decoder) to read the senders' timestamps, as the "
          "fanout harness's adapter does");
ABSL_FLAG(bool, quickack, false,
          "diagnostic: set TCP_QUICKACK after every read, so the generator "
          "never delays its TCP acks (exposes Nagle stalls at the server)");
ABSL_FLAG(double, settle_s, 5, "idle: wait before sampling RSS");
ABSL_FLAG(int, server_pid, 0, "server PID for CPU (/proc/PID/stat) and RSS");
ABSL_FLAG(std::string, room_prefix, "",
          "room name prefix (default: load-<pid>-<time>, fresh rooms)");
ABSL_FLAG(double, max_total_s, 300, "watchdog: the tool exits after this");
ABSL_FLAG(std::string, json_out, "", "append one JSON line of results here");

namespace lattice::load {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using net::internal::WsFrameParser;
using net::internal::WsOpcode;
namespace protocol = engine::protocol;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             Clock::now().time_since_epoch())
      .count();
}

int64_t ThreadCpuNs() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

double ProcessCpuS() {
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_stime.tv_sec +
         (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

// utime + stime of `pid` in seconds, -1 when unreadable.
double ServerCpuS(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return -1;
  std::vector<std::string> f =
      absl::StrSplit(stat.substr(paren + 2), ' ', absl::SkipEmpty());
  // Fields after ")": state is #3 of stat(5); utime #14, stime #15.
  if (f.size() < 13) return -1;
  uint64_t ut = 0, st = 0;
  if (!absl::SimpleAtoi(f[11], &ut) || !absl::SimpleAtoi(f[12], &st)) return -1;
  return static_cast<double>(ut + st) / sysconf(_SC_CLK_TCK);
}

// VmRSS of `pid` in KiB, -1 when unreadable.
int64_t ServerRssKiB(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kib = -1;
      std::istringstream(line.substr(6)) >> kib;
      return kib;
    }
  }
  return -1;
}

std::string LoadAvg() {
  std::ifstream in("/proc/loadavg");
  std::string s;
  std::getline(in, s);
  return s;
}

// p in [0, 100] of sorted nanosecond samples, in milliseconds.
double PercentileMs(const std::vector<int64_t>& sorted, double p) {
  if (sorted.empty()) return -1;
  size_t i = static_cast<size_t>(p / 100.0 * (sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)] / 1e6;
}

nlohmann::json Summary(std::vector<int64_t> ns) {
  std::sort(ns.begin(), ns.end());
  return {{"n", ns.size()},
          {"p50_ms", PercentileMs(ns, 50)},
          {"p90_ms", PercentileMs(ns, 90)},
          {"p99_ms", PercentileMs(ns, 99)},
          {"max_ms", ns.empty() ? -1.0 : ns.back() / 1e6}};
}

// Counters a worker thread updates and the main thread polls.
struct Counters {
  std::atomic<int64_t> opened{0};  // joined, ready
  std::atomic<int64_t> failed{0};  // connect/handshake/hello/join failed
  std::atomic<int64_t> closed{0};  // connection ended (any reason)
  std::atomic<int64_t> unexpected_close{0};
  std::atomic<int64_t> sent{0};
  std::atomic<int64_t> acked{0};
  std::atomic<int64_t> change_errors{0};
  std::atomic<int64_t> deliveries{0};
  std::atomic<int64_t> decode_errors{0};
  std::atomic<int64_t> decode_cpu_ns{0};
};

struct Config {
  std::string mode;
  std::string host;
  uint16_t port = 0;
  std::string prefix;
  bool decode = true;
  bool presence_replica = false;
  bool quickack = false;
  bool cursors = false;  // presence frames instead of changes
  double hz = 10;
  double duration_s = 20;
};

class Worker;

// One WebSocket client. Confined to its worker's thread.
class Client : public std::enable_shared_from_this<Client> {
 public:
  Client(Worker& worker, int id, std::string room, std::string token);

  void Start();  // connect, hello, join
  void StartSending(int64_t start_ns, int64_t phase_ns);
  void Close();

  // Timestamps (ns) of the connect+join steps; 0 when not reached.
  int64_t t_start = 0, t_open = 0, t_welcome = 0, t_joined = 0;
  int members = 0;                  // members of the room (roundtrip)
  std::vector<std::string> errors;  // error codes and close reasons

 private:
  void OnConnect(beast::error_code ec);
  void OnHandshake(beast::error_code ec);
  void WaitRead();
  void OnReadable(beast::error_code ec);
  // Parses `n` bytes from the socket; false once the connection ended.
  bool Consume(const char* data, size_t n);
  void OnMessage(const std::string& message);
  void OnFrame(protocol::Frame frame);
  void OnUpdate(const std::string& update);
  void OnPresence(const std::string& presence);
  void WatchKeys();
  // Sends one protocol message (a binary WebSocket message).
  void Send(absl::string_view message);
  void SendFrame(WsOpcode opcode, absl::string_view payload);
  void WriteNext();
  void Tick();
  bool cfg_cursors() const;
  void Fail(beast::error_code ec, const char* what);
  // Ends the connection; a failure unless we asked to close and it closed.
  void End(std::string reason, bool clean);

  Worker& worker_;
  const int id_;
  const uint64_t replica_;
  const std::string room_;
  const std::string token_;
  tcp::socket socket_;
  // The handshake's response; bytes after it are the first frames.
  beast::flat_buffer buffer_;
  http::response<http::string_body> response_;
  WsFrameParser parser_{64 << 20, net::internal::WsSender::kServer};
  std::deque<std::string> out_;  // whole frames, masked
  bool writing_ = false;
  bool joined_ = false;
  bool done_ = false;
  bool closing_ = false;
  // Roundtrip.
  std::unique_ptr<crdt::Doc> own_;          // the sender's document
  std::unique_ptr<crdt::Doc> replica_doc_;  // this receiver's replica
  std::vector<std::string> changed_keys_;
  // Cursors.
  std::string session_;  // ours, from welcome
  std::unique_ptr<crdt::Presence> presence_;
  std::vector<int64_t> send_ns_;  // by client_seq - 1
  asio::steady_timer timer_;
  int64_t next_ns_ = 0;
  int64_t sends_left_ = 0;
  int64_t period_ns_ = 0;
};

// A thread with its io_context and the clients it runs.
class Worker {
 public:
  Worker(const Config& config, Counters& counters)
      : config_(config), counters_(counters) {}

  asio::io_context& ioc() { return ioc_; }
  const Config& config() const { return config_; }
  Counters& counters() { return counters_; }
  const tcp::endpoint& endpoint() const { return endpoint_; }
  void set_endpoint(tcp::endpoint e) { endpoint_ = e; }

  // Connect mode: start `total` clients, at most `in_flight` at once.
  void AddClient(std::shared_ptr<Client> c) { clients_.push_back(c); }
  std::vector<std::shared_ptr<Client>>& clients() { return clients_; }
  void StartAll(int in_flight) {
    in_flight_ = std::max(1, in_flight);
    while (next_ < clients_.size() && running_ < in_flight_) StartNext();
  }
  void OnJoinedOrFailed() {
    --running_;
    if (next_ < clients_.size()) StartNext();
  }

  // Whether this decode call is timed: one in kDecodeSample, so that the
  // thread CPU clock (a system call, 12% of the generator's CPU when read
  // around every frame) costs little; the timed ones count kDecodeSample
  // times.
  static constexpr int64_t kDecodeSample = 32;
  bool TimeThisDecode() { return decode_calls_++ % kDecodeSample == 0; }

  // Where a client reads the bytes pending on its socket; shared by the
  // thread's clients, which run one at a time.
  static constexpr size_t kReadBytes = 64 << 10;
  char* read_buffer() { return read_buffer_.get(); }
  // A masking key for the next frame a client sends (xorshift: a load
  // generator's keys need not resist an attacker).
  uint32_t NextMaskKey() {
    mask_state_ ^= mask_state_ << 13;
    mask_state_ ^= mask_state_ >> 7;
    mask_state_ ^= mask_state_ << 17;
    return static_cast<uint32_t>(mask_state_);
  }

  // Samples, read by the main thread after the thread joined.
  std::vector<int64_t> ack_ns, delivery_ns;
  int64_t max_lateness_ns = 0;
  std::map<std::string, int64_t> error_codes;

 private:
  int64_t decode_calls_ = 0;
  std::unique_ptr<char[]> read_buffer_{new char[kReadBytes]};
  uint64_t mask_state_ = std::random_device{}() | 1;

  void StartNext() {
    ++running_;
    clients_[next_++]->Start();
  }
  const Config& config_;
  Counters& counters_;
  asio::io_context ioc_{1};
  tcp::endpoint endpoint_;
  std::vector<std::shared_ptr<Client>> clients_;
  size_t next_ = 0;
  int running_ = 0;
  int in_flight_ = 1;
};

Client::Client(Worker& worker, int id, std::string room, std::string token)
    : worker_(worker),
      id_(id),
      replica_(static_cast<uint64_t>(id) + 1),
      room_(std::move(room)),
      token_(std::move(token)),
      socket_(worker.ioc()),
      timer_(worker.ioc()) {}

void Client::Start() {
  t_start = NowNs();
  const int source_ips = std::clamp(absl::GetFlag(FLAGS_source_ips), 1, 254);
  if (source_ips > 1) {
    beast::error_code ec;
    socket_.open(tcp::v4(), ec);
    if (!ec) {
      socket_.bind(tcp::endpoint(asio::ip::make_address_v4(absl::StrCat(
                                     "127.0.0.", 1 + id_ % source_ips)),
                                 0),
                   ec);
    }
    if (ec) return Fail(ec, "bind");
  }
  // Connecting and the handshake together get 30 s.
  timer_.expires_after(std::chrono::seconds(30));
  timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
    if (!ec && self->t_open == 0) self->socket_.close(ec);
  });
  socket_.async_connect(worker_.endpoint(),
                        [self = shared_from_this()](beast::error_code ec) {
                          self->OnConnect(ec);
                        });
}

void Client::OnConnect(beast::error_code ec) {
  if (ec) return Fail(ec, "connect");
  socket_.set_option(tcp::no_delay(true), ec);
  uint32_t key[4];
  for (uint32_t& k : key) k = worker_.NextMaskKey();
  auto request = std::make_shared<std::string>(absl::StrCat(
      "GET /v1/ws HTTP/1.1\r\nHost: ", worker_.config().host, ":",
      worker_.config().port,
      "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: ",
      absl::Base64Escape(absl::string_view(reinterpret_cast<char*>(key), 16)),
      "\r\n\r\n"));
  asio::async_write(
      socket_, asio::buffer(*request),
      [self = shared_from_this(), request](beast::error_code e, size_t) {
        if (e) return self->Fail(e, "handshake");
        http::async_read(
            self->socket_, self->buffer_, self->response_,
            [self](beast::error_code e2, size_t) { self->OnHandshake(e2); });
      });
}

void Client::OnHandshake(beast::error_code ec) {
  if (ec) return Fail(ec, "handshake");
  if (response_.result() != http::status::switching_protocols) {
    return End(absl::StrCat("handshake: HTTP ", response_.result_int(), " ",
                            response_.body().substr(0, 200)),
               false);
  }
  t_open = NowNs();
  timer_.cancel();
  response_ = {};
  socket_.non_blocking(true, ec);
  if (ec) return Fail(ec, "non_blocking");
  Send(protocol::EncodeFrame(protocol::HelloFrame{
      protocol::kProtocolVersion, token_, replica_, "lattice-load"}));
  // What the handshake's read took past the response.
  const std::string rest = beast::buffers_to_string(buffer_.data());
  buffer_ = beast::flat_buffer();
  if (Consume(rest.data(), rest.size())) WaitRead();
}

void Client::WaitRead() {
  socket_.async_wait(tcp::socket::wait_read,
                     [self = shared_from_this()](beast::error_code ec) {
                       self->OnReadable(ec);
                     });
}

void Client::OnReadable(beast::error_code ec) {
  if (done_) return;
  if (ec) return Fail(ec, "read");
  for (;;) {
    const size_t n = socket_.read_some(
        asio::buffer(worker_.read_buffer(), Worker::kReadBytes), ec);
    if (ec == asio::error::would_block) break;
    if (ec) return Fail(ec, "read");
    if (!Consume(worker_.read_buffer(), n)) return;
    // A short read emptied the socket.
    if (n < Worker::kReadBytes) break;
  }
  if (worker_.config().quickack) {
    const int one = 1;
    setsockopt(socket_.native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one,
               sizeof one);
  }
  WaitRead();
}

bool Client::Consume(const char* data, size_t n) {
  absl::string_view input(data, n);
  for (;;) {
    switch (parser_.Parse(input)) {
      case WsFrameParser::kNeedMore:
        return true;
      case WsFrameParser::kMessage:
        OnMessage(parser_.TakeMessage());
        if (done_) return false;
        break;
      case WsFrameParser::kPing:
        SendFrame(WsOpcode::kPong, parser_.control_payload());
        break;
      case WsFrameParser::kPong:
        break;
      case WsFrameParser::kClose: {
        const bool asked = closing_;
        if (!asked) {
          // Answer the server's close (RFC 6455 5.5.1), then end.
          closing_ = true;
          SendFrame(WsOpcode::kClose, {});
        }
        End(absl::StrCat("close ", parser_.close_code(), " ",
                         parser_.close_reason()),
            asked);
        return false;
      }
      case WsFrameParser::kError:
        End(absl::StrCat("read: ", parser_.error_reason()), false);
        return false;
    }
  }
}

void Client::OnMessage(const std::string& message) {
  for (auto& frame : protocol::DecodeFrames(message)) {  // may be a batch
    if (!frame.ok()) {
      worker_.error_codes["client_decode_frame"]++;
    } else {
      OnFrame(*std::move(frame));
    }
  }
}

void Client::OnFrame(protocol::Frame frame) {
  Counters& c = worker_.counters();
  if (auto* w = std::get_if<protocol::WelcomeFrame>(&frame)) {
    t_welcome = NowNs();
    session_ = w->session_id;
    Send(protocol::EncodeFrame(protocol::JoinFrame{1, room_, 0, 0, {}}));
  } else if (std::holds_alternative<protocol::JoinedFrame>(frame)) {
    t_joined = NowNs();
    joined_ = true;
    c.opened.fetch_add(1, std::memory_order_relaxed);
    worker_.OnJoinedOrFailed();
  } else if (auto* u = std::get_if<protocol::UpdateFrame>(&frame)) {
    if (joined_) c.deliveries.fetch_add(1, std::memory_order_relaxed);
    if (worker_.config().decode) OnUpdate(u->update);
  } else if (auto* p = std::get_if<protocol::PresenceUpdateFrame>(&frame)) {
    if (worker_.config().decode) OnPresence(p->presence);
  } else if (auto* s = std::get_if<protocol::SnapshotFrame>(&frame)) {
    if (worker_.config().decode) {
      auto doc = crdt::Doc::LoadSnapshot(
          replica_, s->snapshot,
          {.snapshot_check = crdt::SnapshotCheck::kStructure});
      if (doc.ok()) {
        replica_doc_ = *std::move(doc);
        WatchKeys();
      } else {
        c.decode_errors.fetch_add(1, std::memory_order_relaxed);
      }
    }
  } else if (auto* a = std::get_if<protocol::AckFrame>(&frame)) {
    const int64_t now = NowNs();
    if (a->client_seq >= 1 && a->client_seq <= send_ns_.size()) {
      worker_.ack_ns.push_back(now - send_ns_[a->client_seq - 1]);
    }
    c.acked.fetch_add(1, std::memory_order_relaxed);
  } else if (auto* e = std::get_if<protocol::ErrorFrame>(&frame)) {
    worker_.error_codes[e->code]++;
    errors.push_back(e->code);
    if (e->ref_type == static_cast<uint8_t>(protocol::FrameType::kChange)) {
      c.change_errors.fetch_add(1, std::memory_order_relaxed);
    } else if (!joined_) {
      c.failed.fetch_add(1, std::memory_order_relaxed);
      worker_.OnJoinedOrFailed();
      done_ = true;
    }
  }
}

// Applies an update to this receiver's replica and reads the senders' send
// timestamps from the keys it changed.
void Client::OnUpdate(const std::string& update) {
  Counters& c = worker_.counters();
  const int64_t now = NowNs();
  const bool timed = worker_.TimeThisDecode();
  const int64_t cpu0 = timed ? ThreadCpuNs() : 0;
  if (replica_doc_ == nullptr) {
    replica_doc_ = std::make_unique<crdt::Doc>(replica_);
    WatchKeys();
  }
  changed_keys_.clear();
  auto applied = replica_doc_->ApplyUpdate(update);
  if (!applied.ok()) {
    c.decode_errors.fetch_add(1, std::memory_order_relaxed);
  } else if (joined_) {
    for (const std::string& key : changed_keys_) {
      auto v = replica_doc_->MapGet(crdt::kRootId, key);
      if (v.ok() && v->kind() == crdt::Value::Kind::kInt) {
        worker_.delivery_ns.push_back(now - v->as_int());
      } else {
        c.decode_errors.fetch_add(1, std::memory_order_relaxed);
      }
    }
  }
  if (timed) {
    c.decode_cpu_ns.fetch_add((ThreadCpuNs() - cpu0) * Worker::kDecodeSample,
                              std::memory_order_relaxed);
  }
}

// Reads the send timestamp (app field "t") of every other session whose
// cursor moved from a presence frame: decoded, or applied to this receiver's
// replica with --presence_replica.
void Client::OnPresence(const std::string& presence) {
  Counters& c = worker_.counters();
  const int64_t now = NowNs();
  const bool timed = worker_.TimeThisDecode();
  const int64_t cpu0 = timed ? ThreadCpuNs() : 0;
  // Counts a delivery sent at `t`; a decode error when "t" is no integer.
  auto count = [&](const std::optional<crdt::Value>& t) {
    if (t && t->kind() == crdt::Value::Kind::kInt) {
      c.deliveries.fetch_add(1, std::memory_order_relaxed);
      worker_.delivery_ns.push_back(now - t->as_int());
    } else {
      c.decode_errors.fetch_add(1, std::memory_order_relaxed);
    }
  };
  if (!worker_.config().presence_replica) {
    auto decoded = crdt::internal::DecodePresence(presence, {});
    if (!decoded.ok()) {
      c.decode_errors.fetch_add(1, std::memory_order_relaxed);
    } else if (joined_) {
      for (const crdt::internal::DecodedSession& s : decoded->sessions) {
        if (s.session == session_) continue;
        for (const auto& [key, reg] : s.fields) {
          if (key.tag != crdt::internal::FieldTag::kApp || key.app_key != "t") {
            continue;
          }
          const auto* t =
              reg.value ? std::get_if<crdt::Value>(&*reg.value) : nullptr;
          count(t ? std::optional<crdt::Value>(*t) : std::nullopt);
        }
      }
    }
  } else {
    if (presence_ == nullptr) {
      presence_ = std::make_unique<crdt::Presence>(replica_);
    }
    const uint64_t before = presence_->generation();
    if (!presence_->ApplyDelta(presence, absl::Now()).ok()) {
      c.decode_errors.fetch_add(1, std::memory_order_relaxed);
    } else if (joined_) {
      for (const crdt::SessionChange& change :
           presence_->ChangesSince(before)) {
        if (change.session != session_ &&
            std::find(change.app_keys.begin(), change.app_keys.end(), "t") !=
                change.app_keys.end()) {
          count(presence_->GetAppField(change.session, "t"));
        }
      }
    }
  }
  if (timed) {
    c.decode_cpu_ns.fetch_add((ThreadCpuNs() - cpu0) * Worker::kDecodeSample,
                              std::memory_order_relaxed);
  }
}

void Client::WatchKeys() {
  replica_doc_->SetObserver([this](const std::vector<crdt::ChangeEvent>& ev) {
    for (const crdt::ChangeEvent& e : ev) {
      if (e.kind == crdt::ChangeEvent::Kind::kMapKey) {
        changed_keys_.push_back(e.key);
      }
    }
  });
}

void Client::StartSending(int64_t start_ns, int64_t phase_ns) {
  const Config& cfg = worker_.config();
  period_ns_ = static_cast<int64_t>(1e9 / cfg.hz);
  sends_left_ = static_cast<int64_t>(cfg.hz * cfg.duration_s);
  send_ns_.reserve(sends_left_);
  own_ = std::make_unique<crdt::Doc>(replica_);
  next_ns_ = start_ns + phase_ns;
  Tick();
}

void Client::Tick() {
  if (done_ || sends_left_ <= 0) return;
  const int64_t now = NowNs();
  if (now < next_ns_) {
    timer_.expires_after(std::chrono::nanoseconds(next_ns_ - now));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (!ec) self->Tick();
    });
    return;
  }
  worker_.max_lateness_ns = std::max(worker_.max_lateness_ns, now - next_ns_);
  const int64_t t = NowNs();
  if (cfg_cursors()) {
    protocol::PresenceFrame p;
    p.room = room_;
    p.set_cursor = true;
    p.cursor = protocol::PresenceCursor{};
    p.cursor->x = static_cast<double>(sends_left_ % 1920);
    p.cursor->y = static_cast<double>(sends_left_ % 1080);
    protocol::PresenceAppValue v;
    v.kind = protocol::PresenceAppValue::Kind::kInt;
    v.i = t;
    p.app = {{"t", v}};
    Send(protocol::EncodeFrame(p));
    worker_.counters().sent.fetch_add(1, std::memory_order_relaxed);
    --sends_left_;
    next_ns_ += period_ns_;
    return Tick();
  }
  absl::Status s = own_->MapSet(crdt::kRootId, absl::StrCat("c", replica_),
                                crdt::Value::Int(t));
  if (!s.ok()) {
    worker_.error_codes["client_mapset"]++;
    return;
  }
  send_ns_.push_back(t);
  Send(protocol::EncodeFrame(
      protocol::ChangeFrame{room_, "board", send_ns_.size(), own_->Commit()}));
  worker_.counters().sent.fetch_add(1, std::memory_order_relaxed);
  --sends_left_;
  next_ns_ += period_ns_;
  Tick();
}

bool Client::cfg_cursors() const { return worker_.config().cursors; }

void Client::Send(absl::string_view message) {
  SendFrame(WsOpcode::kBinary, message);
}

void Client::SendFrame(WsOpcode opcode, absl::string_view payload) {
  if (done_) return;
  std::string frame;
  net::internal::AppendWsClientFrame(opcode, payload, worker_.NextMaskKey(),
                                     frame);
  out_.push_back(std::move(frame));
  if (!writing_) WriteNext();
}

// After End, writes what is queued (the reply to the server's close), then
// closes the socket.
void Client::WriteNext() {
  beast::error_code ignored;
  if (out_.empty()) {
    writing_ = false;
    if (done_) socket_.close(ignored);
    return;
  }
  writing_ = true;
  asio::async_write(socket_, asio::buffer(out_.front()),
                    [self = shared_from_this()](beast::error_code ec, size_t) {
                      if (ec) {
                        self->out_.clear();
                        self->Fail(ec, "write");
                      } else {
                        self->out_.pop_front();
                      }
                      self->WriteNext();
                    });
}

// Sends a close frame and reads on until the server's close (or the end of
// the stream) ends the connection.
void Client::Close() {
  if (done_ || closing_) return;
  closing_ = true;
  timer_.cancel();
  if (t_open == 0) {
    beast::error_code ec;
    socket_.close(ec);
    return;
  }
  SendFrame(WsOpcode::kClose, absl::string_view("\x03\xe8", 2));  // 1000
}

void Client::Fail(beast::error_code ec, const char* what) {
  End(absl::StrCat(what, ": ", ec.message()),
      closing_ &&
          (ec == asio::error::eof || ec == asio::error::operation_aborted));
}

void Client::End(std::string reason, bool clean) {
  if (done_) return;
  done_ = true;
  timer_.cancel();
  beast::error_code ignored;
  if (!writing_) socket_.close(ignored);  // else WriteNext closes it
  Counters& c = worker_.counters();
  c.closed.fetch_add(1, std::memory_order_relaxed);
  if (!clean) {
    worker_.error_codes[reason]++;
    errors.push_back(reason);
    if (!joined_) {
      c.failed.fetch_add(1, std::memory_order_relaxed);
      worker_.OnJoinedOrFailed();
    } else {
      c.unexpected_close.fetch_add(1, std::memory_order_relaxed);
    }
  }
}

// ---------------------------------------------------------------------------

bool IsLoopback127000(const std::string& host) {
  beast::error_code ec;
  auto addr = asio::ip::make_address_v4(host, ec);
  if (ec) return false;
  auto b = addr.to_bytes();
  return b[0] == 127 && b[1] == 0 && b[2] == 0;
}

std::string ReadSecret(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)),
                std::istreambuf_iterator<char>());
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class Run {
 public:
  explicit Run(Config config) : config_(std::move(config)) {}

  int Main() {
    const auto deadline =
        Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(
                           absl::GetFlag(FLAGS_max_total_s) * 1000));
    deadline_ = deadline;
    const std::string secret = ReadSecret(absl::GetFlag(FLAGS_secret_file));
    const int threads = std::clamp(absl::GetFlag(FLAGS_threads), 1, 16);
    for (int i = 0; i < threads; ++i) {
      workers_.push_back(std::make_unique<Worker>(config_, counters_));
      workers_.back()->set_endpoint(
          tcp::endpoint(asio::ip::make_address_v4(config_.host), config_.port));
    }
    // Clients: `per_room` consecutive ids share a room.
    int total = 0, per_room = 1;
    if (config_.mode == "roundtrip" || config_.mode == "cursors") {
      per_room = std::clamp(absl::GetFlag(FLAGS_clients), 1, 1000);
      total = std::clamp(absl::GetFlag(FLAGS_rooms), 1, 10000) * per_room;
    } else {
      per_room = std::clamp(absl::GetFlag(FLAGS_room_size), 1, 1000);
      total = absl::GetFlag(FLAGS_connections);
    }
    if (total < 1 || total > 100000) {
      std::cerr << "connections must be in [1, 100000]\n";
      return 2;
    }
    // Mint the tokens before anything is timed.
    const int64_t exp = std::chrono::duration_cast<std::chrono::seconds>(
                            std::chrono::system_clock::now().time_since_epoch())
                            .count() +
                        3600;
    for (int i = 0; i < total; ++i) {
      auto token =
          engine::MintHs256(secret, {{"sub", absl::StrCat("load-", i)},
                                     {"exp", exp},
                                     {"rooms", nlohmann::json::array({"*"})}});
      if (!token.ok()) {
        std::cerr << "mint: " << token.status() << "\n";
        return 2;
      }
      Worker& w = *workers_[(i / per_room) % threads];
      auto c = std::make_shared<Client>(
          w, i, absl::StrCat(config_.prefix, "-", i / per_room),
          *std::move(token));
      c->members = per_room;
      w.AddClient(c);
      all_.push_back(c);
    }
    for (auto& w : workers_) {
      threads_.emplace_back([wp = w.get()] {
        auto guard = asio::make_work_guard(wp->ioc());
        wp->ioc().run();
      });
    }
    nlohmann::json result = {{"mode", config_.mode},
                             {"loadavg_before", LoadAvg()},
                             {"generator_threads", threads}};
    const int pid = absl::GetFlag(FLAGS_server_pid);
    if (config_.mode == "connect") {
      Connect(total, &result);
    } else if (config_.mode == "idle") {
      Idle(total, pid, &result);
    } else {
      Roundtrip(total, per_room, pid, &result);
    }
    CloseAll();
    result["loadavg_after"] = LoadAvg();
    nlohmann::json errors = nlohmann::json::object();
    for (auto& w : workers_) {
      for (auto& [code, n] : w->error_codes) {
        errors[code] = errors.value(code, int64_t{0}) + n;
      }
    }
    result["errors"] = errors;
    result["timed_out"] = Clock::now() >= deadline_;
    std::cout << result.dump(1) << std::endl;
    const std::string out = absl::GetFlag(FLAGS_json_out);
    if (!out.empty()) {
      std::ofstream f(out, std::ios::app);
      f << result.dump() << "\n";
    }
    return 0;
  }

 private:
  // Waits until `done()` or the deadline; polls every 5 ms.
  template <typename Pred>
  bool WaitUntil(Pred done, Clock::time_point until) {
    until = std::min(until, deadline_);
    while (!done()) {
      if (Clock::now() >= until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  // Starts every client (at most `concurrency` in flight overall) and waits
  // until all joined or failed.
  bool OpenAll(int total, int concurrency) {
    const int per_worker =
        std::max(1, concurrency / static_cast<int>(workers_.size()));
    for (auto& w : workers_) {
      asio::post(w->ioc(),
                 [wp = w.get(), per_worker] { wp->StartAll(per_worker); });
    }
    return WaitUntil(
        [&] {
          return counters_.opened.load() + counters_.failed.load() >= total;
        },
        Clock::time_point::max());
  }

  void Connect(int total, nlohmann::json* result) {
    const int concurrency =
        std::clamp(absl::GetFlag(FLAGS_concurrency), 1, total);
    const int64_t t0 = NowNs();
    OpenAll(total, concurrency);
    const int64_t t1 = NowNs();
    CloseAll();  // stops the threads: the samples below are read race-free
    std::vector<int64_t> open, hello, join, total_ns;
    int64_t last = t0;
    for (auto& c : all_) {
      if (c->t_joined == 0) continue;
      open.push_back(c->t_open - c->t_start);
      hello.push_back(c->t_welcome - c->t_open);
      join.push_back(c->t_joined - c->t_welcome);
      total_ns.push_back(c->t_joined - c->t_start);
      last = std::max(last, c->t_joined);
    }
    (*result)["connections"] = total;
    (*result)["concurrency"] = concurrency;
    (*result)["joined"] = counters_.opened.load();
    (*result)["failed"] = counters_.failed.load();
    (*result)["elapsed_s"] = (t1 - t0) / 1e9;
    (*result)["joins_per_s"] = counters_.opened.load() / ((last - t0) / 1e9);
    (*result)["connect_join"] = Summary(total_ns);
    (*result)["tcp_ws_handshake"] = Summary(open);
    (*result)["hello_welcome"] = Summary(hello);
    (*result)["join_joined"] = Summary(join);
  }

  void Idle(int total, int pid, nlohmann::json* result) {
    const double settle = absl::GetFlag(FLAGS_settle_s);
    auto sample = [&](int n) {
      std::vector<int64_t> v;
      for (int i = 0; i < n && Clock::now() < deadline_; ++i) {
        v.push_back(ServerRssKiB(pid));
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
      std::sort(v.begin(), v.end());
      return v.empty() ? int64_t{-1} : v[v.size() / 2];
    };
    const int64_t base = sample(3);
    const int concurrency =
        std::clamp(absl::GetFlag(FLAGS_concurrency), 1, total);
    // First half, then the second half: the marginal cost of the second
    // half excludes one-time costs (arenas, tables growing).
    const int half = total / 2;
    std::vector<std::vector<std::shared_ptr<Client>>> rest(workers_.size());
    const size_t first_per_worker = half / workers_.size();
    for (size_t wi = 0; wi < workers_.size(); ++wi) {
      auto& wc = workers_[wi]->clients();
      if (wc.size() > first_per_worker) {
        rest[wi].assign(wc.begin() + first_per_worker, wc.end());
        wc.resize(first_per_worker);
      }
    }
    int first_total = 0;
    for (auto& w : workers_) first_total += w->clients().size();
    OpenAll(first_total, concurrency);
    WaitUntil([] { return false; },
              Clock::now() + std::chrono::milliseconds(
                                 static_cast<int64_t>(settle * 1000)));
    const int64_t rss_half = sample(5);
    const int64_t opened_half = counters_.opened.load();
    for (size_t wi = 0; wi < workers_.size(); ++wi) {
      Worker* wp = workers_[wi].get();
      auto more = std::move(rest[wi]);
      asio::post(wp->ioc(), [wp, more, concurrency, this] {
        auto& wc = wp->clients();
        wc.insert(wc.end(), more.begin(), more.end());
        wp->StartAll(concurrency / static_cast<int>(workers_.size()));
      });
    }
    WaitUntil(
        [&] {
          return counters_.opened.load() + counters_.failed.load() >= total;
        },
        Clock::time_point::max());
    WaitUntil([] { return false; },
              Clock::now() + std::chrono::milliseconds(
                                 static_cast<int64_t>(settle * 1000)));
    const int64_t rss_full = sample(5);
    const int64_t opened = counters_.opened.load();
    const int64_t alive = opened - counters_.unexpected_close.load();
    (*result)["connections"] = total;
    (*result)["room_size"] = absl::GetFlag(FLAGS_room_size);
    (*result)["joined"] = opened;
    (*result)["alive_at_end"] = alive;
    (*result)["failed"] = counters_.failed.load();
    (*result)["rss_base_kib"] = base;
    (*result)["rss_half_kib"] = rss_half;
    (*result)["rss_full_kib"] = rss_full;
    if (opened > 0 && base > 0) {
      (*result)["kib_per_conn"] = static_cast<double>(rss_full - base) / opened;
      (*result)["bytes_per_conn"] =
          static_cast<double>(rss_full - base) * 1024 / opened;
    }
    if (opened - opened_half > 0) {
      (*result)["marginal_kib_per_conn_2nd_half"] =
          static_cast<double>(rss_full - rss_half) / (opened - opened_half);
    }
  }

  void Roundtrip(int total, int per_room, int pid, nlohmann::json* result) {
    OpenAll(total, std::min(total, 64));
    const int64_t joined = counters_.opened.load();
    (*result)["rooms"] = total / per_room;
    (*result)["clients_per_room"] = per_room;
    (*result)["hz"] = config_.hz;
    (*result)["duration_s"] = config_.duration_s;
    (*result)["decode"] = config_.decode;
    (*result)["presence_replica"] = config_.presence_replica;
    (*result)["quickack"] = config_.quickack;
    (*result)["joined"] = joined;
    (*result)["join_failed"] = counters_.failed.load();
    if (joined < total) {
      (*result)["aborted"] = "not every client joined";
      return;
    }
    // Everyone is a member before anyone sends: every change reaches
    // per_room - 1 receivers.
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    const double srv0 = ServerCpuS(pid);
    const double gen0 = ProcessCpuS();
    const int64_t start = NowNs() + 50'000'000;
    std::mt19937_64 rng(42);
    const int64_t period = static_cast<int64_t>(1e9 / config_.hz);
    // Room for every sample up front: growing a vector of millions copies
    // it and faults its pages in at once, a stall of milliseconds that the
    // latencies measured would include.
    const size_t sends = static_cast<size_t>(config_.hz * config_.duration_s);
    for (auto& w : workers_) {
      const size_t samples = w->clients().size() * sends * (per_room - 1);
      asio::post(w->ioc(),
                 [w = w.get(), samples] { w->delivery_ns.reserve(samples); });
    }
    for (auto& w : workers_) {
      for (auto& c : w->clients()) {
        const int64_t phase = static_cast<int64_t>(rng() % period);
        asio::post(w->ioc(),
                   [c, start, phase] { c->StartSending(start, phase); });
      }
    }
    const int64_t planned =
        static_cast<int64_t>(config_.hz * config_.duration_s) * total;
    const auto send_end =
        Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(
                           config_.duration_s * 1000 + 2000));
    WaitUntil([&] { return counters_.sent.load() >= planned; }, send_end);
    const int64_t t_sent = NowNs();
    // Drain: until every ack and delivery arrived, nothing arrived for 2 s,
    // or drain_s passed.
    // Changes are acked; presence frames are not, so every one sent counts.
    auto answered = [&] {
      return config_.cursors ? counters_.sent.load() : counters_.acked.load();
    };
    auto expected = [&] { return answered() * (per_room - 1); };
    const auto drain_end =
        Clock::now() + std::chrono::milliseconds(static_cast<int64_t>(
                           absl::GetFlag(FLAGS_drain_s) * 1000));
    int64_t last_seen = -1;
    auto last_change = Clock::now();
    int64_t t_last = NowNs();
    WaitUntil(
        [&] {
          const int64_t seen =
              counters_.acked.load() + counters_.deliveries.load();
          if (seen != last_seen) {
            last_seen = seen;
            last_change = Clock::now();
            t_last = NowNs();
          }
          const bool complete =
              (config_.cursors ||
               counters_.acked.load() + counters_.change_errors.load() >=
                   counters_.sent.load()) &&
              counters_.deliveries.load() >= expected();
          return complete ||
                 Clock::now() - last_change > std::chrono::seconds(2);
        },
        drain_end);
    const double srv1 = ServerCpuS(pid);
    const double gen1 = ProcessCpuS();
    const int64_t rss = ServerRssKiB(pid);
    const int64_t sent = counters_.sent.load();
    const int64_t acked = counters_.acked.load();
    const int64_t delivered = counters_.deliveries.load();
    CloseAll();
    std::vector<int64_t> acks, deliveries;
    int64_t lateness = 0;
    for (auto& w : workers_) {
      acks.insert(acks.end(), w->ack_ns.begin(), w->ack_ns.end());
      deliveries.insert(deliveries.end(), w->delivery_ns.begin(),
                        w->delivery_ns.end());
      lateness = std::max(lateness, w->max_lateness_ns);
    }
    const double window_s = (t_last - start) / 1e9;
    (*result)["sent"] = sent;
    (*result)["planned"] = planned;
    (*result)["acked"] = acked;
    (*result)["change_errors"] = counters_.change_errors.load();
    (*result)["deliveries"] = delivered;
    (*result)["expected_deliveries"] = expected();
    (*result)["unexpected_closes"] = counters_.unexpected_close.load();
    (*result)["window_s"] = window_s;
    (*result)["send_window_s"] = (t_sent - start) / 1e9;
    (*result)["acks_per_s"] = acked / window_s;
    (*result)["deliveries_per_s"] = delivered / window_s;
    (*result)["ack"] = Summary(std::move(acks));
    (*result)["delivery"] = Summary(std::move(deliveries));
    (*result)["max_send_lateness_ms"] = lateness / 1e6;
    (*result)["generator_cpu_s"] = gen1 - gen0;
    (*result)["generator_cpu_pct"] = 100 * (gen1 - gen0) / window_s;
    (*result)["generator_decode_cpu_s"] = counters_.decode_cpu_ns.load() / 1e9;
    (*result)["decode_errors"] = counters_.decode_errors.load();
    if (srv0 >= 0 && srv1 >= 0) {
      (*result)["server_cpu_s"] = srv1 - srv0;
      (*result)["server_cpu_pct"] = 100 * (srv1 - srv0) / window_s;
      if (delivered > 0) {
        (*result)["server_cpu_us_per_delivery"] =
            1e6 * (srv1 - srv0) / delivered;
      }
      if (acked > 0) {
        (*result)["server_cpu_us_per_change"] = 1e6 * (srv1 - srv0) / acked;
      }
      (*result)["server_rss_kib_end"] = rss;
    }
  }

  // Closes every connection (bounded: 3 s), then stops the threads.
  void CloseAll() {
    if (threads_.empty()) return;
    for (auto& w : workers_) {
      asio::post(w->ioc(), [wp = w.get()] {
        for (auto& c : wp->clients()) c->Close();
      });
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    StopThreads();
  }

  void StopThreads() {
    for (auto& w : workers_) w->ioc().stop();
    for (std::thread& t : threads_) t.join();
    threads_.clear();
  }

  Config config_;
  Counters counters_;
  Clock::time_point deadline_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::shared_ptr<Client>> all_;
  std::vector<std::thread> threads_;
};

}  // namespace
}  // namespace lattice::load

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "lattice-load --mode=connect|roundtrip|idle --port=P --secret_file=S: "
      "load generator for lattice-server (bench/load/README.md)");
  absl::ParseCommandLine(argc, argv);
  lattice::load::Config config;
  config.mode = absl::GetFlag(FLAGS_mode);
  config.cursors = config.mode == "cursors";
  config.host = absl::GetFlag(FLAGS_host);
  config.port = absl::GetFlag(FLAGS_port);
  config.decode = absl::GetFlag(FLAGS_decode);
  config.presence_replica = absl::GetFlag(FLAGS_presence_replica);
  config.quickack = absl::GetFlag(FLAGS_quickack);
  config.hz = std::clamp(absl::GetFlag(FLAGS_hz), 0.1, 1000.0);
  config.duration_s = std::clamp(absl::GetFlag(FLAGS_duration_s), 0.1, 600.0);
  if (config.mode != "connect" && config.mode != "roundtrip" &&
      config.mode != "cursors" && config.mode != "idle") {
    std::cerr << "--mode must be connect, roundtrip, cursors or idle\n";
    return 2;
  }
  if (!lattice::load::IsLoopback127000(config.host)) {
    std::cerr << "refusing --host=" << config.host
              << ": only 127.0.0.x is allowed\n";
    return 2;
  }
  if (config.port == 0 || absl::GetFlag(FLAGS_secret_file).empty()) {
    std::cerr << "--port and --secret_file are required\n";
    return 2;
  }
  config.prefix = absl::GetFlag(FLAGS_room_prefix);
  if (config.prefix.empty()) {
    config.prefix =
        absl::StrCat("load-", getpid(), "-",
                     std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                             .count() %
                         100'000'000);
  }
  // Watchdog: the tool exits after --max_total_s whatever happens.
  const double max_total =
      std::clamp(absl::GetFlag(FLAGS_max_total_s), 1.0, 3600.0);
  std::thread([max_total] {
    std::this_thread::sleep_for(std::chrono::milliseconds(
        static_cast<int64_t>(max_total * 1000) + 10'000));
    std::cerr << "lattice-load: watchdog expired, exiting\n";
    std::_Exit(3);
  }).detach();
  return lattice::load::Run(std::move(config)).Main();
}
