#include "engine/room/room_loader.h"

#include <utility>

#include "base/logging.h"
#include "engine/room/room_records.h"

#include "absl/strings/str_cat.h"

namespace lattice::engine {

absl::StatusOr<LoadedDocs> LoadRoomDocs(storage::RoomStore& store,
                                        absl::string_view room,
                                        uint64_t replica) {
  LoadedDocs loaded;
  auto presence = store.GetPresence(room);
  if (presence.ok()) {
    loaded.presence = *std::move(presence);
  } else if (!absl::IsNotFound(presence.status())) {
    return presence.status();
  }
  auto stored = store.LoadRoom(room);
  if (absl::IsNotFound(stored.status())) return loaded;  // a new room
  if (!stored.ok()) return stored.status();
  loaded.epoch = stored->epoch;
  loaded.last_seq = stored->last_seq;
  // Our own snapshots, read back from RocksDB behind its checksums.
  crdt::DocOptions options;
  options.snapshot_check = crdt::SnapshotCheck::kStructure;
  if (stored->snapshot) {
    loaded.snapshot_seq = stored->snapshot->seq;
    auto docs = DecodeRoomSnapshot(stored->snapshot->bytes);
    if (!docs.ok()) {
      return absl::DataLossError(
          absl::StrCat("room ", room, ": ", docs.status().message()));
    }
    for (auto& [name, bytes] : *docs) {
      auto doc = crdt::Doc::LoadSnapshot(replica, bytes, options);
      if (!doc.ok()) {
        return absl::DataLossError(
            absl::StrCat("room ", room, " doc ", name,
                         " snapshot: ", doc.status().message()));
      }
      loaded.docs[name] = *std::move(doc);
    }
  }
  storage::ChangeIterator& it = *stored->tail;
  for (; it.Valid(); it.Next()) {
    auto record = DecodeChangeRecord(it.bytes());
    if (!record.ok()) {
      return absl::DataLossError(absl::StrCat("room ", room, " seq ", it.seq(),
                                              ": ", record.status().message()));
    }
    auto& doc = loaded.docs[record->doc];
    if (!doc) doc = std::make_unique<crdt::Doc>(replica, options);
    // A change whose tail was refused when it was accepted is refused the
    // same way now (same state, same outcome): log it only.
    auto applied = doc->ApplyUpdate(record->update);
    if (!applied.ok()) {
      LATTICE_LOG(kInfo) << "room " << room << " seq " << it.seq() << ": "
                         << applied.status();
    }
  }
  if (!it.status().ok()) return it.status();
  return loaded;
}

std::string EncodeDocs(
    const std::map<std::string, std::unique_ptr<crdt::Doc>>& docs) {
  DocSnapshots snapshots;
  for (const auto& [name, doc] : docs) {
    snapshots.emplace_back(name, doc->EncodeSnapshot());
  }
  return EncodeRoomSnapshot(snapshots);
}

}  // namespace lattice::engine
