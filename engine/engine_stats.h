// Counters of the sync engine, for GET /metrics. Updated with relaxed atomics
// from any strand; read from any thread.
//
// Thread safety: safe for concurrent use.
#ifndef LATTICE_ENGINE_ENGINE_STATS_H_
#define LATTICE_ENGINE_ENGINE_STATS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/protocol/frames.h"
#include "engine/room/room_stats.h"

namespace lattice::engine {

struct EngineStats {
  std::atomic<uint64_t> sessions_open{0};
  std::atomic<uint64_t> rooms_loaded{0};
  std::atomic<uint64_t> changes_applied{0};
  std::atomic<uint64_t> changes_duplicate{0};
  std::atomic<uint64_t> broadcast_frames{0};
  std::atomic<uint64_t> snapshots_written{0};
  // Changes made by the backend (HTTP API), also in changes_applied.
  std::atomic<uint64_t> server_edits{0};
  // Event frames handed to connections (room and user events).
  std::atomic<uint64_t> events_delivered{0};
  // Joins by protocol::SyncPath.
  std::array<std::atomic<uint64_t>, 4> joins_by_path{};
  // Errors sent, by code (see docs/protocol.md); "other" for the rest.
  std::atomic<uint64_t> errors{0};
  // Ack latency (change received -> ack sent) histogram, microseconds,
  // buckets <= 250us, 500us, 1ms, 2.5ms, 5ms, 10ms, 25ms, 50ms, 100ms, +Inf.
  static constexpr std::array<uint64_t, 9> kAckBucketsUs = {
      250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000};
  std::array<std::atomic<uint64_t>, 10> ack_latency{};
  std::atomic<uint64_t> ack_latency_sum_us{0};

  void RecordAck(uint64_t micros) {
    size_t i = 0;
    while (i < kAckBucketsUs.size() && micros > kAckBucketsUs[i]) ++i;
    ack_latency[i].fetch_add(1, std::memory_order_relaxed);
    ack_latency_sum_us.fetch_add(micros, std::memory_order_relaxed);
  }
};

// Appends the engine's counters in Prometheus text format.
void AppendPrometheus(const EngineStats& stats, std::string* out);

// Appends per-room series (label room="<name>", escaped) for `rooms`.
void AppendRoomPrometheus(
    const std::vector<std::pair<std::string, RoomStatsSample>>& rooms,
    std::string* out);

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_ENGINE_STATS_H_
