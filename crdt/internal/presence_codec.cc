#include "crdt/internal/presence_codec.h"

#include <cmath>
#include <cstring>

#include "base/status_macros.h"
#include "base/utf8.h"
#include "crdt/internal/codec.h"
#include "crdt/internal/update_codec.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt::internal {
namespace {

constexpr absl::string_view kWhat = "presence";

// ---- Encoding ---------------------------------------------------------------

void EncodeStamp(const Stamp& s, Writer& w) {
  w.Varint(s.clock);
  w.Varint(s.writer);
}

void EncodeDouble(double d, Writer& w) {
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  w.Fixed64(bits);
}

void EncodeCursor(const Cursor& c, Writer& w) {
  if (const auto* p = std::get_if<Point>(&c)) {
    w.Byte(1);
    EncodeDouble(p->x, w);
    EncodeDouble(p->y, w);
    return;
  }
  const auto& a = std::get<TextAnchor>(c);
  w.Byte(2);
  w.Bytes(a.doc);
  w.Varint(a.container.replica);
  w.Varint(a.container.counter);
  w.Byte(a.element ? 1 : 0);
  if (a.element) {
    w.Varint(a.element->replica);
    w.Varint(a.element->counter);
  }
  w.Varint(a.index);
}

void EncodeFieldValue(const FieldValue& v, Writer& w) {
  switch (TagOf(v)) {
    case FieldTag::kIdentity: {
      const auto& id = std::get<Identity>(v);
      w.Bytes(id.user_id);
      w.Varint(id.display.size());
      for (const auto& [k, val] : id.display) {
        w.Bytes(k);
        w.Bytes(val);
      }
      break;
    }
    case FieldTag::kStatus:
      w.Byte(static_cast<uint8_t>(std::get<PresenceStatus>(v)));
      break;
    case FieldTag::kCursor:
      EncodeCursor(std::get<Cursor>(v), w);
      break;
    case FieldTag::kSelection:
      EncodeCursor(std::get<Selection>(v).anchor, w);
      EncodeCursor(std::get<Selection>(v).head, w);
      break;
    case FieldTag::kTyping:
      w.Bytes(std::get<Typing>(v).doc);
      w.SignedVarint(absl::ToUnixMicros(std::get<Typing>(v).expires_at));
      break;
    case FieldTag::kApp:
      EncodeValue(std::get<Value>(v), w);
      break;
  }
}

void EncodeRegister(const Register& r, Writer& w) {
  w.Byte(r.value ? 1 : 0);
  if (r.value) EncodeFieldValue(*r.value, w);
}

// ---- Decoding ---------------------------------------------------------------

// Re-raises a position-free check failure with the decoder's prefix and the
// byte where the checked item started.
absl::Status AtByte(const absl::Status& s, size_t offset) {
  if (s.ok()) return s;
  return absl::Status(s.code(), absl::StrCat("decode ", kWhat, ": ",
                                             s.message(), " at byte ", offset));
}

// A count bounded by a limit (ResourceExhausted) and by the bytes left, at
// `min_bytes` each (InvalidArgument).
absl::StatusOr<uint64_t> Count(Reader& r, uint64_t max, size_t min_bytes,
                               absl::string_view what) {
  const size_t start = r.offset();
  LATTICE_ASSIGN_OR_RETURN(uint64_t n, r.Varint());
  if (n > max) {
    return absl::ResourceExhaustedError(
        absl::StrCat("decode ", kWhat, ": ", n, " ", what, " exceed limit ",
                     max, " at byte ", start));
  }
  if (n > r.remaining() / min_bytes) {
    return r.Error(absl::StrCat(n, " ", what, " cannot fit in the ",
                                r.remaining(), " bytes left"));
  }
  return n;
}

absl::StatusOr<Stamp> DecodeStamp(Reader& r) {
  Stamp s;
  LATTICE_ASSIGN_OR_RETURN(s.clock, r.Varint());
  LATTICE_ASSIGN_OR_RETURN(s.writer, r.Varint());
  if (s.clock > kMaxPresenceClock) {
    return r.Error(
        absl::StrCat("clock ", s.clock, " exceeds ", kMaxPresenceClock));
  }
  if (s.writer == 0 && s.clock != 0) return r.Error("clock without a writer");
  return s;
}

absl::StatusOr<double> DecodeDouble(Reader& r) {
  LATTICE_ASSIGN_OR_RETURN(uint64_t bits, r.Fixed64());
  double d;
  std::memcpy(&d, &bits, sizeof d);
  return d;
}

absl::StatusOr<OpId> DecodeId(Reader& r) {
  OpId id;
  LATTICE_ASSIGN_OR_RETURN(id.replica, r.Varint());
  LATTICE_ASSIGN_OR_RETURN(id.counter, r.Varint());
  return id;
}

absl::StatusOr<Cursor> DecodeCursor(Reader& r) {
  LATTICE_ASSIGN_OR_RETURN(uint8_t kind, r.Byte());
  if (kind == 1) {
    Point p;
    LATTICE_ASSIGN_OR_RETURN(p.x, DecodeDouble(r));
    LATTICE_ASSIGN_OR_RETURN(p.y, DecodeDouble(r));
    return Cursor(p);
  }
  if (kind != 2) return r.Error(absl::StrCat("unknown cursor kind ", kind));
  TextAnchor a;
  LATTICE_ASSIGN_OR_RETURN(absl::string_view doc, r.Bytes());
  a.doc = std::string(doc);
  LATTICE_ASSIGN_OR_RETURN(a.container, DecodeId(r));
  LATTICE_ASSIGN_OR_RETURN(uint8_t has_element, r.Byte());
  if (has_element > 1) return r.Error("element flag not 0 or 1");
  if (has_element == 1) {
    LATTICE_ASSIGN_OR_RETURN(OpId element, DecodeId(r));
    a.element = element;
  }
  LATTICE_ASSIGN_OR_RETURN(a.index, r.Varint());
  return Cursor(std::move(a));
}

absl::StatusOr<FieldValue> DecodeFieldValue(Reader& r, FieldTag tag,
                                            const PresenceLimits& limits) {
  switch (tag) {
    case FieldTag::kIdentity: {
      Identity id;
      LATTICE_ASSIGN_OR_RETURN(absl::string_view user, r.Bytes());
      id.user_id = std::string(user);
      LATTICE_ASSIGN_OR_RETURN(
          uint64_t n, Count(r, limits.max_display_fields, 2, "display fields"));
      const std::string* previous = nullptr;
      for (uint64_t i = 0; i < n; ++i) {
        LATTICE_ASSIGN_OR_RETURN(absl::string_view k, r.Bytes());
        LATTICE_ASSIGN_OR_RETURN(absl::string_view v, r.Bytes());
        if (previous != nullptr && !(*previous < k)) {
          return r.Error("display keys not in strictly increasing order");
        }
        auto it = id.display.emplace_hint(id.display.end(), std::string(k),
                                          std::string(v));
        previous = &it->first;
      }
      return FieldValue(std::move(id));
    }
    case FieldTag::kStatus: {
      LATTICE_ASSIGN_OR_RETURN(uint8_t s, r.Byte());
      if (s > static_cast<uint8_t>(PresenceStatus::kOffline)) {
        return r.Error(absl::StrCat("unknown status ", s));
      }
      return FieldValue(static_cast<PresenceStatus>(s));
    }
    case FieldTag::kCursor: {
      LATTICE_ASSIGN_OR_RETURN(Cursor c, DecodeCursor(r));
      return FieldValue(std::move(c));
    }
    case FieldTag::kSelection: {
      Selection s;
      LATTICE_ASSIGN_OR_RETURN(s.anchor, DecodeCursor(r));
      LATTICE_ASSIGN_OR_RETURN(s.head, DecodeCursor(r));
      return FieldValue(std::move(s));
    }
    case FieldTag::kTyping: {
      Typing t;
      LATTICE_ASSIGN_OR_RETURN(absl::string_view doc, r.Bytes());
      t.doc = std::string(doc);
      LATTICE_ASSIGN_OR_RETURN(int64_t micros, r.SignedVarint());
      t.expires_at = absl::FromUnixMicros(micros);
      return FieldValue(std::move(t));
    }
    case FieldTag::kApp: {
      LATTICE_ASSIGN_OR_RETURN(Value v, DecodeValue(r));
      return FieldValue(std::move(v));
    }
  }
  return r.Error("unknown field tag");
}

absl::StatusOr<std::pair<FieldKey, Register>> DecodeField(
    Reader& r, const PresenceLimits& limits) {
  const size_t start = r.offset();
  LATTICE_ASSIGN_OR_RETURN(uint8_t tag, r.Byte());
  if (tag < 1 || tag > kMaxFieldTag) {
    return r.Error(absl::StrCat("unknown field tag ", tag));
  }
  FieldKey key{static_cast<FieldTag>(tag), ""};
  if (key.tag == FieldTag::kApp) {
    LATTICE_ASSIGN_OR_RETURN(absl::string_view k, r.Bytes());
    LATTICE_RETURN_IF_ERROR(AtByte(CheckAppKey(k, limits), start));
    key.app_key = std::string(k);
  }
  Register reg;
  LATTICE_ASSIGN_OR_RETURN(reg.stamp, DecodeStamp(r));
  if (reg.stamp.empty()) return r.Error("field without a stamp");
  LATTICE_ASSIGN_OR_RETURN(uint8_t has_value, r.Byte());
  if (has_value > 1) return r.Error("value flag not 0 or 1");
  if (has_value == 1) {
    const size_t value_start = r.offset();
    LATTICE_ASSIGN_OR_RETURN(FieldValue v,
                             DecodeFieldValue(r, key.tag, limits));
    LATTICE_RETURN_IF_ERROR(
        AtByte(CheckFieldValue(key, v, limits), value_start));
    reg.value = std::move(v);
  }
  return std::make_pair(std::move(key), std::move(reg));
}

absl::StatusOr<DecodedSession> DecodeSession(Reader& r,
                                             const PresenceLimits& limits) {
  DecodedSession s;
  const size_t start = r.offset();
  LATTICE_ASSIGN_OR_RETURN(absl::string_view id, r.Bytes());
  LATTICE_RETURN_IF_ERROR(AtByte(CheckSessionId(id, limits), start));
  s.session = std::string(id);
  LATTICE_ASSIGN_OR_RETURN(s.removed, DecodeStamp(r));
  // At most one register per fixed field and per app key.
  const uint64_t max_fields = kMaxFieldTag - 1 + limits.max_app_fields;
  LATTICE_ASSIGN_OR_RETURN(uint64_t n, Count(r, max_fields, 4, "fields"));
  if (n == 0 && s.removed.empty()) {
    return r.Error("session with neither fields nor removal");
  }
  s.fields.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const size_t field_start = r.offset();
    LATTICE_ASSIGN_OR_RETURN(auto field, DecodeField(r, limits));
    if (!s.fields.empty() && !(s.fields.back().first < field.first)) {
      return AtByte(
          absl::InvalidArgumentError("fields not in strictly increasing order"),
          field_start);
    }
    if (!(s.removed < field.second.stamp)) {
      return AtByte(absl::InvalidArgumentError(
                        "field stamp not above the session's removal"),
                    field_start);
    }
    s.fields.push_back(std::move(field));
  }
  return s;
}

