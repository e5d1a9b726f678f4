// The oracle shared by the crash tests (kill -9 and power loss): what a writer
// was told (acknowledged appends and snapshots) and the check that a reopened
// store still holds all of it, intact, with no holes and no torn snapshot.
//
// Payloads are a pure function of a writer-chosen tag, so every acknowledged
// change can be verified byte for byte after the crash.
#ifndef LATTICE_TESTS_STORAGE_CRASH_ORACLE_H_
#define LATTICE_TESTS_STORAGE_CRASH_ORACLE_H_

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>

#include "storage/room_store.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lattice::storage::testing {

// The i-th change of the batch tagged `tag`: 20-90 bytes.
inline std::string ChangePayload(const std::string& tag, uint64_t i) {
  std::string p = absl::StrCat(tag, ":", i, ":");
  p.append(static_cast<size_t>((tag.size() * 7 + i * 13) % 64), 'x');
  return p;
}

// Snapshot bytes for (room, seq): deterministic, a few hundred bytes to ~4 KB.
inline std::string SnapshotPayload(const std::string& room, Seq seq) {
  std::string s = absl::StrCat("snapshot:", room, ":", seq, ":");
  s.append(static_cast<size_t>(seq % 4000), static_cast<char>('a' + seq % 26));
  return s;
}

class AckedHistory {
 public:
  // Records an acknowledged Append. Errors: Internal when the epoch of a
  // room changed (no test here ever deletes or restores a room).
  absl::Status RecordAppend(const std::string& room, Epoch epoch, Seq first,
                            Seq last, const std::string& tag) {
    Room& r = rooms_[room];
    if (r.epoch != 0 && r.epoch != epoch) {
      return absl::InternalError(absl::StrCat("room ", room, ": epoch changed ",
                                              r.epoch, " -> ", epoch));
    }
    r.epoch = epoch;
    for (Seq s = first; s <= last; ++s) {
      r.changes[s] = ChangePayload(tag, s - first);
    }
    ++appends_;
    return absl::OkStatus();
  }
  void RecordSnapshot(const std::string& room, Seq seq) {
    Room& r = rooms_[room];
    r.snapshot_seq = std::max(r.snapshot_seq, seq);
  }
  uint64_t appends() const { return appends_; }

  // Checks `store` against everything acknowledged so far: same epoch; the
  // log has no holes or corrupt records; every acknowledged change above the
  // trim point is present with its exact bytes; the snapshot is at least as
  // new as the newest acknowledged one, consistent with the metadata and has
  // exactly the bytes written for its seq. Returns the first violation.
  absl::Status Verify(RoomStore& store) const {
    for (const auto& [room, r] : rooms_) {
      if (r.epoch == 0) continue;
      auto loaded = store.LoadRoom(room);
      if (!loaded.ok()) return loaded.status();
      const std::string where = absl::StrCat("room ", room, ": ");
      if (loaded->epoch != r.epoch) {
        return absl::InternalError(
            absl::StrCat(where, "epoch ", loaded->epoch, " want ", r.epoch));
      }
      Seq snapshot_seq = 0;
      if (loaded->snapshot.has_value()) {
        snapshot_seq = loaded->snapshot->seq;
        if (loaded->snapshot->bytes != SnapshotPayload(room, snapshot_seq)) {
          return absl::InternalError(
              absl::StrCat(where, "snapshot bytes at seq ", snapshot_seq,
                           " are not the ones written for it"));
        }
      }
      if (snapshot_seq < r.snapshot_seq) {
        return absl::InternalError(
            absl::StrCat(where, "acknowledged snapshot at ", r.snapshot_seq,
                         " lost (have ", snapshot_seq, ")"));
      }
      // The whole retained log, from the trim point.
      auto info = store.GetRoomInfo(room);
      if (!info.ok()) return info.status();
      auto it = store.ReadAfter(room, r.epoch, info->first_seq - 1);
      if (!it.ok()) return it.status();
      Seq expected = info->first_seq;
      for (; (*it)->Valid(); (*it)->Next(), ++expected) {
        if ((*it)->seq() != expected) {
          return absl::InternalError(absl::StrCat(where, "hole at ", expected));
        }
        auto acked = r.changes.find(expected);
        if (acked != r.changes.end() && acked->second != (*it)->bytes()) {
          return absl::InternalError(
              absl::StrCat(where, "seq ", expected, " has other bytes"));
        }
      }
      if (!(*it)->status().ok()) return (*it)->status();
      if (info->last_seq != expected - 1) {
        return absl::InternalError(absl::StrCat(
            where, "log ends at ", expected - 1, " not ", info->last_seq));
      }
      const Seq max_acked = r.changes.empty() ? 0 : r.changes.rbegin()->first;
      if (info->last_seq < max_acked) {
        return absl::InternalError(absl::StrCat(where, "acknowledged seqs ",
                                                info->last_seq + 1, "..",
                                                max_acked, " lost"));
      }
      // The tail LoadRoom streams must agree (snapshot seq .. last).
      Seq tail_expected = snapshot_seq + 1;
      for (; loaded->tail->Valid(); loaded->tail->Next(), ++tail_expected) {
        if (loaded->tail->seq() != tail_expected) {
          return absl::InternalError(
              absl::StrCat(where, "tail hole at ", tail_expected));
        }
      }
      if (!loaded->tail->status().ok()) return loaded->tail->status();
    }
    return absl::OkStatus();
  }

 private:
  struct Room {
    Epoch epoch = 0;
    std::map<Seq, std::string> changes;  // acknowledged, by seq
    Seq snapshot_seq = 0;                // newest acknowledged snapshot
  };
  std::map<std::string, Room> rooms_;
  uint64_t appends_ = 0;
};

}  // namespace lattice::storage::testing

#endif  // LATTICE_TESTS_STORAGE_CRASH_ORACLE_H_
