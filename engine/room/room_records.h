// How a room's durable state is laid out in the RoomStore's opaque values:
// one change record per log entry (which document, which update) and one
// room snapshot (every document's crdt snapshot). Both are msgpack arrays
// that begin with a format version (docs/storage.md, "Engine records").
//
// Thread safety: pure functions.
#ifndef LATTICE_ENGINE_ROOM_ROOM_RECORDS_H_
#define LATTICE_ENGINE_ROOM_ROOM_RECORDS_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::engine {

// One accepted change: [1, doc, update].
struct ChangeRecord {
  std::string doc;
  std::string update;
};
std::string EncodeChangeRecord(absl::string_view doc, absl::string_view update);
// Errors: DataLoss naming what is wrong (the store's bytes are ours, so a
// bad record is corruption, not bad input).
[[nodiscard]] absl::StatusOr<ChangeRecord> DecodeChangeRecord(
    absl::string_view bytes);

// A room snapshot: [1, [[doc, snapshot], ...]], documents in name order.
using DocSnapshots = std::vector<std::pair<std::string, std::string>>;
std::string EncodeRoomSnapshot(const DocSnapshots& docs);
[[nodiscard]] absl::StatusOr<DocSnapshots> DecodeRoomSnapshot(
    absl::string_view bytes);

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_ROOM_ROOM_RECORDS_H_
