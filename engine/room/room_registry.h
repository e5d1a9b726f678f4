// RoomRegistry: finds or creates the Room of a name. A mutex guards the map
// only while a room is looked up, created or forgotten; rooms do all their
// work on their own strands (Beast chat-multi shared_state).
//
// Thread safety: safe for concurrent use.
#ifndef LATTICE_ENGINE_ROOM_ROOM_REGISTRY_H_
#define LATTICE_ENGINE_ROOM_ROOM_REGISTRY_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "engine/room/room.h"

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"

namespace lattice::engine {

class RoomRegistry {
 public:
  // `context` must outlive the registry; its on_unloaded is set here.
  explicit RoomRegistry(RoomContext& context);

  // The room named `name`, created (unloaded) when absent.
  std::shared_ptr<Room> Acquire(absl::string_view name)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The room named `name` if it is in memory (loading, loaded or
  // unloading), else null. Unlike Acquire it never creates one: for work
  // that has nothing to do in a room nobody uses (backend events).
  std::shared_ptr<Room> Find(absl::string_view name) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Every room in memory. O(rooms) under the lock.
  std::vector<std::shared_ptr<Room>> Rooms() const ABSL_LOCKS_EXCLUDED(mu_);

  // Every room in memory with its figures, by name. O(rooms) under the
  // lock; for the backend API's room list.
  std::vector<std::pair<std::string, RoomStatsSample>> List() const
      ABSL_LOCKS_EXCLUDED(mu_);

  // The `k` loaded rooms with the highest fan-out rate (then most members,
  // then name), busiest first. O(rooms) under the lock; for /metrics.
  std::vector<std::pair<std::string, RoomStatsSample>> Busiest(size_t k) const
      ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // Forgets `room` if its name still maps to it.
  void Forget(Room* room) ABSL_LOCKS_EXCLUDED(mu_);

  RoomContext& context_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<Room>> rooms_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_ROOM_ROOM_REGISTRY_H_
