#include "storage/internal/format.h"

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace lattice::storage::internal {
namespace {

constexpr size_t kRoomLengthBytes = 2;

template <size_t N>
std::array<char, N> HeaderWithVersion() {
  std::array<char, N> h{};
  h[0] = static_cast<char>(kRecordVersion);
  return h;
}

void StoreBigEndian64(char* p, uint64_t v) {
  for (int i = 7; i >= 0; --i) {
    p[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
}

// Checks the version byte and minimum size shared by every value.
absl::Status CheckHeader(absl::string_view cf, absl::string_view room,
                         absl::string_view key, absl::string_view value,
                         size_t header_size) {
  if (value.empty()) {
    return CorruptionError(cf, room, key, "empty record");
  }
  const auto version = static_cast<uint8_t>(value[0]);
  if (version != kRecordVersion) {
    return CorruptionError(
        cf, room, key,
        absl::StrCat("unknown record version ", static_cast<int>(version),
                     " (this build reads ", static_cast<int>(kRecordVersion),
                     ")"));
  }
  if (value.size() < header_size) {
    return CorruptionError(cf, room, key,
                           absl::StrCat("short record: ", value.size(),
                                        " bytes, header needs ", header_size));
  }
  return absl::OkStatus();
}

// Splits a key into (room, rest). Errors: DataLoss.
absl::Status SplitRoomKey(absl::string_view cf, absl::string_view key,
                          absl::string_view& room, absl::string_view& rest) {
  if (key.size() < kRoomLengthBytes) {
    return CorruptionError(cf, "?", key, "key shorter than its length prefix");
  }
  const size_t len = (static_cast<size_t>(static_cast<uint8_t>(key[0])) << 8) |
                     static_cast<uint8_t>(key[1]);
  if (len == 0 || len > kMaxRoomIdBytes ||
      key.size() < kRoomLengthBytes + len) {
    return CorruptionError(cf, "?", key,
                           absl::StrCat("bad room id length ", len));
  }
  room = key.substr(kRoomLengthBytes, len);
  rest = key.substr(kRoomLengthBytes + len);
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRoomId(absl::string_view room) {
  if (room.empty()) return absl::InvalidArgumentError("room id is empty");
  if (room.size() > kMaxRoomIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "room id is ", room.size(), " bytes; the limit is ", kMaxRoomIdBytes));
  }
  return absl::OkStatus();
}

void PutBigEndian64(std::string& out, uint64_t v) {
  char buf[8];
  StoreBigEndian64(buf, v);
  out.append(buf, sizeof buf);
}

uint64_t GetBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<uint8_t>(p[i]);
  return v;
}

std::string RoomKey(absl::string_view room) {
  std::string key;
  key.reserve(kRoomLengthBytes + room.size() + 8);
  key.push_back(static_cast<char>((room.size() >> 8) & 0xff));
  key.push_back(static_cast<char>(room.size() & 0xff));
  key.append(room.data(), room.size());
  return key;
}

std::string ChangeKey(absl::string_view room, Seq seq) {
  std::string key = RoomKey(room);
  PutBigEndian64(key, seq);
  return key;
}

absl::StatusOr<std::string> DecodeRoomKey(absl::string_view cf,
                                          absl::string_view key) {
  absl::string_view room, rest;
  if (absl::Status s = SplitRoomKey(cf, key, room, rest); !s.ok()) return s;
  if (!rest.empty()) {
    return CorruptionError(cf, room, key, "trailing bytes after room id");
  }
  return std::string(room);
}

absl::StatusOr<Seq> DecodeChangeKey(absl::string_view room,
                                    absl::string_view key) {
  absl::string_view key_room, rest;
  if (absl::Status s = SplitRoomKey(kChangesCf, key, key_room, rest); !s.ok()) {
    return s;
  }
  if (key_room != room) {
    return CorruptionError(kChangesCf, room, key,
                           "key belongs to another room");
  }
  if (rest.size() != 8) {
    return CorruptionError(
        kChangesCf, room, key,
        absl::StrCat("sequence field is ", rest.size(), " bytes, want 8"));
  }
  return GetBigEndian64(rest.data());
}

std::array<char, kChangeHeaderSize> EncodeChangeHeader(int64_t append_micros) {
  auto h = HeaderWithVersion<kChangeHeaderSize>();
  StoreBigEndian64(h.data() + 1, static_cast<uint64_t>(append_micros));
  return h;
}

absl::StatusOr<ChangeRecord> DecodeChangeValue(absl::string_view room,
                                               absl::string_view key,
                                               absl::string_view value) {
  if (absl::Status s =
          CheckHeader(kChangesCf, room, key, value, kChangeHeaderSize);
      !s.ok()) {
    return s;
  }
  ChangeRecord r;
  r.append_micros = static_cast<int64_t>(GetBigEndian64(value.data() + 1));
  r.payload = value.substr(kChangeHeaderSize);
  return r;
}

std::string EncodeMeta(const MetaRecord& meta) {
  std::string v;
  v.reserve(kMetaSize);
  v.push_back(static_cast<char>(kRecordVersion));
  PutBigEndian64(v, meta.epoch);
  PutBigEndian64(v, meta.trimmed_through);
  v.push_back(meta.has_snapshot ? '\x01' : '\x00');
  PutBigEndian64(v, meta.snapshot_seq);
  PutBigEndian64(v, static_cast<uint64_t>(meta.created_micros));
  return v;
}

absl::StatusOr<MetaRecord> DecodeMeta(absl::string_view room,
                                      absl::string_view key,
                                      absl::string_view value) {
  if (absl::Status s = CheckHeader(kMetaCf, room, key, value, kMetaSize);
      !s.ok()) {
    return s;
  }
  if (value.size() != kMetaSize) {
    return CorruptionError(
        kMetaCf, room, key,
        absl::StrCat("record is ", value.size(), " bytes, want ", kMetaSize));
  }
  const char* p = value.data() + 1;
  MetaRecord m;
  m.epoch = GetBigEndian64(p);
  m.trimmed_through = GetBigEndian64(p + 8);
  const auto flags = static_cast<uint8_t>(p[16]);
  m.snapshot_seq = GetBigEndian64(p + 17);
  m.created_micros = static_cast<int64_t>(GetBigEndian64(p + 25));
  if (flags > 1) {
    return CorruptionError(kMetaCf, room, key,
                           absl::StrCat("unknown flags ", flags));
  }
  m.has_snapshot = flags == 1;
  if (m.epoch == 0) return CorruptionError(kMetaCf, room, key, "epoch is 0");
  if (!m.has_snapshot && (m.trimmed_through != 0 || m.snapshot_seq != 0)) {
    return CorruptionError(kMetaCf, room, key,
                           "trimmed or snapshot seq set without a snapshot");
  }
  if (m.trimmed_through > m.snapshot_seq) {
    return CorruptionError(
        kMetaCf, room, key,
        absl::StrCat("trimmed through ", m.trimmed_through,
                     " beyond snapshot seq ", m.snapshot_seq));
  }
  return m;
}

std::array<char, kSnapshotHeaderSize> EncodeSnapshotHeader(
    Seq seq, int64_t written_micros) {
  auto h = HeaderWithVersion<kSnapshotHeaderSize>();
  StoreBigEndian64(h.data() + 1, seq);
  StoreBigEndian64(h.data() + 9, static_cast<uint64_t>(written_micros));
  return h;
}

absl::StatusOr<SnapshotRecord> DecodeSnapshot(absl::string_view room,
                                              absl::string_view key,
                                              absl::string_view value) {
  if (absl::Status s =
          CheckHeader(kSnapshotsCf, room, key, value, kSnapshotHeaderSize);
      !s.ok()) {
    return s;
  }
  SnapshotRecord r;
  r.seq = GetBigEndian64(value.data() + 1);
  r.written_micros = static_cast<int64_t>(GetBigEndian64(value.data() + 9));
  r.bytes = value.substr(kSnapshotHeaderSize);
  return r;
}

std::array<char, kPresenceHeaderSize> EncodePresenceHeader(
    int64_t written_micros) {
  auto h = HeaderWithVersion<kPresenceHeaderSize>();
  StoreBigEndian64(h.data() + 1, static_cast<uint64_t>(written_micros));
  return h;
}

absl::StatusOr<PresenceRecord> DecodePresence(absl::string_view room,
                                              absl::string_view key,
                                              absl::string_view value) {
  if (absl::Status s =
          CheckHeader(kPresenceCf, room, key, value, kPresenceHeaderSize);
      !s.ok()) {
    return s;
  }
  PresenceRecord r;
  r.written_micros = static_cast<int64_t>(GetBigEndian64(value.data() + 1));
  r.state = value.substr(kPresenceHeaderSize);
  return r;
}

absl::Status CorruptionError(absl::string_view cf, absl::string_view room,
                             absl::string_view key, absl::string_view what) {
  return absl::DataLossError(absl::StrCat(
      "storage: corrupt ", cf, " record of room \"", absl::CHexEscape(room),
      "\" at key ", absl::BytesToHexString(key), ": ", what));
}

}  // namespace lattice::storage::internal
