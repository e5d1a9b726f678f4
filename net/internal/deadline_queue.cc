#include "net/internal/deadline_queue.h"

#include <utility>

#include <boost/asio/error.hpp>
#include <boost/asio/post.hpp>

#include "net/internal/server_state.h"

namespace lattice::net::internal {

namespace asio = boost::asio;

DeadlineQueue::DeadlineQueue(Strand strand, Clock::duration tick)
    : epoch_(Clock::now()), tick_(tick), strand_(strand), timer_(strand) {}

void DeadlineQueue::Schedule(Clock::time_point due,
                             std::weak_ptr<ServerConnection> conn) {
  // Rounded up: a deadline never fires early.
  const int64_t slot = (due - epoch_ + tick_ - Clock::duration(1)) / tick_;
  bool arm = false;
  {
    absl::MutexLock lock(&mu_);
    slots_[slot].push_back(std::move(conn));
    if (slot < armed_slot_) {
      armed_slot_ = slot;
      arm = true;
    }
  }
  if (arm) {
    asio::post(strand_, [self = shared_from_this(), slot] { self->Arm(slot); });
  }
}

void DeadlineQueue::Clear() {
  {
    absl::MutexLock lock(&mu_);
    slots_.clear();
    armed_slot_ = INT64_MAX;
  }
  asio::post(strand_, [self = shared_from_this()] {
    absl::MutexLock lock(&self->mu_);
    // Unless a deadline was scheduled since.
    if (self->armed_slot_ == INT64_MAX) self->timer_.cancel();
  });
}

void DeadlineQueue::Arm(int64_t slot) {
  {
    absl::MutexLock lock(&mu_);
    // An earlier slot was scheduled after this post: its Arm follows.
    if (armed_slot_ != slot) return;
  }
  Wait(slot);
}

void DeadlineQueue::Wait(int64_t slot) {
  timer_.expires_at(epoch_ + slot * tick_);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    self->OnTimer(ec);
  });
}

void DeadlineQueue::OnTimer(boost::system::error_code ec) {
  if (ec == asio::error::operation_aborted) return;  // re-armed or cleared
  const int64_t now_slot = (Clock::now() - epoch_) / tick_;
  std::vector<std::weak_ptr<ServerConnection>> due;
  int64_t next = INT64_MAX;
  {
    absl::MutexLock lock(&mu_);
    while (!slots_.empty() && slots_.begin()->first <= now_slot) {
      auto& entries = slots_.begin()->second;
      if (due.empty()) {
        due = std::move(entries);
      } else {
        due.insert(due.end(), entries.begin(), entries.end());
      }
      slots_.erase(slots_.begin());
    }
    if (!slots_.empty()) next = slots_.begin()->first;
    armed_slot_ = next;
  }
  if (next != INT64_MAX) Wait(next);
  for (const auto& weak : due) {
    if (auto conn = weak.lock()) conn->OnDeadline();
  }
}

}  // namespace lattice::net::internal
