#include "engine/engine_stats.h"

#include <iterator>

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

constexpr const char* kPaths[] = {"none", "tail", "version", "snapshot"};

// A label value as the text format wants it: \, \" and \n escaped.
std::string LabelValue(absl::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\' || c == '"') out.push_back('\\');
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out.push_back(c);
  }
  return out;
}

}  // namespace

void AppendPrometheus(const EngineStats& s, std::string* out) {
  Counter(out, "lattice_sessions_open", "WebSocket sessions open", "gauge",
          Get(s.sessions_open));
  Counter(out, "lattice_rooms_loaded", "rooms loaded in memory", "gauge",
          Get(s.rooms_loaded));
  Counter(out, "lattice_changes_applied_total", "changes applied and persisted",
          "counter", Get(s.changes_applied));
  Counter(out, "lattice_server_edits_total",
          "changes made by the backend (HTTP API)", "counter",
          Get(s.server_edits));
  Counter(out, "lattice_events_delivered_total",
          "event frames handed to connections", "counter",
          Get(s.events_delivered));
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

void AppendRoomPrometheus(
    const std::vector<std::pair<std::string, RoomStatsSample>>& rooms,
    std::string* out) {
  struct Series {
    const char* name;
    const char* type;
    const char* help;
    double (*value)(const RoomStatsSample&);
  };
  static constexpr Series kSeries[] = {
      {"lattice_room_members", "gauge", "members of a busiest room",
       [](const RoomStatsSample& s) { return double(s.members); }},
      {"lattice_room_fanout_per_second", "gauge",
       "update frames delivered per second (last complete 10 s window)",
       [](const RoomStatsSample& s) { return s.deliveries_per_second; }},
      {"lattice_room_deliveries_total", "counter",
       "update frames delivered to members since the room loaded",
       [](const RoomStatsSample& s) { return double(s.deliveries); }},
      {"lattice_room_bytes_out_total", "counter", "bytes of those frames",
       [](const RoomStatsSample& s) { return double(s.bytes_out); }},
      {"lattice_room_changes_total", "counter",
       "changes persisted since the room loaded",
       [](const RoomStatsSample& s) { return double(s.changes); }},
  };
  if (rooms.empty()) return;
  std::vector<std::string> labels;
  labels.reserve(rooms.size());
  for (const auto& [name, sample] : rooms)
    labels.push_back(absl::StrCat("room=\"", LabelValue(name), "\""));
  for (const Series& series : kSeries) {
    absl::StrAppend(out, "# HELP ", series.name, " ", series.help, "\n# TYPE ",
                    series.name, " ", series.type, "\n");
    for (size_t i = 0; i < rooms.size(); ++i) {
      absl::StrAppend(out, series.name, "{", labels[i], "} ",
                      series.value(rooms[i].second), "\n");
    }
  }
  absl::StrAppend(out,
                  "# HELP lattice_room_joins_total joins of a busiest room by "
                  "catch-up path\n# TYPE lattice_room_joins_total counter\n");
  for (size_t i = 0; i < rooms.size(); ++i) {
    for (size_t p = 0; p < std::size(kPaths); ++p) {
      absl::StrAppend(out, "lattice_room_joins_total{", labels[i], ",path=\"",
                      kPaths[p], "\"} ", rooms[i].second.joins_by_path[p],
                      "\n");
    }
  }
}

}  // namespace lattice::engine