bool IsValidText(absl::string_view s) { return IsValidUtf8(s); }

absl::Status CheckText(absl::string_view s, absl::string_view what,
                       const PresenceLimits& limits, bool allow_empty) {
  if (s.size() > limits.max_field_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(what, " of ", s.size(),
                                                     " bytes exceeds limit ",
                                                     limits.max_field_bytes));
  }
  if (!allow_empty && s.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(what, " is empty"));
  }
  if (!IsValidText(s)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " is not valid utf-8"));
  }
  return absl::OkStatus();
}

absl::Status CheckCursor(const Cursor& c, absl::string_view what,
                         const PresenceLimits& limits) {
  if (const auto* p = std::get_if<Point>(&c)) {
    if (!std::isfinite(p->x) || !std::isfinite(p->y)) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, " has a non-finite coordinate"));
    }
    return absl::OkStatus();
  }
  return CheckText(std::get<TextAnchor>(c).doc, absl::StrCat(what, " doc"),
                   limits, /*allow_empty=*/false);
}

}  // namespace

FieldTag TagOf(const FieldValue& value) {
  return static_cast<FieldTag>(value.index() + 1);
}

std::string EncodePresence(PresenceMessageKind kind,
                           const std::vector<SessionView>& sessions) {
  Writer w;
  w.Byte(kPresenceFormatVersion);
  w.Byte(static_cast<uint8_t>(kind));
  w.Varint(sessions.size());
  for (const SessionView& s : sessions) {
    w.Bytes(*s.session);
    EncodeStamp(s.removed, w);
    w.Varint(s.fields.size());
    for (const auto& [key, reg] : s.fields) {
      w.Byte(static_cast<uint8_t>(key->tag));
      if (key->tag == FieldTag::kApp) w.Bytes(key->app_key);
      EncodeStamp(reg->stamp, w);
      EncodeRegister(*reg, w);
    }
  }
  return std::move(w).Finish();
}

