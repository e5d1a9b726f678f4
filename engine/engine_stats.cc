#include "engine/engine_stats.h"

#include "absl/strings/str_cat.h"

namespace lattice::engine {
namespace {

void Counter(std::string* out, absl::string_view name, absl::string_view help,
             absl::string_view type, uint64_t value) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type,
                  "\n", name, " ", value, "\n");
}

uint64_t Get(const std::atomic<uint64_t>& a) {
  return a.load(std::memory_order_relaxed);
}

}  // namespace

void AppendPrometheus(const EngineStats& s, std::string* out) {
  Counter(out, "lattice_sessions_open", "WebSocket sessions open", "gauge",
          Get(s.sessions_open));
  Counter(out, "lattice_rooms_loaded", "rooms loaded in memory", "gauge",
          Get(s.rooms_loaded));
  Counter(out, "lattice_changes_applied_total", "changes applied and persisted",
          "counter", Get(s.changes_applied));
  Counter(out, "lattice_changes_duplicate_total",
          "changes that brought nothing new (acked, not persisted)", "counter",
          Get(s.changes_duplicate));
  Counter(out, "lattice_broadcast_frames_total",
          "update frames broadcast (each encoded once)", "counter",
          Get(s.broadcast_frames));
  Counter(out, "lattice_snapshots_written_total", "room snapshots written",
          "counter", Get(s.snapshots_written));
  Counter(out, "lattice_errors_total", "error frames sent", "counter",
          Get(s.errors));
  static constexpr const char* kPaths[] = {"none", "tail", "version",
                                           "snapshot"};
  absl::StrAppend(out,
                  "# HELP lattice_joins_total joins by catch-up path\n"
                  "# TYPE lattice_joins_total counter\n");
  for (size_t i = 0; i < s.joins_by_path.size(); ++i) {
    absl::StrAppend(out, "lattice_joins_total{path=\"", kPaths[i], "\"} ",
                    Get(s.joins_by_path[i]), "\n");
  }
  absl::StrAppend(
      out,
      "# HELP lattice_ack_latency_seconds change received to "
      "durable ack\n# TYPE lattice_ack_latency_seconds histogram\n");
  uint64_t cumulative = 0;
  for (size_t i = 0; i < s.ack_latency.size(); ++i) {
    cumulative += Get(s.ack_latency[i]);
    const std::string le =
        i < EngineStats::kAckBucketsUs.size()
            ? absl::StrCat(EngineStats::kAckBucketsUs[i] / 1e6)
            : "+Inf";
    absl::StrAppend(out, "lattice_ack_latency_seconds_bucket{le=\"", le, "\"} ",
                    cumulative, "\n");
  }
  absl::StrAppend(out, "lattice_ack_latency_seconds_sum ",
                  Get(s.ack_latency_sum_us) / 1e6, "\n",
                  "lattice_ack_latency_seconds_count ", cumulative, "\n");
}

}  // namespace lattice::engine
