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

std::shared_ptr<Room> RoomRegistry::Find(absl::string_view name) {
  absl::MutexLock lock(&mu_);
  auto it = rooms_.find(name);
  return it == rooms_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Room>> RoomRegistry::All() {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Room>> out;
  out.reserve(rooms_.size());
  for (const auto& [name, room] : rooms_) out.push_back(room);
  return out;
}

size_t RoomRegistry::size() {
  absl::MutexLock lock(&mu_);
  return rooms_.size();
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
