// Thread shards: N io_contexts, each run by one thread of its own.
//
// Why not one io_context run by N threads: then every handler posted to a
// strand goes through the shared queue and wakes an idle thread, so a room's
// fan-out bounced between the threads. On the 2-core VM that cost 1.28 us of
// server CPU per cursor delivered (1 room x 50 x 20 Hz) against 0.74 us with
// a single thread, mostly in context switches (perf: finish_task_switch at
// 47% of the server's cycles). A single-threaded io_context keeps work that
// stays on its thread in a private queue, and a post from another shard
// wakes its thread once per burst, not once per handler.
//
//   net::IoShards shards(4);
//   HttpServerOptions o;
//   o.connection_context = [&]() -> boost::asio::io_context& {
//     return shards.Next();
//   };
//   ... shards.Start(); ... shards.Stop(); shards.Join();
//
// Thread safety: Next, ForKey, at and size may be called from any thread.
// Start, Stop and Join are for the owner's thread; Join must not run on a
// shard's thread.
#ifndef LATTICE_NET_IO_SHARDS_H_
#define LATTICE_NET_IO_SHARDS_H_

#include <atomic>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "absl/strings/string_view.h"

namespace lattice::net {

class IoShards {
 public:
  // REQUIRES: count >= 1.
  explicit IoShards(int count);
  // Stops and joins the threads, then destroys the handlers not yet run on
  // every shard before it destroys any shard: a handler may hold the last
  // reference to an object with a timer or socket on another shard.
  ~IoShards();
  IoShards(const IoShards&) = delete;
  IoShards& operator=(const IoShards&) = delete;

  size_t size() const { return contexts_.size(); }
  boost::asio::io_context& at(size_t i) { return *contexts_[i]; }
  // The shards in turn: for a new connection.
  boost::asio::io_context& Next();
  // The shard of `key`, the same for the process' lifetime: for a room.
  boost::asio::io_context& ForKey(absl::string_view key);

  // Runs each io_context on a thread of its own until Stop.
  void Start();
  // Stops every io_context; handlers not yet run are abandoned.
  void Stop();
  // Waits for the threads to end.
  void Join();

 private:
  // An io_context whose services can be shut down on their own (see
  // ~IoShards).
  class ShardContext : public boost::asio::io_context {
   public:
    using boost::asio::execution_context::shutdown;
    using io_context::io_context;
  };

  std::vector<std::unique_ptr<ShardContext>> contexts_;
  std::vector<std::thread> threads_;
  std::atomic<size_t> next_{0};
};

}  // namespace lattice::net

#endif  // LATTICE_NET_IO_SHARDS_H_
