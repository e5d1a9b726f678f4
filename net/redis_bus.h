// RedisBus: publish/subscribe through one Redis server, the fan-out between
// Lattice nodes (engine/cluster/cluster.h). Like socket.io's Redis adapter,
// every node subscribes to one channel pattern and drops what it has no use
// for; Redis pub/sub is fire-and-forget, so whoever relies on the bus repairs
// what a reconnect lost (the engine's rooms exchange version vectors).
//
// Two connections, each on a thread of its own with hiredis's blocking API:
// the subscriber reads PSUBSCRIBE messages and hands them to `on_message`;
// the publisher pipelines whatever Publish queued since its last round trip.
// Both reconnect with backoff (100 ms doubling to 2 s) until Stop, so a node
// starts and keeps serving while Redis is away.
//
//   RedisBusOptions o{.address = "127.0.0.1:6379", .pattern = "lattice:*"};
//   auto bus = RedisBus::Start(o, on_message, on_subscribed);
//   (*bus)->Publish("lattice:room:a", bytes);
//   ...
//   (*bus)->Stop();
//
// Thread safety: Publish, subscribed and stats may be called from any
// thread; Stop from the owner's. The callbacks run on the subscriber thread,
// one at a time, and must not block (post the work elsewhere) nor call Stop.
#ifndef LATTICE_NET_REDIS_BUS_H_
#define LATTICE_NET_REDIS_BUS_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

struct redisContext;

namespace lattice::net {

struct RedisBusOptions {
  // "host:port" (TCP) or "unix:/path/to/socket".
  std::string address;
  // The channels to receive, as a PSUBSCRIBE glob ("lattice:*").
  std::string pattern;
  // Publishes waiting for the publisher beyond this many payload bytes are
  // dropped (and counted): a node never buffers without bound while Redis
  // is away. Default: 64 MiB
  uint64_t max_queued_bytes = uint64_t{64} << 20;
};

struct RedisBusStats {
  uint64_t published = 0;    // PUBLISH commands Redis answered
  uint64_t dropped = 0;      // queued publishes lost (queue full, errors)
  uint64_t received = 0;     // messages handed to on_message
  uint64_t connections = 0;  // successful subscriber (re)connections
};

class RedisBus {
 public:
  // Runs on the subscriber thread for every message of a matching channel;
  // may be empty (a bus that only publishes).
  using MessageFn =
      std::function<void(absl::string_view channel, absl::string_view payload)>;
  // Runs on the subscriber thread after every (re)subscription: messages
  // published while the bus was away are lost, and this is the cue to
  // repair them.
  using SubscribedFn = std::function<void()>;

  // Starts both threads; Redis need not be up yet.
  // Errors: InvalidArgument for an unusable address or empty pattern.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RedisBus>> Start(
      RedisBusOptions options, MessageFn on_message,
      SubscribedFn on_subscribed);
  ~RedisBus();  // Stop()
  RedisBus(const RedisBus&) = delete;
  RedisBus& operator=(const RedisBus&) = delete;

  // Queues a PUBLISH; never blocks on Redis. Dropped (counted) when the
  // queue is full or the bus has stopped.
  void Publish(std::string channel, std::string payload);

  // Whether the subscriber holds a live subscription now.
  bool subscribed() const {
    return subscribed_.load(std::memory_order_acquire);
  }
  RedisBusStats stats() const;

  // Closes both connections and joins the threads; what is still queued is
  // dropped. Idempotent. Must not be called from a callback.
  void Stop();

 private:
  struct Address {
    std::string host;  // empty for a unix socket
    int port = 0;
    std::string unix_path;
  };
  RedisBus(RedisBusOptions options, Address address, MessageFn on_message,
           SubscribedFn on_subscribed);

  redisContext* Connect() const;
  // Sleeps `backoff` (or until Stop) and doubles it up to 2 s; false once
  // stopping.
  bool WaitToRetry(std::chrono::milliseconds& backoff);
  void SubscribeLoop();
  // Reads messages until the connection fails or Stop shuts it down.
  void ReadMessages(redisContext* c);
  void PublishLoop();

  const RedisBusOptions options_;
  const Address address_;
  const MessageFn on_message_;
  const SubscribedFn on_subscribed_;

  std::mutex mu_;  // guards everything below up to the threads
  std::condition_variable cv_;
  bool stopping_ = false;
  // The publisher's queue. A mutex and not a lock-free queue: one short
  // uncontended lock per publish against a Redis round trip per batch.
  std::deque<std::pair<std::string, std::string>> queue_;
  uint64_t queued_bytes_ = 0;
  // The live connections, so that Stop can shut their sockets down and
  // wake a thread blocked in a read.
  redisContext* sub_conn_ = nullptr;
  redisContext* pub_conn_ = nullptr;

  std::atomic<bool> subscribed_{false};
  std::atomic<uint64_t> published_{0};
  std::atomic<uint64_t> dropped_{0};
  std::atomic<uint64_t> received_{0};
  std::atomic<uint64_t> connections_{0};

  std::thread subscriber_;
  std::thread publisher_;
};

}  // namespace lattice::net

#endif  // LATTICE_NET_REDIS_BUS_H_
