#include "engine/auth/grants.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace lattice::engine {
namespace {

using json = nlohmann::json;

absl::Status EntryError(size_t index, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("rooms[", index, "]: ", what));
}

absl::Status CheckLength(size_t index, absl::string_view kind,
                         absl::string_view name, const GrantLimits& limits) {
  if (name.size() <= limits.max_room_bytes) return absl::OkStatus();
  return EntryError(index,
                    absl::StrCat(kind, " is ", name.size(), " bytes, limit is ",
                                 limits.max_room_bytes));
}

// "lobby" -> exact, read-write; "team-42/*" -> prefix "team-42/", read-write.
absl::StatusOr<RoomGrant> ParseShorthand(size_t index, absl::string_view text,
                                         const GrantLimits& limits) {
  RoomGrant grant;
  grant.access = Access::kWrite;
  const size_t star = text.find('*');
  if (star != absl::string_view::npos && star + 1 != text.size()) {
    return EntryError(index, "'*' is only allowed as the last character");
  }
  if (star != absl::string_view::npos) {
    grant.prefix = true;
    text.remove_suffix(1);
  } else if (text.empty()) {
    return EntryError(index, "room name is empty");
  }
  absl::Status length =
      CheckLength(index, grant.prefix ? "prefix" : "room name", text, limits);
  if (!length.ok()) return length;
  grant.pattern = std::string(text);
  return grant;
}

absl::StatusOr<RoomGrant> ParseObject(size_t index, const json& entry,
                                      const GrantLimits& limits) {
  RoomGrant grant;
  const json* name = nullptr;
  for (const auto& [key, value] : entry.items()) {
    if (key == "room" || key == "prefix") {
      if (name != nullptr) return EntryError(index, "has both room and prefix");
      if (!value.is_string()) {
        return EntryError(index, absl::StrCat(key, " is not a string"));
      }
      name = &value;
      grant.prefix = key == "prefix";
    } else if (key == "write") {
      if (!value.is_boolean()) return EntryError(index, "write is not a bool");
      grant.access = value.get<bool>() ? Access::kWrite : Access::kRead;
    } else {
      // Reject rather than ignore: a misspelt key must not change access.
      return EntryError(index, absl::StrCat("unknown key \"", key, "\""));
    }
  }
  if (name == nullptr) return EntryError(index, "has neither room nor prefix");
  const std::string& text = name->get_ref<const std::string&>();
  if (!grant.prefix && text.empty()) {
    return EntryError(index, "room name is empty");
  }
  absl::Status length =
      CheckLength(index, grant.prefix ? "prefix" : "room name", text, limits);
  if (!length.ok()) return length;
  grant.pattern = text;
  return grant;
}

}  // namespace

absl::string_view AccessName(Access access) {
  switch (access) {
    case Access::kNone:
      return "none";
    case Access::kRead:
      return "read";
    case Access::kWrite:
      return "write";
  }
  return "invalid";
}

absl::StatusOr<Grants> Grants::FromClaim(const nlohmann::json& rooms,
                                         const GrantLimits& limits) {
  if (!rooms.is_array()) {
    return absl::InvalidArgumentError("rooms is not an array");
  }
  if (rooms.size() > limits.max_grants) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rooms has ", rooms.size(), " entries, limit is ", limits.max_grants));
  }
  std::vector<RoomGrant> entries;
  entries.reserve(rooms.size());
  for (size_t i = 0; i < rooms.size(); ++i) {
    const json& entry = rooms[i];
    absl::StatusOr<RoomGrant> grant;
    if (entry.is_string()) {
      grant = ParseShorthand(i, entry.get_ref<const std::string&>(), limits);
    } else if (entry.is_object()) {
      grant = ParseObject(i, entry, limits);
    } else {
      return EntryError(i, "is neither a string nor an object");
    }
    if (!grant.ok()) return grant.status();
    entries.push_back(*std::move(grant));
  }
  return Grants(std::move(entries));
}

Access Grants::For(absl::string_view room) const {
  Access best = Access::kNone;
  for (const RoomGrant& grant : entries_) {
    const bool match = grant.prefix ? absl::StartsWith(room, grant.pattern)
                                    : room == grant.pattern;
    if (match) best = std::max(best, grant.access);
    if (best == Access::kWrite) break;
  }
  return best;
}

}  // namespace lattice::engine
