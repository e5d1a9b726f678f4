#include "engine/room/room_registry.h"

#include <utility>

namespace lattice::engine {

RoomRegistry::RoomRegistry(RoomContext& context) : context_(context) {
  context_.on_unloaded = [this](Room* room) { Forget(room); };
}

std::shared_ptr<Room> RoomRegistry::Acquire(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto [it, inserted] = rooms_.try_emplace(name);
  if (inserted)
    it->second = std::make_shared<Room>(std::string(name), context_);
  return it->second;
}

void RoomRegistry::Forget(Room* room) {
  std::shared_ptr<Room> keep;  // destroyed outside the lock
  absl::MutexLock lock(&mu_);
  auto it = rooms_.find(room->name());
  if (it != rooms_.end() && it->second.get() == room) {
    keep = std::move(it->second);
    rooms_.erase(it);
  }
}

}  // namespace lattice::engine
