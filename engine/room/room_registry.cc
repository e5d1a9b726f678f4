#include "engine/room/room_registry.h"

#include <algorithm>
#include <chrono>
#include <tuple>
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

std::shared_ptr<Room> RoomRegistry::Find(absl::string_view name) const {
  absl::MutexLock lock(&mu_);
  auto it = rooms_.find(name);
  return it == rooms_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Room>> RoomRegistry::Rooms() const {
  absl::MutexLock lock(&mu_);
  std::vector<std::shared_ptr<Room>> out;
  out.reserve(rooms_.size());
  for (const auto& [name, room] : rooms_) out.push_back(room);
  return out;
}

std::vector<std::pair<std::string, RoomStatsSample>> RoomRegistry::List()
    const {
  const auto now = std::chrono::steady_clock::now();
  std::vector<std::pair<std::string, RoomStatsSample>> rooms;
  {
    absl::MutexLock lock(&mu_);
    rooms.reserve(rooms_.size());
    for (const auto& [name, room] : rooms_)
      rooms.emplace_back(name, room->SampleStats(now));
  }
  std::sort(rooms.begin(), rooms.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  return rooms;
}

std::vector<std::pair<std::string, RoomStatsSample>> RoomRegistry::Busiest(
    size_t k) const {
  std::vector<std::pair<std::string, RoomStatsSample>> rooms = List();
  auto busier = [](const auto& a, const auto& b) {
    return std::tie(b.second.deliveries_per_second, b.second.members, a.first) <
           std::tie(a.second.deliveries_per_second, a.second.members, b.first);
  };
  k = std::min(k, rooms.size());
  std::partial_sort(rooms.begin(), rooms.begin() + k, rooms.end(), busier);
  rooms.resize(k);
  return rooms;
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
