// The write load both crash tests apply: a few threads appending tagged
// batches to a few rooms, and one thread writing snapshots (which trim the
// log), each reporting an acknowledgement only after its call returned OK.
#ifndef LATTICE_TESTS_STORAGE_CRASH_WORKLOAD_H_
#define LATTICE_TESTS_STORAGE_CRASH_WORKLOAD_H_

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "storage/room_store.h"
#include "tests/storage/crash_oracle.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lattice::storage::testing {

struct Ack {
  enum class Kind { kAppend, kSnapshot } kind = Kind::kAppend;
  std::string room;
  Epoch epoch = 0;
  Seq first = 0;  // kSnapshot: the snapshot seq
  Seq last = 0;
  std::string tag;

  std::string ToLine() const {
    return kind == Kind::kAppend
               ? absl::StrCat("A ", room, " ", epoch, " ", first, " ", last,
                              " ", tag, "\n")
               : absl::StrCat("S ", room, " ", epoch, " ", first, "\n");
  }
  // Parses ToLine() output (without the newline); false if malformed.
  bool Parse(const std::string& line) {
    std::vector<std::string> f = absl::StrSplit(line, ' ');
    if (f.size() == 6 && f[0] == "A") {
      kind = Kind::kAppend;
      tag = f[5];
      last = std::stoull(f[4]);
    } else if (f.size() == 4 && f[0] == "S") {
      kind = Kind::kSnapshot;
    } else {
      return false;
    }
    room = f[1];
    epoch = std::stoull(f[2]);
    first = std::stoull(f[3]);
    return true;
  }
  absl::Status RecordIn(AckedHistory& history) const {
    if (kind == Kind::kSnapshot) {
      history.RecordSnapshot(room, first);
      return absl::OkStatus();
    }
    return history.RecordAppend(room, epoch, first, last, tag);
  }
};

struct WorkloadOptions {
  int writer_threads = 4;
  int rooms = 4;
  bool snapshots = true;
  uint64_t seed = 1;
};

// Runs the load until `stop` is set or, per thread, a call fails (after a
// simulated crash every call fails). Calls `on_ack` from the worker threads.
inline void RunWorkload(RoomStore& store, const WorkloadOptions& options,
                        std::atomic<bool>& stop,
                        const std::function<void(const Ack&)>& on_ack) {
  std::vector<std::thread> threads;
  for (int t = 0; t < options.writer_threads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(options.seed * 1000 + static_cast<uint64_t>(t));
      for (uint64_t counter = 0; !stop.load(); ++counter) {
        Ack ack;
        ack.room =
            absl::StrCat("room-", rng() % static_cast<uint64_t>(options.rooms));
        ack.tag = absl::StrCat("s", options.seed, "t", t, "c", counter);
        const uint64_t n = 1 + rng() % 4;
        std::vector<std::string> changes;
        for (uint64_t i = 0; i < n; ++i)
          changes.push_back(ChangePayload(ack.tag, i));
        std::vector<absl::string_view> views(changes.begin(), changes.end());
        auto r = store.Append(ack.room, views);
        if (!r.ok()) return;
        ack.epoch = r->epoch;
        ack.first = r->first_seq;
        ack.last = r->last_seq;
        on_ack(ack);
      }
    });
  }
  if (options.snapshots) {
    threads.emplace_back([&] {
      std::mt19937_64 rng(options.seed * 1000 + 999);
      while (!stop.load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
        Ack ack;
        ack.kind = Ack::Kind::kSnapshot;
        ack.room =
            absl::StrCat("room-", rng() % static_cast<uint64_t>(options.rooms));
        auto info = store.GetRoomInfo(ack.room);
        if (!info.ok()) {
          if (absl::IsNotFound(info.status())) continue;  // not created yet
          return;
        }
        ack.epoch = info->epoch;
        ack.first = info->last_seq;
        auto s = store.WriteSnapshot(ack.room, ack.epoch, ack.first,
                                     SnapshotPayload(ack.room, ack.first));
        if (!s.ok()) return;
        on_ack(ack);
      }
    });
  }
  for (auto& th : threads) th.join();
}

}  // namespace lattice::storage::testing

#endif  // LATTICE_TESTS_STORAGE_CRASH_WORKLOAD_H_
