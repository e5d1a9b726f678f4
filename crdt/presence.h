// A room's presence document: one typed entry per client session (status,
// identity, cursor, selection, typing, app fields), merged last-writer-wins
// per field, with field-level deltas, TTL expiry and state checkpoints.
// docs/crdt.md ("Presence") gives the rules and a worked example.
//
//   Presence p(/*writer=*/server_id);
//   p.Join("s1", {.user_id = "ada", .display = {{"name", "Ada"}}}, now);
//   p.SetCursor("s1", Point{10, 20}, now);          // from the client
//   std::string frame = p.EncodeDelta(member.seen); // per tick, per view
//   member.seen = p.generation();
//   ...
//   client_replica.ApplyDelta(frame, now);          // any order, duplicates
//   for (const std::string& s : p.Expire(now)) ...  // TTL and typing
//   store.PutPresence(room, p.EncodeState());       // checkpoint, no history
//
// Time and writer ids come from the caller; nothing here reads a clock.
// Each write gets the stamp (entry clock + 1, writer); a removal leaves a
// tombstone stamped the same way, so a late write cannot bring the entry
// back. Remote deltas merge commutatively and idempotently.
//
// Thread safety: not thread-safe. A Presence belongs to one owner (the room's
// executor on the server, the SDK's executor on a client). Distinct objects
// may be used concurrently.
#ifndef LATTICE_CRDT_PRESENCE_H_
#define LATTICE_CRDT_PRESENCE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crdt/ids.h"
#include "crdt/internal/presence_record.h"
#include "crdt/presence_entry.h"
#include "crdt/value.h"

#include "absl/container/btree_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace lattice::crdt {

// Bounds on a Presence and on what its decoders accept. Exceeding a size or
// count is ResourceExhausted, both for local writes and for decoded bytes.
struct PresenceLimits {
  // ---- Counts
  // Live entries (sessions). Default: 1024.
  size_t max_entries = 1024;
  // Tombstones kept; beyond this the oldest are dropped. Default: 1024.
  size_t max_tombstones = 1024;
  // Display attributes of an identity. Default: 8.
  size_t max_display_fields = 8;
  // App fields of an entry. Default: 16.
  size_t max_app_fields = 16;

  // ---- Sizes (bytes)
  // A session id. Default: 128.
  size_t max_session_id_bytes = 128;
  // Any other string: user id, display key or value, document name, app
  // key, app string or bytes value. Default: 256.
  size_t max_field_bytes = 256;

  // ---- Times
  // An entry without a heartbeat or write for this long is removed by
  // Expire(). Default: 30 s.
  absl::Duration entry_ttl = absl::Seconds(30);
  // Typing stops this long after its last StartTyping. Default: 5 s.
  absl::Duration typing_timeout = absl::Seconds(5);
  // Tombstones older than this are dropped by Expire(); a delta older than
  // that which still carries the entry would bring it back. Default: 60 s.
  absl::Duration tombstone_ttl = absl::Seconds(60);
};

// Which parts of an entry changed (SessionChange::fields).
enum PresenceField : uint32_t {
  kPresenceIdentity = 1u << 0,
  kPresenceStatus = 1u << 1,
  kPresenceCursor = 1u << 2,
  kPresenceSelection = 1u << 3,
  kPresenceTyping = 1u << 4,
  kPresenceApp = 1u << 5,
};

// One session's changes since a generation.
struct SessionChange {
  std::string session;
  bool removed = false;               // the entry left (fields is then 0)
  uint32_t fields = 0;                // PresenceField bits
  std::vector<std::string> app_keys;  // changed app fields, byte order

  friend bool operator==(const SessionChange&, const SessionChange&) = default;
};

// One replica of a room's presence document. Owns its entries; readers get
// copies (PresenceEntry). Not thread-safe: every call must run on the
// owner's executor (the room strand). Invariants (CheckInvariants): at most
// max_entries live entries and max_tombstones tombstones; every field's
// stamp is above its entry's removal; generation() never decreases.
class Presence {
 public:
  // REQUIRES: writer != 0 (distinct per replica that writes: a server id).
  explicit Presence(ReplicaId writer, PresenceLimits limits = {});
  Presence(const Presence&) = delete;
  Presence& operator=(const Presence&) = delete;