absl::StatusOr<DecodedPresence> DecodePresence(absl::string_view bytes,
                                               const PresenceLimits& limits) {
  Reader r(bytes, kWhat);
  LATTICE_ASSIGN_OR_RETURN(uint8_t version, r.Byte());
  if (version != kPresenceFormatVersion) {
    return r.Error(absl::StrCat("unknown format version ", version));
  }
  LATTICE_ASSIGN_OR_RETURN(uint8_t kind, r.Byte());
  if (kind > static_cast<uint8_t>(PresenceMessageKind::kState)) {
    return r.Error(absl::StrCat("unknown message kind ", kind));
  }
  DecodedPresence out;
  out.kind = static_cast<PresenceMessageKind>(kind);
  LATTICE_ASSIGN_OR_RETURN(
      uint64_t n,
      Count(r, limits.max_entries + limits.max_tombstones, 4, "sessions"));
  out.sessions.reserve(n);
  for (uint64_t i = 0; i < n; ++i) {
    const size_t start = r.offset();
    LATTICE_ASSIGN_OR_RETURN(DecodedSession s, DecodeSession(r, limits));
    if (!out.sessions.empty() && !(out.sessions.back().session < s.session)) {
      return AtByte(absl::InvalidArgumentError(
                        "sessions not in strictly increasing order"),
                    start);
    }
    out.sessions.push_back(std::move(s));
  }
  if (!r.done()) {
    return r.Error(absl::StrCat(r.remaining(), " trailing bytes"));
  }
  return out;
}

