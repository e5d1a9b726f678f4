// Rebuilds a room's documents from the RoomStore: the latest room snapshot,
// then every change record after it. Used by Room (on a store thread) and by
// the `lattice` CLI.
//
// Thread safety: a pure function of the store (which is thread-safe).
#ifndef LATTICE_ENGINE_ROOM_ROOM_LOADER_H_
#define LATTICE_ENGINE_ROOM_ROOM_LOADER_H_

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "crdt/doc.h"
#include "storage/room_store.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::engine {

struct LoadedDocs {
  // Documents by name; each continues editing as the loader's replica.
  std::map<std::string, std::unique_ptr<crdt::Doc>> docs;
  storage::Epoch epoch = 0;  // 0: the room does not exist yet
  storage::Seq last_seq = 0;
  storage::Seq snapshot_seq = 0;
  // The room's presence checkpoint (crdt::Presence::EncodeState), if any.
  std::optional<std::string> presence;
};

// Loads room `room`; a room the store does not know loads empty.
// Errors: DataLoss naming the room and what is corrupt; the store's errors.
[[nodiscard]] absl::StatusOr<LoadedDocs> LoadRoomDocs(storage::RoomStore& store,
                                                      absl::string_view room,
                                                      uint64_t replica);

// Encodes every document of `docs` as one room snapshot.
std::string EncodeDocs(
    const std::map<std::string, std::unique_ptr<crdt::Doc>>& docs);

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_ROOM_ROOM_LOADER_H_