  ReplicaId writer() const { return writer_; }
  const PresenceLimits& limits() const { return limits_; }

  // ---- Local writes ------------------------------------------------------
  // Each stamps the changed field (entry clock + 1, writer) and counts as a
  // heartbeat at `now`. A write that sets the value already there changes
  // nothing. Errors: NotFound when `session` has no live entry (all but
  // Join); InvalidArgument for malformed values (invalid UTF-8, non-finite
  // coordinates, an empty session id); ResourceExhausted beyond a limit.

  // Creates the entry (or renews its identity) with status online. A session
  // id that was removed starts a new entry above its tombstone.
  [[nodiscard]] absl::Status Join(absl::string_view session, Identity identity,
                                  absl::Time now);
  // Removes the entry (connection closed), leaving a tombstone.
  [[nodiscard]] absl::Status Leave(absl::string_view session, absl::Time now);
  // A heartbeat: postpones TTL expiry; sends nothing.
  [[nodiscard]] absl::Status Touch(absl::string_view session, absl::Time now);
  [[nodiscard]] absl::Status SetStatus(absl::string_view session,
                                       PresenceStatus status, absl::Time now);
  [[nodiscard]] absl::Status SetCursor(absl::string_view session, Cursor cursor,
                                       absl::Time now);
  [[nodiscard]] absl::Status ClearCursor(absl::string_view session,
                                         absl::Time now);
  [[nodiscard]] absl::Status SetSelection(absl::string_view session,
                                          Selection selection, absl::Time now);
  [[nodiscard]] absl::Status ClearSelection(absl::string_view session,
                                            absl::Time now);
  // Starts or renews typing in `doc` until now + typing_timeout.
  [[nodiscard]] absl::Status StartTyping(absl::string_view session,
                                         absl::string_view doc, absl::Time now);
  [[nodiscard]] absl::Status StopTyping(absl::string_view session,
                                        absl::Time now);
  // Stops typing only if it is in `doc`: call when the session sends a
  // change to `doc`.
  [[nodiscard]] absl::Status StopTypingIn(absl::string_view session,
                                          absl::string_view doc,
                                          absl::Time now);
  // Sets an app-defined scalar; a container or deletion Value is
  // InvalidArgument.
  [[nodiscard]] absl::Status SetAppField(absl::string_view session,
                                         absl::string_view key, Value value,
                                         absl::Time now);
  [[nodiscard]] absl::Status DeleteAppField(absl::string_view session,
                                            absl::string_view key,
                                            absl::Time now);

  // Removes every entry without a heartbeat or write for entry_ttl (as
  // Leave), stops typing whose expiry has passed, drops tombstones older
  // than tombstone_ttl. Returns the removed sessions in byte order. O(size).
  std::vector<std::string> Expire(absl::Time now);

  // Restamps every field of the live sessions whose id starts with
  // `prefix`, skipping one clock tick: a writer that was cut off from the
  // other replicas reasserts the sessions it owns. A replica that expired
  // one of them meanwhile stamped the removal at most one tick above what
  // it had seen, so the restamped fields win over it. Values are unchanged.
  // Returns how many sessions it restamped.
  size_t Reassert(absl::string_view prefix);

  // ---- Change tracking ---------------------------------------------------
  // Increases with every call that changes replicated state (never with
  // Touch or tombstone drops).
  uint64_t generation() const { return generation_; }
  // What changed after generation `since`, by session in byte order; only
  // the latest state of each field counts.
  std::vector<SessionChange> ChangesSince(uint64_t since) const;

