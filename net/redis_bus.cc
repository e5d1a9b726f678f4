#include "net/redis_bus.h"

#include <algorithm>
#include <chrono>
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <vector>

#include <hiredis/hiredis.h>

#include "base/logging.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace lattice::net {
namespace {

constexpr std::chrono::milliseconds kFirstBackoff{100};
constexpr std::chrono::milliseconds kMaxBackoff{2000};
constexpr timeval kConnectTimeout{1, 0};
// A publisher that waits this long for Redis's answers reconnects.
constexpr timeval kPublishTimeout{5, 0};

struct ReplyDeleter {
  void operator()(redisReply* r) const { freeReplyObject(r); }
};
using Reply = std::unique_ptr<redisReply, ReplyDeleter>;

Reply GetReply(redisContext* c) {
  void* reply = nullptr;
  if (redisGetReply(c, &reply) != REDIS_OK) return nullptr;
  return Reply(static_cast<redisReply*>(reply));
}

// hiredis writes with write(2): a peer that has gone raises SIGPIPE, which
// would end the process. Blocked in the bus's own threads (SIGPIPE from a
// write goes to the writing thread), the write fails with EPIPE instead and
// the bus reconnects; the rest of the process keeps its own disposition.
void BlockSigpipeInThisThread() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

absl::string_view View(const redisReply* r) {
  return absl::string_view(r->str, r->len);
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisBus>> RedisBus::Start(
    RedisBusOptions options, MessageFn on_message, SubscribedFn on_subscribed) {
  if (options.pattern.empty()) {
    return absl::InvalidArgumentError("redis bus: empty channel pattern");
  }
  Address address;
  absl::string_view a = options.address;
  if (absl::ConsumePrefix(&a, "unix:")) {
    if (a.empty()) {
      return absl::InvalidArgumentError("redis address: empty socket path");
    }
    address.unix_path = std::string(a);
  } else {
    const size_t colon = a.rfind(':');
    uint32_t port = 0;
    if (colon == absl::string_view::npos || colon == 0 ||
        !absl::SimpleAtoi(a.substr(colon + 1), &port) || port == 0 ||
        port > 65535) {
      return absl::InvalidArgumentError(
          absl::StrCat("redis address '", options.address,
                       "': expected host:port or unix:/path/to/socket"));
    }
    address.host = std::string(a.substr(0, colon));
    address.port = static_cast<int>(port);
  }
  std::unique_ptr<RedisBus> bus(
      new RedisBus(std::move(options), std::move(address),
                   std::move(on_message), std::move(on_subscribed)));
  bus->subscriber_ = std::thread([b = bus.get()] { b->SubscribeLoop(); });
  bus->publisher_ = std::thread([b = bus.get()] { b->PublishLoop(); });
  return bus;
}

RedisBus::RedisBus(RedisBusOptions options, Address address,
                   MessageFn on_message, SubscribedFn on_subscribed)
    : options_(std::move(options)),
      address_(std::move(address)),
      on_message_(std::move(on_message)),
      on_subscribed_(std::move(on_subscribed)) {}

RedisBus::~RedisBus() { Stop(); }

void RedisBus::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    // Wakes a thread blocked in a read; it frees its own context.
    if (sub_conn_ != nullptr) ::shutdown(sub_conn_->fd, SHUT_RDWR);
    if (pub_conn_ != nullptr) ::shutdown(pub_conn_->fd, SHUT_RDWR);
    dropped_.fetch_add(queue_.size(), std::memory_order_relaxed);
    queue_.clear();
    queued_bytes_ = 0;
  }
  cv_.notify_all();
  if (subscriber_.joinable()) subscriber_.join();
  if (publisher_.joinable()) publisher_.join();
}

void RedisBus::Publish(std::string channel, std::string payload) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ ||
        queued_bytes_ + payload.size() > options_.max_queued_bytes) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    queued_bytes_ += payload.size();
    queue_.emplace_back(std::move(channel), std::move(payload));
  }
  cv_.notify_all();
}

RedisBusStats RedisBus::stats() const {
  RedisBusStats s;
  s.published = published_.load(std::memory_order_relaxed);
  s.dropped = dropped_.load(std::memory_order_relaxed);
  s.received = received_.load(std::memory_order_relaxed);
  s.connections = connections_.load(std::memory_order_relaxed);
  return s;
}

redisContext* RedisBus::Connect() const {
  redisContext* c =
      address_.unix_path.empty()
          ? redisConnectWithTimeout(address_.host.c_str(), address_.port,
                                    kConnectTimeout)
          : redisConnectUnixWithTimeout(address_.unix_path.c_str(),
                                        kConnectTimeout);
  if (c == nullptr) return nullptr;
  if (c->err != 0) {
    LATTICE_LOG(kWarning) << "redis " << options_.address << ": " << c->errstr;
    redisFree(c);
    return nullptr;
  }
  if (address_.unix_path.empty()) redisEnableKeepAlive(c);
  return c;
}

