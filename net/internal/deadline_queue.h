// The deadlines of a server's connections on one timer, at tick resolution.
// A WebSocket needs one deadline at a time (its next idle check, or the end
// of its close handshake); a timer of its own with a pending wait was
// ~0.35 KiB, a tenth of an idle connection, where an entry here is a weak
// pointer.
//
// A deadline cannot be cancelled: when it is due the connection's
// OnDeadline is called, and the connection ignores one it no longer wants
// (it keeps its own due time). A deadline fires at most one tick late,
// never early.
//
// Thread safety: Schedule and Clear are safe from any thread. OnDeadline is
// called on `strand`, outside the queue's lock.
#ifndef LATTICE_NET_INTERNAL_DEADLINE_QUEUE_H_
#define LATTICE_NET_INTERNAL_DEADLINE_QUEUE_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/synchronization/mutex.h"

namespace lattice::net::internal {

class ServerConnection;

class DeadlineQueue : public std::enable_shared_from_this<DeadlineQueue> {
 public:
  using Clock = std::chrono::steady_clock;
  using Strand = boost::asio::strand<boost::asio::io_context::executor_type>;

  // REQUIRES: tick > 0.
  DeadlineQueue(Strand strand, Clock::duration tick);
  DeadlineQueue(const DeadlineQueue&) = delete;
  DeadlineQueue& operator=(const DeadlineQueue&) = delete;

  // Calls conn->OnDeadline() at `due` (rounded up to a tick) if `conn` is
  // still alive then.
  void Schedule(Clock::time_point due, std::weak_ptr<ServerConnection> conn);
  // Forgets every deadline and stops the timer, so that an io_context
  // without connections runs out of work.
  void Clear();

 private:
  void Arm(int64_t slot);
  // Sets the timer for `slot` (on strand_).
  void Wait(int64_t slot);
  void OnTimer(boost::system::error_code ec);

  // Immutable after construction.
  const Clock::time_point epoch_;
  const Clock::duration tick_;

  // Confined to strand_.
  Strand strand_;
  boost::asio::steady_timer timer_;

  absl::Mutex mu_;
  // Deadlines by tick number since epoch_.
  absl::btree_map<int64_t, std::vector<std::weak_ptr<ServerConnection>>> slots_
      ABSL_GUARDED_BY(mu_);
  // The tick the timer is set for, or being set for; INT64_MAX: none.
  int64_t armed_slot_ ABSL_GUARDED_BY(mu_) = INT64_MAX;
};

}  // namespace lattice::net::internal

#endif  // LATTICE_NET_INTERNAL_DEADLINE_QUEUE_H_