  // ---- Encoding (docs/crdt.md, "Presence format 1") ---------------------
  // The fields and tombstones changed after `since`, each with its stamp:
  // a cursor move carries the cursor only. Empty message when nothing
  // changed. When a tombstone the receiver may lack has been dropped since
  // (or after LoadState), returns EncodeState() instead, which receivers
  // apply as a reset. Deterministic: equal for equal state and `since`.
  std::string EncodeDelta(uint64_t since) const;
  // The part of EncodeDelta(since) about sessions whose id starts with
  // `prefix`, but never a state: what one writer publishes about the
  // sessions it owns to replicas that hold other writers' sessions too (a
  // state would remove those). Tombstones dropped since `since` are not
  // sent; receivers expire such entries by TTL. Empty string when no such
  // session changed after `since` (since 0: every one).
  std::string EncodeSessions(uint64_t since, absl::string_view prefix) const;
  // Every live entry and kept tombstone. Canonical: replicas with the same
  // writes give the same bytes (tombstones aside, which each drops on its
  // own schedule).
  std::string EncodeState() const;
  // Merges a delta or state from EncodeDelta/EncodeState (any order, any
  // number of times). A state also removes every live entry it does not
  // name (the sender dropped their tombstones). Every live entry it names
  // counts as heard from at `now` (its TTL starts again): the sender
  // vouches for the sessions it sends. All or nothing: InvalidArgument for
  // malformed bytes, ResourceExhausted beyond a limit, naming what and the
  // byte.
  [[nodiscard]] absl::Status ApplyDelta(absl::string_view bytes,
                                        absl::Time now);
  // Replaces everything with a state (EncodeState, a checkpoint); every
  // entry's TTL starts at `now`, so sessions that do not reconnect expire.
  // Errors as ApplyDelta; a delta is InvalidArgument. Nothing changes on
  // error.
  [[nodiscard]] absl::Status LoadState(absl::string_view bytes, absl::Time now);

  // ---- Reading -----------------------------------------------------------
  size_t size() const { return live_; }  // live entries
  size_t tombstones() const { return records_.size() - live_; }
  std::optional<PresenceEntry> Get(absl::string_view session) const;
  // One app field of a live entry, without copying the entry (a UI that
  // reads one field per change); nullopt when the entry or field is absent.
  std::optional<Value> GetAppField(absl::string_view session,
                                   absl::string_view key) const;
  std::vector<PresenceEntry> Entries() const;  // session byte order
  // {"<session>": {"user": ..., "display": {...}, "status": "online",
  //  "cursor": ..., "selection": ..., "typing": ..., "app": {...}}, ...}
  // in session byte order; docs/crdt.md shows every field.
  std::string ToJson() const;

  // Aborts on a broken invariant (tests).
  void CheckInvariants() const;

 private:
  using Record = internal::SessionRecord;
  using RecordMap = absl::btree_map<std::string, Record>;

  // The live record of `session`, or NotFound.
  absl::StatusOr<Record*> Live(absl::string_view session);
  // Stamps and stores one field of a live record; no-op when equal.
  absl::Status Write(absl::string_view session, internal::FieldKey key,
                     std::optional<internal::FieldValue> value, absl::Time now);
  void WriteField(Record& r, internal::FieldKey key,
                  std::optional<internal::FieldValue> value);
  void Remove(Record& r, absl::Time now);
  // Merges one decoded session into `r`; true when anything changed.
  bool Merge(
      Record& r, const internal::Stamp& removed,
      std::vector<std::pair<internal::FieldKey, internal::Register>>& fields,
      absl::Time now);
  void DropOldTombstones(absl::Time now);
  // Erases a tombstone (moving horizon_); returns the next record.
  RecordMap::iterator DropRecord(RecordMap::iterator it);
  // Keeps an entry's app registers within `max` by dropping cleared ones,
  // oldest stamp first; returns how many live values remain above `max`.
  static size_t TrimClearedApp(Record& r, size_t max);
  // TrimClearedApp(max_app_fields), ResourceExhausted if still above.
  absl::Status CheckAppCount(const std::string& session, Record& r) const;
  PresenceEntry ToEntry(const std::string& session, const Record& r) const;
  // The sessions whose id starts with `prefix` ("" for all), as a state or
  // as the delta after `since`; `*sessions` (if given) gets how many the
  // message names.
  std::string Encode(bool state, uint64_t since, absl::string_view prefix,
                     size_t* sessions = nullptr) const;

  // Immutable after construction.
  const ReplicaId writer_;
  const PresenceLimits limits_;

  RecordMap records_;
  size_t live_ = 0;
  uint64_t generation_ = 0;
  // Deltas from before this generation may miss a dropped tombstone.
  uint64_t horizon_ = 0;
};

}  // namespace lattice::crdt

#endif  // LATTICE_CRDT_PRESENCE_H_