bool RedisBus::WaitToRetry(std::chrono::milliseconds& backoff) {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait_for(lock, backoff, [this] { return stopping_; });
  backoff = std::min(backoff * 2, kMaxBackoff);
  return !stopping_;
}

void RedisBus::SubscribeLoop() {
  BlockSigpipeInThisThread();
  auto backoff = kFirstBackoff;
  while (true) {
    redisContext* c = Connect();
    if (c != nullptr) {
      bool registered = false;
      {
        std::lock_guard<std::mutex> lock(mu_);
        registered = !stopping_;
        if (registered) sub_conn_ = c;
      }
      if (registered) {
        ReadMessages(c);
        subscribed_.store(false, std::memory_order_release);
        std::lock_guard<std::mutex> lock(mu_);
        sub_conn_ = nullptr;
      }
      redisFree(c);
      backoff = kFirstBackoff;
    }
    if (!WaitToRetry(backoff)) return;
  }
}

void RedisBus::ReadMessages(redisContext* c) {
  const char* argv[] = {"PSUBSCRIBE", options_.pattern.c_str()};
  const size_t lens[] = {10, options_.pattern.size()};
  Reply confirm(static_cast<redisReply*>(redisCommandArgv(c, 2, argv, lens)));
  if (confirm == nullptr || confirm->type != REDIS_REPLY_ARRAY) {
    LATTICE_LOG(kWarning) << "redis " << options_.address
                          << ": PSUBSCRIBE failed: "
                          << (c->err != 0 ? c->errstr : "unexpected reply");
    return;
  }
  subscribed_.store(true, std::memory_order_release);
  connections_.fetch_add(1, std::memory_order_relaxed);
  LATTICE_LOG(kInfo) << "redis " << options_.address << ": subscribed to "
                     << options_.pattern;
  if (on_subscribed_) on_subscribed_();
  while (Reply r = GetReply(c)) {
    // ["pmessage", pattern, channel, payload]
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 4 ||
        r->element[2]->type != REDIS_REPLY_STRING ||
        r->element[3]->type != REDIS_REPLY_STRING ||
        View(r->element[0]) != "pmessage") {
      continue;
    }
    received_.fetch_add(1, std::memory_order_relaxed);
    if (on_message_) on_message_(View(r->element[2]), View(r->element[3]));
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!stopping_) {
    LATTICE_LOG(kWarning) << "redis " << options_.address
                          << ": subscription lost: " << c->errstr;
  }
}

void RedisBus::PublishLoop() {
  BlockSigpipeInThisThread();
  auto backoff = kFirstBackoff;
  redisContext* c = nullptr;
  std::vector<std::pair<std::string, std::string>> batch;
  while (true) {
    if (c == nullptr) {
      c = Connect();
      if (c == nullptr) {
        if (!WaitToRetry(backoff)) return;
        continue;
      }
      redisSetTimeout(c, kPublishTimeout);
      std::lock_guard<std::mutex> lock(mu_);
      if (stopping_) break;
      pub_conn_ = c;
      backoff = kFirstBackoff;
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (stopping_) break;
      batch.assign(std::make_move_iterator(queue_.begin()),
                   std::make_move_iterator(queue_.end()));
      queue_.clear();
      queued_bytes_ = 0;
    }
    // Pipelined: every command out, then every answer in.
    bool ok = true;
    for (const auto& [channel, payload] : batch) {
      const char* argv[] = {"PUBLISH", channel.data(), payload.data()};
      const size_t lens[] = {7, channel.size(), payload.size()};
      if (redisAppendCommandArgv(c, 3, argv, lens) != REDIS_OK) ok = false;
    }
    size_t answered = 0;
    for (; ok && answered < batch.size(); ++answered) {
      Reply r = GetReply(c);
      if (r == nullptr) ok = false;
    }
    published_.fetch_add(answered, std::memory_order_relaxed);
    if (!ok) {
      dropped_.fetch_add(batch.size() - answered, std::memory_order_relaxed);
      {
        std::lock_guard<std::mutex> lock(mu_);
        pub_conn_ = nullptr;
        if (!stopping_) {
          LATTICE_LOG(kWarning) << "redis " << options_.address
                                << ": publish failed: " << c->errstr;
        }
      }
      redisFree(c);
      c = nullptr;
      if (!WaitToRetry(backoff)) return;
    }
    batch.clear();
  }
  std::lock_guard<std::mutex> lock(mu_);
  pub_conn_ = nullptr;
  if (c != nullptr) redisFree(c);
}

}  // namespace lattice::net
