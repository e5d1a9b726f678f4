// The presence wire and checkpoint format (docs/crdt.md, "Presence format
// 1"): sessions in byte order, each with its removal stamp and its fields in
// (tag, app key) order, each field with its stamp and value. The encoding
// of equal inputs is byte-identical.
//
// DecodePresence never trusts its input: counts and sizes are bounded by
// PresenceLimits and by the bytes that remain before anything is allocated,
// order and uniqueness are checked, and every failure names what and the
// byte (InvalidArgument when malformed, ResourceExhausted beyond a limit).
//
// Thread safety: pure functions.
#ifndef LATTICE_CRDT_INTERNAL_PRESENCE_CODEC_H_
#define LATTICE_CRDT_INTERNAL_PRESENCE_CODEC_H_

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "crdt/internal/presence_record.h"
#include "crdt/presence.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt::internal {

inline constexpr uint8_t kPresenceFormatVersion = 1;

enum class PresenceMessageKind : uint8_t { kDelta = 0, kState = 1 };

// What to encode of one session: `removed` (empty: not sent) and the fields
// to send, in key order.
struct SessionView {
  const std::string* session = nullptr;
  Stamp removed;
  std::vector<std::pair<const FieldKey*, const Register*>> fields;
};

// REQUIRES: sessions in strictly increasing byte order, each with a removal
// or at least one field, fields above `removed`.
std::string EncodePresence(PresenceMessageKind kind,
                           const std::vector<SessionView>& sessions);

struct DecodedSession {
  std::string session;
  Stamp removed;
  std::vector<std::pair<FieldKey, Register>> fields;  // key order
};
struct DecodedPresence {
  PresenceMessageKind kind = PresenceMessageKind::kDelta;
  std::vector<DecodedSession> sessions;  // byte order
};

absl::StatusOr<DecodedPresence> DecodePresence(absl::string_view bytes,
                                               const PresenceLimits& limits);

// The checks shared by local writes and the decoder (no byte offset in the
// message): InvalidArgument when malformed, ResourceExhausted when too big.
absl::Status CheckSessionId(absl::string_view session,
                            const PresenceLimits& limits);
absl::Status CheckAppKey(absl::string_view key, const PresenceLimits& limits);
// REQUIRES: `value` holds the alternative of key.tag.
absl::Status CheckFieldValue(const FieldKey& key, const FieldValue& value,
                             const PresenceLimits& limits);

// The encoded bytes of a register's value: breaks ties between two
// different values under one stamp (a buggy or hostile writer), so replicas
// still agree.
std::string EncodeRegisterValue(const std::optional<FieldValue>& value);

// The FieldTag a value of this alternative belongs to.
FieldTag TagOf(const FieldValue& value);

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_PRESENCE_CODEC_H_
