// RoomStats: the figures of one loaded room that GET /metrics reports for the
// busiest rooms (members, fan-out rate, bytes, catch-up paths).
//
// Thread safety: the room's strand is the only writer; any thread may call
// Sample() (relaxed atomics: a sample may mix values a few operations
// apart, which is fine for monitoring).
#ifndef LATTICE_ENGINE_ROOM_ROOM_STATS_H_
#define LATTICE_ENGINE_ROOM_ROOM_STATS_H_

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>

namespace lattice::engine {

// A plain copy of RoomStats at one moment.
struct RoomStatsSample {
  uint64_t members = 0;
  uint64_t changes = 0;     // changes persisted since the room loaded
  uint64_t deliveries = 0;  // update frames sent to members (fan-out)
  uint64_t bytes_out = 0;   // bytes of those frames
  // Deliveries per second over the last complete window (kRateWindow).
  double deliveries_per_second = 0;
  std::array<uint64_t, 4> joins_by_path{};  // by protocol::SyncPath
};

class RoomStats {
 public:
  // The fan-out rate is counted in fixed windows of this length; the rate
  // reported is that of the last complete one, so a room that went quiet
  // drops out of the busiest list within two windows.
  static constexpr std::chrono::seconds kRateWindow{10};

  void SetMembers(uint64_t n) { members_.store(n, kRelaxed); }
  void AddChange() { Add(changes_, 1); }
  void AddJoin(size_t path) { Add(joins_by_path_[path], 1); }
  // `frames` frames of `bytes_each` bytes sent at `now`.
  void AddDeliveries(uint64_t frames, uint64_t bytes_each,
                     std::chrono::steady_clock::time_point now) {
    Add(deliveries_, frames);
    Add(bytes_out_, frames * bytes_each);
    const int64_t w = Window(now);
    const int64_t current = window_.load(kRelaxed);
    if (w != current) {
      window_previous_.store(
          w == current + 1 ? window_count_.load(kRelaxed) : 0, kRelaxed);
      window_count_.store(0, kRelaxed);
      window_.store(w, kRelaxed);
    }
    Add(window_count_, frames);
  }

  RoomStatsSample Sample(std::chrono::steady_clock::time_point now) const {
    RoomStatsSample s;
    s.members = members_.load(kRelaxed);
    s.changes = changes_.load(kRelaxed);
    s.deliveries = deliveries_.load(kRelaxed);
    s.bytes_out = bytes_out_.load(kRelaxed);
    for (size_t i = 0; i < s.joins_by_path.size(); ++i)
      s.joins_by_path[i] = joins_by_path_[i].load(kRelaxed);
    // The last complete window is the writer's current one once it has
    // ended, else the one before it.
    const int64_t w = window_.load(kRelaxed);
    const int64_t now_w = Window(now);
    uint64_t complete = 0;
    if (now_w == w + 1) complete = window_count_.load(kRelaxed);
    if (now_w == w) complete = window_previous_.load(kRelaxed);
    s.deliveries_per_second = static_cast<double>(complete) /
                              static_cast<double>(kRateWindow.count());
    return s;
  }

 private:
  static constexpr std::memory_order kRelaxed = std::memory_order_relaxed;
  static void Add(std::atomic<uint64_t>& a, uint64_t n) {
    // One writer: a load and a store, not a locked read-modify-write.
    a.store(a.load(kRelaxed) + n, kRelaxed);
  }
  static int64_t Window(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::seconds>(
               t.time_since_epoch())
               .count() /
           kRateWindow.count();
  }

  std::atomic<uint64_t> members_{0};
  std::atomic<uint64_t> changes_{0};
  std::atomic<uint64_t> deliveries_{0};
  std::atomic<uint64_t> bytes_out_{0};
  std::array<std::atomic<uint64_t>, 4> joins_by_path_{};
  std::atomic<int64_t> window_{0};
  std::atomic<uint64_t> window_count_{0};
  std::atomic<uint64_t> window_previous_{0};
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_ROOM_ROOM_STATS_H_
