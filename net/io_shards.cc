#include "net/io_shards.h"

#include <cassert>

#include <boost/asio/executor_work_guard.hpp>

#include "absl/hash/hash.h"

namespace lattice::net {

IoShards::IoShards(int count) {
  assert(count >= 1);
  for (int i = 0; i < count; ++i) {
    // Concurrency hint 1: one thread runs it, so Asio may skip cross-thread
    // wake-ups for work posted from that thread.
    contexts_.push_back(std::make_unique<ShardContext>(1));
  }
}

IoShards::~IoShards() {
  Stop();
  Join();
  // Destroying shard 0 first once freed a WebSocket session from a timer
  // handler of shard 1 whose server state's timer lived on shard 0 (ASan,
  // heap-use-after-free in Node's destructor). Shut down first, every shard
  // still exists while the abandoned handlers go.
  for (auto& context : contexts_) context->shutdown();
}

boost::asio::io_context& IoShards::Next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) %
                    contexts_.size()];
}

boost::asio::io_context& IoShards::ForKey(absl::string_view key) {
  return *contexts_[absl::HashOf(key) % contexts_.size()];
}

void IoShards::Start() {
  for (auto& context : contexts_) {
    threads_.emplace_back([ioc = context.get()] {
      auto guard = boost::asio::make_work_guard(*ioc);
      ioc->run();
    });
  }
}

void IoShards::Stop() {
  for (auto& context : contexts_) context->stop();
}

void IoShards::Join() {
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

}  // namespace lattice::net