absl::Status CheckSessionId(absl::string_view session,
                            const PresenceLimits& limits) {
  if (session.size() > limits.max_session_id_bytes) {
    return absl::ResourceExhaustedError(
        absl::StrCat("session id of ", session.size(), " bytes exceeds limit ",
                     limits.max_session_id_bytes));
  }
  if (session.empty()) return absl::InvalidArgumentError("empty session id");
  if (!IsValidText(session)) {
    return absl::InvalidArgumentError("session id is not valid utf-8");
  }
  return absl::OkStatus();
}

absl::Status CheckAppKey(absl::string_view key, const PresenceLimits& limits) {
  return CheckText(key, "app key", limits, /*allow_empty=*/false);
}

absl::Status CheckFieldValue(const FieldKey& key, const FieldValue& value,
                             const PresenceLimits& limits) {
  switch (key.tag) {
    case FieldTag::kIdentity: {
      const auto& id = std::get<Identity>(value);
      LATTICE_RETURN_IF_ERROR(
          CheckText(id.user_id, "user id", limits, /*allow_empty=*/true));
      if (id.display.size() > limits.max_display_fields) {
        return absl::ResourceExhaustedError(
            absl::StrCat(id.display.size(), " display fields exceed limit ",
                         limits.max_display_fields));
      }
      for (const auto& [k, v] : id.display) {
        LATTICE_RETURN_IF_ERROR(
            CheckText(k, "display key", limits, /*allow_empty=*/false));
        LATTICE_RETURN_IF_ERROR(CheckText(v, absl::StrCat("display ", k),
                                          limits, /*allow_empty=*/true));
      }
      return absl::OkStatus();
    }
    case FieldTag::kStatus: {
      const auto s = static_cast<uint8_t>(std::get<PresenceStatus>(value));
      if (s > static_cast<uint8_t>(PresenceStatus::kOffline)) {
        return absl::InvalidArgumentError(absl::StrCat("unknown status ", s));
      }
      return absl::OkStatus();
    }
    case FieldTag::kCursor:
      return CheckCursor(std::get<Cursor>(value), "cursor", limits);
    case FieldTag::kSelection:
      LATTICE_RETURN_IF_ERROR(CheckCursor(std::get<Selection>(value).anchor,
                                          "selection anchor", limits));
      return CheckCursor(std::get<Selection>(value).head, "selection head",
                         limits);
    case FieldTag::kTyping:
      return CheckText(std::get<Typing>(value).doc, "typing doc", limits,
                       /*allow_empty=*/false);
    case FieldTag::kApp: {
      const Value& v = std::get<Value>(value);
      switch (v.kind()) {
        case Value::Kind::kNull:
        case Value::Kind::kBool:
        case Value::Kind::kInt:
        case Value::Kind::kDouble:
          return absl::OkStatus();
        case Value::Kind::kString:
          return CheckText(v.as_string(),
                           absl::StrCat("app field ", key.app_key), limits,
                           /*allow_empty=*/true);
        case Value::Kind::kBytes:
          if (v.as_string().size() > limits.max_field_bytes) {
            return absl::ResourceExhaustedError(absl::StrCat(
                "app field ", key.app_key, " of ", v.as_string().size(),
                " bytes exceeds limit ", limits.max_field_bytes));
          }
          return absl::OkStatus();
        case Value::Kind::kContainer:
        case Value::Kind::kDeleted:
          break;
      }
      return absl::InvalidArgumentError(
          absl::StrCat("app field ", key.app_key, " is not a scalar"));
    }
  }
  return absl::InvalidArgumentError("unknown field");
}

std::string EncodeRegisterValue(const std::optional<FieldValue>& value) {
  Writer w;
  Register r;
  r.value = value;
  EncodeRegister(r, w);
  return std::move(w).Finish();
}

}  // namespace lattice::crdt::internal
