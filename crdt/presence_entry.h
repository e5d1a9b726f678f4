// The typed record of one client session in a room's presence document
// (crdt/presence.h): who it is, its status, where its cursor and selection
// are, whether it is typing, and a few app-defined scalars.
//
//   PresenceEntry e = *presence.Get("sess-7");
//   if (e.typing) ShowTyping(e.identity.user_id, e.typing->doc);
//   if (auto* p = e.cursor ? std::get_if<Point>(&*e.cursor) : nullptr) ...
//
// Thread safety: plain value types.
#ifndef LATTICE_CRDT_PRESENCE_ENTRY_H_
#define LATTICE_CRDT_PRESENCE_ENTRY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "crdt/ids.h"
#include "crdt/value.h"

#include "absl/container/btree_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace lattice::crdt {

// The numbering is part of the presence format (docs/crdt.md, "Presence").
enum class PresenceStatus : uint8_t {
  kOnline = 0,
  kAway = 1,
  kBusy = 2,
  kOffline = 3,  // chosen by the user ("appear offline"); a closed
                 // connection removes the entry instead
};

// "online", "away", "busy", "offline".
absl::string_view PresenceStatusName(PresenceStatus status);

// Who a session is. Set by the server from the verified token, never from
// what the client says.
struct Identity {
  std::string user_id;
  // Small display attributes (name, avatar URL, colour), keys in byte order.
  absl::btree_map<std::string, std::string> display;

  friend bool operator==(const Identity&, const Identity&) = default;
};

// A position on a 2-D surface (whiteboards). Finite coordinates only.
struct Point {
  double x = 0;
  double y = 0;

  friend bool operator==(const Point&, const Point&) = default;
};

// A position in a text or list of a document of the room.
struct TextAnchor {
  std::string doc;        // the document's name in the room
  ContainerId container;  // the Text or List
  // The element the position sits before, by id: stable under concurrent
  // edits. Absent: the position is `index` alone.
  std::optional<OpId> element;
  uint64_t index = 0;  // code points (or list elements) before the position
                       // when it was written; a hint when `element` is set

  friend bool operator==(const TextAnchor&, const TextAnchor&) = default;
};

using Cursor = std::variant<Point, TextAnchor>;

// A selected range: `anchor` where it started, `head` where it ends (the
// cursor side).
struct Selection {
  Cursor anchor;
  Cursor head;

  friend bool operator==(const Selection&, const Selection&) = default;
};

// "Typing in `doc`" until `expires_at` (start time + typing_timeout) unless
// renewed, stopped, or the session changes that document.
struct Typing {
  std::string doc;
  absl::Time expires_at;

  friend bool operator==(const Typing&, const Typing&) = default;
};

// One live session's presence as readers see it. Fields never written read
// as their defaults (a replica can briefly see part of an entry when
// deltas arrive out of order).
struct PresenceEntry {
  std::string session;
  Identity identity;
  PresenceStatus status = PresenceStatus::kOnline;
  std::optional<Cursor> cursor;
  std::optional<Selection> selection;
  std::optional<Typing> typing;
  // App-defined scalars (null, bool, int, double, string, bytes), keys in
  // byte order.
  absl::btree_map<std::string, Value> app;
  // The entry's logical clock: the highest clock of any of its writes.
  uint64_t clock = 0;

  friend bool operator==(const PresenceEntry&, const PresenceEntry&) = default;
};

}  // namespace lattice::crdt

#endif  // LATTICE_CRDT_PRESENCE_ENTRY_H_
