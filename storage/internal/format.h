// On-disk key and value formats of the room store; the normative spec is
// docs/storage.md ("Key and value format"). Every function here is pure.
//
// Decoders never trust their input: a key or value that does not match the
// spec yields DataLoss naming the column family, room and key (hex), never a
// crash or an out-of-bounds read.
//
// Thread safety: stateless functions, safe from any thread.
#ifndef LATTICE_STORAGE_INTERNAL_FORMAT_H_
#define LATTICE_STORAGE_INTERNAL_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "storage/types.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::storage::internal {

// Column families (the default family holds only the store format marker).
inline constexpr char kChangesCf[] = "changes";
inline constexpr char kSnapshotsCf[] = "snapshots";
inline constexpr char kPresenceCf[] = "presence";
inline constexpr char kMetaCf[] = "meta";

// Key of the store-wide format marker in the default column family; its value
// is one byte, kStoreFormatVersion.
inline constexpr char kStoreFormatKey[] = "lattice.storage.format";
inline constexpr uint8_t kStoreFormatVersion = 1;

// First byte of every value we write.
inline constexpr uint8_t kRecordVersion = 1;

// Room ids are 1..kMaxRoomIdBytes arbitrary bytes.
inline constexpr size_t kMaxRoomIdBytes = 1024;

// Fixed sizes of the value headers (docs/storage.md).
inline constexpr size_t kChangeHeaderSize = 1 + 8;        // version, time
inline constexpr size_t kSnapshotHeaderSize = 1 + 8 + 8;  // version, seq, time
inline constexpr size_t kPresenceHeaderSize = 1 + 8;      // version, time
inline constexpr size_t kMetaSize = 1 + 8 + 8 + 1 + 8 + 8;

// Returns InvalidArgument unless `room` is a valid room id.
[[nodiscard]] absl::Status ValidateRoomId(absl::string_view room);

// Big-endian fixed-width integers, so byte order equals numeric order.
void PutBigEndian64(std::string& out, uint64_t v);
uint64_t GetBigEndian64(const char* p);  // REQUIRES: p[0..7] readable.

// u16be(room.size()) + room: the key of a room in meta, snapshots and
// presence, and the prefix of its keys in changes.
// REQUIRES: ValidateRoomId(room).ok().
std::string RoomKey(absl::string_view room);
// RoomKey(room) + u64be(seq).
std::string ChangeKey(absl::string_view room, Seq seq);

// Parses a meta/snapshots/presence key back into its room id.
// Errors: DataLoss when the key is malformed.
[[nodiscard]] absl::StatusOr<std::string> DecodeRoomKey(absl::string_view cf,
                                                        absl::string_view key);
// Parses a changes key that must belong to `room`.
// Errors: DataLoss when the key is malformed or belongs to another room.
[[nodiscard]] absl::StatusOr<Seq> DecodeChangeKey(absl::string_view room,
                                                  absl::string_view key);

// A change record's value: header + opaque payload.
struct ChangeRecord {
  int64_t append_micros = 0;  // append time, microseconds since Unix epoch
  absl::string_view payload;  // points into the decoded value
};
std::array<char, kChangeHeaderSize> EncodeChangeHeader(int64_t append_micros);
// Errors: DataLoss (bad version, short record). The payload view points into
// `value`.
[[nodiscard]] absl::StatusOr<ChangeRecord> DecodeChangeValue(
    absl::string_view room, absl::string_view key, absl::string_view value);

// A room's metadata record.
//
// Invariants (checked by DecodeMeta):
//   1. epoch != 0.
//   2. has_snapshot or (trimmed_through == 0 and snapshot_seq == 0).
//   3. trimmed_through <= snapshot_seq.
struct MetaRecord {
  Epoch epoch = 0;
  Seq trimmed_through = 0;  // changes 1..trimmed_through were deleted
  bool has_snapshot = false;
  Seq snapshot_seq = 0;  // mirrors the snapshot record, read without it
  int64_t created_micros = 0;
};
std::string EncodeMeta(const MetaRecord& meta);
// Errors: DataLoss (bad version, wrong size, broken invariant).
[[nodiscard]] absl::StatusOr<MetaRecord> DecodeMeta(absl::string_view room,
                                                    absl::string_view key,
                                                    absl::string_view value);

// A snapshot record's value: header + opaque snapshot bytes.
struct SnapshotRecord {
  Seq seq = 0;
  int64_t written_micros = 0;
  absl::string_view bytes;  // points into the decoded value
};
std::array<char, kSnapshotHeaderSize> EncodeSnapshotHeader(
    Seq seq, int64_t written_micros);
[[nodiscard]] absl::StatusOr<SnapshotRecord> DecodeSnapshot(
    absl::string_view room, absl::string_view key, absl::string_view value);

// A presence checkpoint's value: header + opaque presence state.
struct PresenceRecord {
  int64_t written_micros = 0;
  absl::string_view state;  // points into the decoded value
};
std::array<char, kPresenceHeaderSize> EncodePresenceHeader(
    int64_t written_micros);
[[nodiscard]] absl::StatusOr<PresenceRecord> DecodePresence(
    absl::string_view room, absl::string_view key, absl::string_view value);

// DataLoss "storage: corrupt <cf> record of room "<room>" at key <hex>:
// <what>".
absl::Status CorruptionError(absl::string_view cf, absl::string_view room,
                             absl::string_view key, absl::string_view what);

}  // namespace lattice::storage::internal

#endif  // LATTICE_STORAGE_INTERNAL_FORMAT_H_
