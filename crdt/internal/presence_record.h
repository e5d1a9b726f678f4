// The replicated state behind crdt::Presence: per session, a removal stamp
// and one last-writer-wins register per field, each stamped (clock, writer).
// docs/crdt.md ("Presence") states the merge rules these records follow.
//
// Thread safety: plain value types.
#ifndef LATTICE_CRDT_INTERNAL_PRESENCE_RECORD_H_
#define LATTICE_CRDT_INTERNAL_PRESENCE_RECORD_H_

#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "crdt/ids.h"
#include "crdt/presence_entry.h"
#include "crdt/value.h"

#include "absl/container/btree_map.h"
#include "absl/time/time.h"

namespace lattice::crdt::internal {

// Orders writes to one field: higher clock wins, then higher writer. {0, 0}
// is "never written" and loses to every real stamp (writers are never 0).
struct Stamp {
  uint64_t clock = 0;
  ReplicaId writer = 0;

  bool empty() const { return writer == 0; }
  friend bool operator==(const Stamp&, const Stamp&) = default;
  friend auto operator<=>(const Stamp&, const Stamp&) = default;
};

// The largest clock a decoder accepts; local writes stay far below it.
inline constexpr uint64_t kMaxPresenceClock = uint64_t{1} << 62;

// Field tags; the numbering is part of the format.
enum class FieldTag : uint8_t {
  kIdentity = 1,
  kStatus = 2,
  kCursor = 3,
  kSelection = 4,
  kTyping = 5,
  kApp = 6,  // one register per app key
};
inline constexpr uint8_t kMaxFieldTag = 6;

struct FieldKey {
  FieldTag tag = FieldTag::kIdentity;
  std::string app_key;  // kApp only; empty otherwise

  friend bool operator==(const FieldKey&, const FieldKey&) = default;
  friend auto operator<=>(const FieldKey&, const FieldKey&) = default;
};

// The value type held for each tag, in tag order (index = tag - 1).
using FieldValue =
    std::variant<Identity, PresenceStatus, Cursor, Selection, Typing, Value>;

struct Register {
  Stamp stamp;
  std::optional<FieldValue> value;  // nullopt: cleared (cursor hidden, ...)
  uint64_t generation = 0;          // local: when it last changed
};

// One session id. Invariants (Presence::CheckInvariants):
//  1. every field's stamp is above `removed` (older ones are dropped);
//  2. the record is live (shown) iff it has a field, a tombstone iff it has
//     none, and then `removed` is set;
//  3. `clock` >= every stamp's clock the record has seen;
//  4. `changed_generation` >= every field's generation and
//     removed_generation.
struct SessionRecord {
  Stamp removed;  // empty: never removed
  absl::btree_map<FieldKey, Register> fields;
  uint64_t clock = 0;
  // Local bookkeeping, never encoded.
  uint64_t removed_generation = 0;
  // At least every field's generation and removed_generation, so that
  // Presence::ChangesSince skips an unchanged record without reading its
  // fields (a receiver calls it per frame).
  uint64_t changed_generation = 0;
  absl::Time removed_at;  // when this replica learned of the removal
  absl::Time last_seen;   // last heartbeat or write (live records)

  bool live() const { return !fields.empty(); }
};

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_PRESENCE_RECORD_H_
