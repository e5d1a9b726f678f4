// Room grants: which rooms a verified token may read or write.
//
// A token carries its grants in the `rooms` claim, a JSON array of entries.
// Each entry is one of:
//
//   {"room": "lobby"}                    exact room "lobby", read-only
//   {"room": "lobby", "write": true}     exact room "lobby", read-write
//   {"prefix": "team-42/"}               every room whose name starts with
//                                        "team-42/", read-only
//   {"prefix": "team-42/", "write": true}
//   "lobby"                              shorthand: exact room, read-write
//   "team-42/*"                          shorthand: prefix "team-42/",
//                                        read-write
//
// Rules, all checked by Grants::FromClaim (any violation refuses the whole
// claim, never just the entry, so a malformed grant cannot silently narrow
// or widen access):
//   1. An object has exactly one of "room" (a string) and "prefix" (a
//      string), an optional "write" (a bool, default false) and no other keys.
//   2. Exact room names are non-empty. An empty prefix ({"prefix": ""} or the
//      string "*") matches every room: it is meant for operator tokens.
//   3. In the string shorthand '*' may only appear once, as the last byte; in
//      the object form '*' has no special meaning.
//   4. At most GrantLimits::max_grants entries, and every room name or prefix
//      at most GrantLimits::max_room_bytes bytes.
// Matching compares bytes; it does not normalise case or Unicode.
//
//   LATTICE_ASSIGN_OR_RETURN(Grants grants,
//   Grants::FromClaim(claims["rooms"])); if (grants.For("team-42/board") !=
//   Access::kWrite) ...
//
// Thread safety: Grants is immutable after construction; const methods may be
// called concurrently.
#ifndef LATTICE_ENGINE_AUTH_GRANTS_H_
#define LATTICE_ENGINE_AUTH_GRANTS_H_

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::engine {

// What a token may do in one room. Ordered: a stronger access compares
// greater, and kWrite implies kRead.
enum class Access { kNone = 0, kRead = 1, kWrite = 2 };

// "none", "read" or "write".
absl::string_view AccessName(Access access);

// Bounds on the `rooms` claim (it is untrusted until the signature checks,
// and even a trusted issuer should not make us scan unbounded lists).
struct GrantLimits {
  // Maximum number of entries in the claim. Default: 256.
  size_t max_grants = 256;
  // Maximum length in bytes of one room name or prefix. Default: 256.
  size_t max_room_bytes = 256;
};

// One parsed entry of the `rooms` claim.
struct RoomGrant {
  // Exact room name, or the prefix when `prefix` is true.
  std::string pattern;
  bool prefix = false;
  // kRead or kWrite, never kNone.
  Access access = Access::kRead;

  friend bool operator==(const RoomGrant&, const RoomGrant&) = default;
};

// The set of room grants of one token; answers what access a room gets.
// A default-constructed Grants grants nothing.
class Grants {
 public:
  Grants() = default;

  // Parses the `rooms` claim in the format described at the top of this
  // file.
  // Returns InvalidArgument when the claim is not an array, an entry breaks
  // a rule, or a limit is exceeded; the message names the entry
  // ("rooms[3]: room name is 300 bytes, limit is 256").
  [[nodiscard]] static absl::StatusOr<Grants> FromClaim(
      const nlohmann::json& rooms, const GrantLimits& limits = {});

  // Returns the strongest access among the grants that match `room`
  // (kNone if none matches).
  Access For(absl::string_view room) const;

  // The parsed entries, in claim order.
  const std::vector<RoomGrant>& entries() const { return entries_; }

 private:
  explicit Grants(std::vector<RoomGrant> entries)
      : entries_(std::move(entries)) {}

  // Immutable after construction.
  std::vector<RoomGrant> entries_;
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_AUTH_GRANTS_H_
