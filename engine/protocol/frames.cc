#include "engine/protocol/frames.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <iterator>
#include <limits>
#include <new>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include <msgpack.hpp>

#include "base/utf8.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lattice::engine::protocol {
namespace {

// Structural bounds of every frame, known or not (docs/protocol.md,
// "Limits"). A frame nests at most four containers deep (frame, presence
// map, selection, cursor); fields a later version appends may be containers
// too, within the same bounds.
constexpr uint32_t kMaxDepth = 4;
// Most fields in a frame and most entries in a map, counting fields a later
// protocol version may append.
constexpr uint64_t kMaxFields = 32;

uint64_t SaturatingAdd(uint64_t a, uint64_t b) {
  return a > std::numeric_limits<uint64_t>::max() - b
             ? std::numeric_limits<uint64_t>::max()
             : a + b;
}

uint64_t SaturatingMul(uint64_t a, uint64_t b) {
  if (a != 0 && b > std::numeric_limits<uint64_t>::max() / a) {
    return std::numeric_limits<uint64_t>::max();
  }
  return a * b;
}

// Name and type tag of each frame struct.
template <typename T>
struct FrameInfo;
#define LATTICE_FRAME_INFO(T, tag, name_str)           \
  template <>                                          \
  struct FrameInfo<T> {                                \
    static constexpr FrameType kType = FrameType::tag; \
    static constexpr const char* kName = name_str;     \
  }
LATTICE_FRAME_INFO(HelloFrame, kHello, "hello");
LATTICE_FRAME_INFO(JoinFrame, kJoin, "join");
LATTICE_FRAME_INFO(ChangeFrame, kChange, "change");
LATTICE_FRAME_INFO(LeaveFrame, kLeave, "leave");
LATTICE_FRAME_INFO(AuthFrame, kAuth, "auth");
LATTICE_FRAME_INFO(PresenceFrame, kPresence, "presence");
// The client's `event` frame; "emit" in messages tells it from the server's.
LATTICE_FRAME_INFO(EmitFrame, kEmit, "emit");
LATTICE_FRAME_INFO(WelcomeFrame, kWelcome, "welcome");
LATTICE_FRAME_INFO(JoinedFrame, kJoined, "joined");
LATTICE_FRAME_INFO(UpdateFrame, kUpdate, "update");
LATTICE_FRAME_INFO(SnapshotFrame, kSnapshot, "snapshot");
LATTICE_FRAME_INFO(AckFrame, kAck, "ack");
LATTICE_FRAME_INFO(LeftFrame, kLeft, "left");
LATTICE_FRAME_INFO(PresenceUpdateFrame, kPresenceUpdate, "presence_update");
LATTICE_FRAME_INFO(EventFrame, kEvent, "event");
LATTICE_FRAME_INFO(EventAckFrame, kEventAck, "event_ack");
LATTICE_FRAME_INFO(ErrorFrame, kError, "error");
#undef LATTICE_FRAME_INFO

// ---------------------------------------------------------------------------
// Encoding

// The msgpack::packer stream: appends to a std::string.
class StringStream {
 public:
  explicit StringStream(std::string* out) : out_(out) {}
  void write(const char* data, size_t size) { out_->append(data, size); }

 private:
  std::string* out_;
};

// Writes one frame: the array header and the tag on construction, then the
// fields in order. Integers take their shortest msgpack form.
class Writer {
 public:
  Writer(std::string* out, FrameType type, uint32_t fields)
      : stream_(out), packer_(stream_) {
    packer_.pack_array(fields);
    Uint(static_cast<uint8_t>(type));
  }

  void Uint(uint64_t v) { packer_.pack_uint64(v); }

  void Str(const std::string& s) {
    packer_.pack_str(Size32(s.size()));
    packer_.pack_str_body(s.data(), static_cast<uint32_t>(s.size()));
  }

  void Bin(const std::string& s) {
    packer_.pack_bin(Size32(s.size()));
    packer_.pack_bin_body(s.data(), static_cast<uint32_t>(s.size()));
  }

  void Nil() { packer_.pack_nil(); }
  void Array(uint32_t n) { packer_.pack_array(n); }
  void Map(uint32_t n) { packer_.pack_map(n); }

  void Cursor(const PresenceCursor& c) {
    if (c.point) {
      packer_.pack_array(2);
      Coordinate(c.x);
      Coordinate(c.y);
      return;
    }
    packer_.pack_array(c.has_element ? 6 : 4);
    Str(c.doc);
    Uint(c.container_replica);
    Uint(c.container_counter);
    Uint(c.index);
    if (c.has_element) {
      Uint(c.element_replica);
      Uint(c.element_counter);
    }
  }

  void AppValue(const PresenceAppValue& v) {
    using Kind = PresenceAppValue::Kind;
    switch (v.kind) {
      case Kind::kDelete:
        packer_.pack_nil();
        break;
      case Kind::kBool:
        v.b ? packer_.pack_true() : packer_.pack_false();
        break;
      case Kind::kInt:
        packer_.pack_int64(v.i);
        break;
      case Kind::kDouble:
        Float64(v.d);
        break;
      case Kind::kString:
        Str(v.s);
        break;
      case Kind::kBytes:
        Bin(v.s);
        break;
    }
  }

  // A cursor coordinate: an integral value as the shortest integer (a
  // point on a pixel grid takes 1-3 bytes, not 9; the decoder takes either),
  // anything else as float64. msgpack-cxx's pack_double does the same, but
  // converts 2^64 to uint64_t, which is undefined.
  void Coordinate(double d) {
    if (d >= -0x1p63 && d < 0x1p63 && d == std::trunc(d)) {
      packer_.pack_int64(static_cast<int64_t>(d));
    } else {
      Float64(d);
    }
  }

  // Always a float64, also when integral: an app field's kind is part of
  // its value, and pack_double would send 1.0 as the integer 1, which every
  // receiver decodes as kInt.
  void Float64(double d) {
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof bits);
    char buf[9];
    buf[0] = static_cast<char>(0xcb);
    for (int i = 0; i < 8; ++i) {
      buf[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
    }
    stream_.write(buf, sizeof buf);
  }

  void Versions(const std::vector<DocVersion>& versions) {
    packer_.pack_array(Size32(versions.size()));
    for (const DocVersion& v : versions) {
      packer_.pack_array(2);
      Str(v.doc);
      Bin(v.version_vector);
    }
  }

 private:
  // msgpack lengths are 32-bit. No frame comes near (DecodeLimits are far
  // below), so a longer field is a caller bug: abort rather than send a
  // frame whose length wrapped.
  static uint32_t Size32(size_t size) {
    if (size > std::numeric_limits<uint32_t>::max()) std::abort();
    return static_cast<uint32_t>(size);
  }

  StringStream stream_;
  msgpack::packer<StringStream> packer_;
};

template <typename T>
Writer Start(std::string* out, uint32_t fields) {
  return Writer(out, FrameInfo<T>::kType, fields);
}

void EncodeTo(const HelloFrame& f, std::string* out) {
  Writer w = Start<HelloFrame>(out, 5);
  w.Uint(f.protocol_version);
  w.Str(f.token);
  w.Uint(f.replica);
  w.Str(f.client_name);
}

void EncodeTo(const JoinFrame& f, std::string* out) {
  Writer w = Start<JoinFrame>(out, 6);
  w.Uint(f.ref);
  w.Str(f.room);
  w.Uint(f.epoch);
  w.Uint(f.seq);
  w.Versions(f.versions);
}

void EncodeTo(const ChangeFrame& f, std::string* out) {
  Writer w = Start<ChangeFrame>(out, 5);
  w.Str(f.room);
  w.Str(f.doc);
  w.Uint(f.client_seq);
  w.Bin(f.update);
}

void EncodeTo(const LeaveFrame& f, std::string* out) {
  Writer w = Start<LeaveFrame>(out, 2);
  w.Str(f.room);
}

void EncodeTo(const AuthFrame& f, std::string* out) {
  Writer w = Start<AuthFrame>(out, 2);
  w.Str(f.token);
}

void EncodeTo(const PresenceFrame& f, std::string* out) {
  Writer w = Start<PresenceFrame>(out, 3);
  w.Str(f.room);
  const uint32_t keys = (f.status ? 1 : 0) + (f.set_cursor ? 1 : 0) +
                        (f.set_selection ? 1 : 0) + (f.set_typing ? 1 : 0) +
                        (f.app.empty() ? 0 : 1);
  w.Map(keys);
  if (f.status) {
    w.Str("status");
    w.Uint(*f.status);
  }
  if (f.set_cursor) {
    w.Str("cursor");
    f.cursor ? w.Cursor(*f.cursor) : w.Nil();
  }
  if (f.set_selection) {
    w.Str("selection");
    if (f.selection) {
      w.Array(2);
      w.Cursor(f.selection->anchor);
      w.Cursor(f.selection->head);
    } else {
      w.Nil();
    }
  }
  if (f.set_typing) {
    w.Str("typing");
    f.typing ? w.Str(*f.typing) : w.Nil();
  }
  if (!f.app.empty()) {
    w.Str("app");
    w.Map(static_cast<uint32_t>(f.app.size()));
    for (const auto& [key, value] : f.app) {
      w.Str(key);
      w.AppValue(value);
    }
  }
}

void EncodeTo(const PresenceUpdateFrame& f, std::string* out) {
  Writer w = Start<PresenceUpdateFrame>(out, 3);
  w.Str(f.room);
  w.Bin(f.presence);
}

void EncodeTo(const EmitFrame& f, std::string* out) {
  Writer w = Start<EmitFrame>(out, 6);
  w.Uint(f.ref);
  w.Str(EventTargetName(f.target_kind));
  w.Str(f.target);
  w.Str(f.name);
  w.Bin(f.payload);
}

void EncodeTo(const WelcomeFrame& f, std::string* out) {
  Writer w = Start<WelcomeFrame>(out, 5);
  w.Str(f.session_id);
  w.Uint(f.protocol_version);
  w.Uint(f.max_message_bytes);
  w.Uint(f.max_rooms);
}

void EncodeTo(const JoinedFrame& f, std::string* out) {
  Writer w = Start<JoinedFrame>(out, 8);
  w.Uint(f.ref);
  w.Str(f.room);
  w.Uint(static_cast<uint8_t>(f.path));
  w.Uint(f.epoch);
  w.Uint(f.seq);
  w.Uint(static_cast<uint8_t>(f.access));
  w.Versions(f.versions);
}

void EncodeTo(const UpdateFrame& f, std::string* out) {
  Writer w = Start<UpdateFrame>(out, 6);
  w.Str(f.room);
  w.Str(f.doc);
  w.Uint(f.epoch);
  w.Uint(f.seq);
  w.Bin(f.update);
}

void EncodeTo(const SnapshotFrame& f, std::string* out) {
  Writer w = Start<SnapshotFrame>(out, 4);
  w.Str(f.room);
  w.Str(f.doc);
  w.Bin(f.snapshot);
}

void EncodeTo(const AckFrame& f, std::string* out) {
  Writer w = Start<AckFrame>(out, 5);
  w.Str(f.room);
  w.Uint(f.client_seq);
  w.Uint(f.epoch);
  w.Uint(f.seq);
}

void EncodeTo(const LeftFrame& f, std::string* out) {
  Writer w = Start<LeftFrame>(out, 2);
  w.Str(f.room);
}

void EncodeTo(const EventFrame& f, std::string* out) {
  Writer w = Start<EventFrame>(out, 5);
  w.Str(f.room);
  w.Str(f.from);
  w.Str(f.name);
  w.Bin(f.payload);
}

void EncodeTo(const EventAckFrame& f, std::string* out) {
  Writer w = Start<EventAckFrame>(out, 3);
  w.Uint(f.ref);
  w.Uint(f.delivered);
}

void EncodeTo(const ErrorFrame& f, std::string* out) {
  Writer w = Start<ErrorFrame>(out, 6);
  w.Str(f.code);
  w.Str(f.message);
  w.Uint(f.ref_type);
  w.Uint(f.ref);
  w.Str(f.room);
}

// ---------------------------------------------------------------------------
// Decoding, pass 1: a msgpack::parse visitor that allocates nothing and
// checks the bounds (top-level array, depth, container, string and object
// counts, trailing bytes) before msgpack::unpack builds any object. The
// object budget matters because unpack allocates every array's declared
// length up front: per-array limits alone would let a few kilobytes of
// nested headers claim 64^3 slots.
class BoundsVisitor : public msgpack::v2::null_visitor {
 public:
  explicit BoundsVisitor(const DecodeLimits& limits)
      : max_array_(std::max(limits.max_docs, kMaxFields)),
        max_str_(std::max({limits.max_name_bytes, limits.max_token_bytes,
                           limits.max_message_text_bytes})),
        max_bin_(limits.max_payload_bytes),
        max_ext_(limits.max_name_bytes),
        max_objects_(
            SaturatingMul(4, SaturatingAdd(limits.max_docs, kMaxFields))) {}

  // The error that stopped the parse, or "" (then msgpack itself failed).
  const std::string& error() const { return error_; }
  uint64_t max_array() const { return max_array_; }
  uint64_t max_str() const { return max_str_; }
  uint64_t max_bin() const { return max_bin_; }
  uint64_t max_ext() const { return max_ext_; }

  bool visit_nil() { return Scalar(); }
  bool visit_boolean(bool) { return Scalar(); }
  bool visit_positive_integer(uint64_t) { return Scalar(); }
  bool visit_negative_integer(int64_t) { return Scalar(); }
  bool visit_float32(float) { return Scalar(); }
  bool visit_float64(double) { return Scalar(); }
  bool visit_str(const char*, uint32_t size) {
    return Scalar() && Bounded("str", size, max_str_);
  }
  bool visit_bin(const char*, uint32_t size) {
    return Scalar() && Bounded("bin", size, max_bin_);
  }
  bool visit_ext(const char*, uint32_t size) {
    return Scalar() && Bounded("ext", size, max_ext_);
  }
  bool start_array(uint32_t n) { return Container(/*is_map=*/false, n, n); }
  bool end_array() { return Close(); }
  bool start_map(uint32_t n) {
    return Container(/*is_map=*/true, n, 2 * static_cast<uint64_t>(n));
  }
  bool end_map() { return Close(); }
  void parse_error(size_t, size_t error_offset) {
    error_ = absl::StrCat("frame: invalid msgpack at byte ", error_offset);
  }
  void insufficient_bytes(size_t, size_t) {
    error_ = "frame: truncated msgpack";
  }

 private:
  bool Fail(std::string error) {
    error_ = std::move(error);
    return false;
  }

  bool Scalar() {
    if (depth_ == 0) return Fail("frame: not a msgpack array");
    return true;
  }

  bool Bounded(const char* what, uint64_t size, uint64_t max) {
    if (size <= max) return true;
    return Fail(absl::StrCat("frame: ", what, " of ", size,
                             " bytes, over the limit of ", max));
  }

  // A container of `n` elements, `objects` msgpack objects.
  bool Container(bool is_map, uint64_t n, uint64_t objects) {
    if (depth_ == 0 && is_map) return Fail("frame: not a msgpack array");
    if (depth_ == kMaxDepth) {
      return Fail(
          absl::StrCat("frame: nested deeper than ", kMaxDepth, " containers"));
    }
    const uint64_t max = is_map ? kMaxFields : max_array_;
    if (n > max) {
      return Fail(absl::StrCat("frame: ", is_map ? "map" : "array", " of ", n,
                               " elements, over the limit of ", max));
    }
    objects_ = SaturatingAdd(objects_, objects);
    if (objects_ > max_objects_) {
      return Fail(
          absl::StrCat("frame: more than ", max_objects_, " msgpack objects"));
    }
    ++depth_;
    return true;
  }

  bool Close() {
    --depth_;
    return true;
  }

  const uint64_t max_array_;
  const uint64_t max_str_;
  const uint64_t max_bin_;
  const uint64_t max_ext_;
  const uint64_t max_objects_;
  uint32_t depth_ = 0;
  uint64_t objects_ = 1;  // the frame array itself
  std::string error_;
};

// Pass 2 reads fields out of the unpacked array. Strings and payloads are
// referenced in the input by unpack (no copy) and copied once into the frame.
bool ReferenceStrings(msgpack::type::object_type type, size_t, void*) {
  return type == msgpack::type::STR || type == msgpack::type::BIN;
}

// Reads the fields of one frame and words its errors
// ("frame change: field 4 (update) is not bin"). The first error sticks:
// later reads return empty values and Finish returns it, so a decoder is a
// straight list of reads.
class FieldReader {
 public:
  // Fields after the first `fields` (tag included) are ignored: a later
  // protocol version may append some.
  FieldReader(const char* frame, const msgpack::object_array& array,
              uint32_t fields, const DecodeLimits& limits)
      : frame_(frame), array_(array), limits_(limits) {
    if (array.size < fields) {
      Fail(absl::StrCat("array of ", array.size, " elements, expected ",
                        fields));
    }
  }

  uint64_t Uint(uint32_t i, const char* name) {
    const msgpack::object* o = Field(i);
    if (o == nullptr) return 0;
    if (o->type != msgpack::type::POSITIVE_INTEGER) {
      Fail(Where(i, name), " is not uint");
      return 0;
    }
    return o->via.u64;
  }

  uint32_t Uint32(uint32_t i, const char* name) {
    const uint64_t v = Uint(i, name);
    if (v > std::numeric_limits<uint32_t>::max()) {
      Fail(Where(i, name), " is not uint32");
      return 0;
    }
    return static_cast<uint32_t>(v);
  }

  uint8_t Uint8(uint32_t i, const char* name) {
    const uint64_t v = Uint(i, name);
    if (v > std::numeric_limits<uint8_t>::max()) {
      Fail(Where(i, name), " is not uint8");
      return 0;
    }
    return static_cast<uint8_t>(v);
  }

  // A uint that must not be 0.
  uint64_t NonZero(uint32_t i, const char* name) {
    const uint64_t v = Uint(i, name);
    if (ok() && v == 0) Fail(Where(i, name), " is 0");
    return v;
  }

  SyncPath Path(uint32_t i, const char* name) {
    const uint64_t v = Uint(i, name);
    if (v > static_cast<uint8_t>(SyncPath::kSnapshot)) {
      Fail(Where(i, name), " is ", v, ", not a sync path (0-3)");
      return SyncPath::kNone;
    }
    return static_cast<SyncPath>(v);
  }

  RoomAccess Access(uint32_t i, const char* name) {
    const uint64_t v = Uint(i, name);
    if (ok() && (v < static_cast<uint8_t>(RoomAccess::kRead) ||
                 v > static_cast<uint8_t>(RoomAccess::kWrite))) {
      Fail(Where(i, name), " is ", v, ", not a room access (1-2)");
      return RoomAccess::kRead;
    }
    return static_cast<RoomAccess>(v);
  }

  // A str of at most `max` bytes, content unchecked.
  std::string Text(uint32_t i, const char* name, uint64_t max) {
    const msgpack::object* o = Field(i);
    return o == nullptr ? std::string() : StrOf(*o, Where(i, name), max);
  }

  // A room or document name: str, non-empty, UTF-8, at most max_name_bytes.
  std::string Name(uint32_t i, const char* name) {
    const msgpack::object* o = Field(i);
    return o == nullptr ? std::string() : NameOf(*o, Where(i, name), false);
  }

  // Like Name, but may be empty.
  std::string OptionalName(uint32_t i, const char* name) {
    const msgpack::object* o = Field(i);
    return o == nullptr ? std::string() : NameOf(*o, Where(i, name), true);
  }

  // An update or snapshot: bin of at most max_payload_bytes.
  std::string Payload(uint32_t i, const char* name) {
    const msgpack::object* o = Field(i);
    return o == nullptr ? std::string() : BinOf(*o, Where(i, name));
  }

  // An event target kind: the str "room" or "user".
  EventTarget Target(uint32_t i, const char* name) {
    const std::string s = Text(i, name, limits_.max_name_bytes);
    if (!ok()) return EventTarget::kRoom;
    if (s == EventTargetName(EventTarget::kRoom)) return EventTarget::kRoom;
    if (s == EventTargetName(EventTarget::kUser)) return EventTarget::kUser;
    Fail(Where(i, name), " is not \"room\" or \"user\"");
    return EventTarget::kRoom;
  }

  // An event payload: bin of at most max_event_payload_bytes.
  std::string EventPayload(uint32_t i, const char* name) {
    const msgpack::object* o = Field(i);
    if (o == nullptr) return std::string();
    const std::string where = Where(i, name);
    if (o->type == msgpack::type::BIN &&
        o->via.bin.size > limits_.max_event_payload_bytes) {
      Fail(where, " is ", o->via.bin.size, " bytes, over the limit of ",
           limits_.max_event_payload_bytes);
      return std::string();
    }
    return BinOf(*o, where);
  }

  // [[doc, vv], ...]: at most max_docs entries; each entry an array whose
  // first two elements are a name and a bin (later ones ignored).
  std::vector<DocVersion> Versions(uint32_t i, const char* name) {
    const msgpack::object* o = Field(i);
    if (o == nullptr) return {};
    const std::string where = Where(i, name);
    if (o->type != msgpack::type::ARRAY) {
      Fail(where, " is not array");
      return {};
    }
    const msgpack::object_array& list = o->via.array;
    if (list.size > limits_.max_docs) {
      Fail(where, " has ", list.size, " documents, over the limit of ",
           limits_.max_docs);
      return {};
    }
    std::vector<DocVersion> versions;
    versions.reserve(list.size);
    for (uint32_t k = 0; k < list.size && ok(); ++k) {
      const std::string entry = absl::StrCat(where, " entry ", k);
      const msgpack::object& e = list.ptr[k];
      if (e.type != msgpack::type::ARRAY || e.via.array.size < 2) {
        Fail(entry, " is not a [doc, version_vector] array");
        break;
      }
      DocVersion v;
      v.doc = NameOf(e.via.array.ptr[0], absl::StrCat(entry, " doc"), false);
      v.version_vector =
          BinOf(e.via.array.ptr[1], absl::StrCat(entry, " version_vector"));
      versions.push_back(std::move(v));
    }
    return versions;
  }

  // The map of a presence frame into `f` (see PresenceFrame).
  void PresenceFields(uint32_t i, PresenceFrame* f) {
    const msgpack::object* o = Field(i);
    if (o == nullptr) return;
    const std::string where = Where(i, "set");
    if (o->type != msgpack::type::MAP) {
      Fail(where, " is not map");
      return;
    }
    const msgpack::object_map& m = o->via.map;
    uint32_t seen = 0;
    for (uint32_t k = 0; k < m.size && ok(); ++k) {
      const msgpack::object& key = m.ptr[k].key;
      const msgpack::object& value = m.ptr[k].val;
      if (key.type != msgpack::type::STR) {
        Fail(where, " key ", k, " is not str");
        return;
      }
      const absl::string_view name(key.via.str.ptr, key.via.str.size);
      static constexpr absl::string_view kKeys[] = {
          "status", "cursor", "selection", "typing", "app"};
      const auto known = std::find(std::begin(kKeys), std::end(kKeys), name);
      if (known == std::end(kKeys)) continue;  // a later version's field
      const uint32_t bit = 1u << (known - std::begin(kKeys));
      const std::string at = absl::StrCat(where, " ", name);
      if (seen & bit) {
        Fail(at, " appears twice");
        return;
      }
      seen |= bit;
      if (name == "status") {
        const uint64_t v = UintOf(value, at);
        if (ok() && v > 3) Fail(at, " is ", v, ", not a status (0-3)");
        f->status = static_cast<uint8_t>(v);
      } else if (name == "cursor") {
        f->set_cursor = true;
        if (value.type != msgpack::type::NIL) f->cursor = CursorOf(value, at);
      } else if (name == "selection") {
        f->set_selection = true;
        if (value.type == msgpack::type::NIL) continue;
        if (value.type != msgpack::type::ARRAY || value.via.array.size != 2) {
          Fail(at, " is not an [anchor, head] array");
          return;
        }
        PresenceSelection sel;
        sel.anchor =
            CursorOf(value.via.array.ptr[0], absl::StrCat(at, " anchor"));
        sel.head = CursorOf(value.via.array.ptr[1], absl::StrCat(at, " head"));
        f->selection = std::move(sel);
      } else if (name == "typing") {
        f->set_typing = true;
        if (value.type != msgpack::type::NIL)
          f->typing = NameOf(value, at, false);
      } else {
        AppFields(value, at, &f->app);
      }
    }
  }

  bool ok() const { return status_.ok(); }

  // The frame, or the first error.
  template <typename T>
  absl::StatusOr<Frame> Finish(T frame) {
    if (!ok()) return status_;
    return Frame(std::move(frame));
  }

 private:
  template <typename... Args>
  void Fail(const Args&... what) {
    if (ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("frame ", frame_, ": ", what...));
    }
  }

  static std::string Where(uint32_t i, const char* name) {
    return absl::StrCat("field ", i, " (", name, ")");
  }

  // Field `i`, or nullptr after an error (the array size was checked).
  const msgpack::object* Field(uint32_t i) const {
    return ok() ? &array_.ptr[i] : nullptr;
  }

  std::string StrOf(const msgpack::object& o, const std::string& where,
                    uint64_t max) {
    if (!ok()) return std::string();
    if (o.type != msgpack::type::STR) {
      Fail(where, " is not str");
      return std::string();
    }
    if (o.via.str.size > max) {
      Fail(where, " is ", o.via.str.size, " bytes, over the limit of ", max);
      return std::string();
    }
    return std::string(o.via.str.ptr, o.via.str.size);
  }

  std::string NameOf(const msgpack::object& o, const std::string& where,
                     bool allow_empty) {
    std::string s = StrOf(o, where, limits_.max_name_bytes);
    if (!ok()) return std::string();
    if (s.empty() && !allow_empty) {
      Fail(where, " is empty");
    } else if (!IsValidUtf8(s)) {
      Fail(where, " is not valid UTF-8");
    }
    return s;
  }

  uint64_t UintOf(const msgpack::object& o, const std::string& where) {
    if (!ok()) return 0;
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      Fail(where, " is not uint");
      return 0;
    }
    return o.via.u64;
  }

  // A finite number (NaN would not survive a round trip unchanged).
  double NumberOf(const msgpack::object& o, const std::string& where) {
    if (!ok()) return 0;
    double v;
    switch (o.type) {
      case msgpack::type::POSITIVE_INTEGER:
        v = static_cast<double>(o.via.u64);
        break;
      case msgpack::type::NEGATIVE_INTEGER:
        v = static_cast<double>(o.via.i64);
        break;
      case msgpack::type::FLOAT32:
      case msgpack::type::FLOAT64:
        v = o.via.f64;
        break;
      default:
        Fail(where, " is not a number");
        return 0;
    }
    if (!std::isfinite(v)) Fail(where, " is not finite");
    return v;
  }

  PresenceCursor CursorOf(const msgpack::object& o, const std::string& where) {
    PresenceCursor c;
    if (!ok()) return c;
    if (o.type != msgpack::type::ARRAY) {
      Fail(where, " is not a cursor array");
      return c;
    }
    const msgpack::object_array& a = o.via.array;
    if (a.size == 2) {
      c.x = NumberOf(a.ptr[0], absl::StrCat(where, " x"));
      c.y = NumberOf(a.ptr[1], absl::StrCat(where, " y"));
      return c;
    }
    if (a.size != 4 && a.size != 6) {
      Fail(where, " has ", a.size, " elements, not 2, 4 or 6");
      return c;
    }
    c.point = false;
    c.doc = NameOf(a.ptr[0], absl::StrCat(where, " doc"), false);
    c.container_replica = UintOf(a.ptr[1], absl::StrCat(where, " container"));
    c.container_counter = UintOf(a.ptr[2], absl::StrCat(where, " container"));
    c.index = UintOf(a.ptr[3], absl::StrCat(where, " index"));
    if (a.size == 6) {
      c.has_element = true;
      c.element_replica = UintOf(a.ptr[4], absl::StrCat(where, " element"));
      c.element_counter = UintOf(a.ptr[5], absl::StrCat(where, " element"));
    }
    return c;
  }

  void AppFields(const msgpack::object& o, const std::string& where,
                 std::vector<std::pair<std::string, PresenceAppValue>>* out) {
    if (!ok()) return;
    if (o.type != msgpack::type::MAP) {
      Fail(where, " is not map");
      return;
    }
    const msgpack::object_map& m = o.via.map;
    if (m.size > limits_.max_presence_app_fields) {
      Fail(where, " has ", m.size, " fields, over the limit of ",
           limits_.max_presence_app_fields);
      return;
    }
    using Kind = PresenceAppValue::Kind;
    for (uint32_t k = 0; k < m.size && ok(); ++k) {
      const std::string at = absl::StrCat(where, " field ", k);
      std::string key = NameOf(m.ptr[k].key, at, false);
      for (const auto& [other, v] : *out) {
        if (ok() && other == key) Fail(at, " repeats a key");
      }
      const msgpack::object& v = m.ptr[k].val;
      PresenceAppValue value;
      switch (v.type) {
        case msgpack::type::NIL:
          value.kind = Kind::kDelete;
          break;
        case msgpack::type::BOOLEAN:
          value.kind = Kind::kBool;
          value.b = v.via.boolean;
          break;
        case msgpack::type::POSITIVE_INTEGER:
          if (v.via.u64 >
              static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
            Fail(at, " is above int64");
          }
          value.kind = Kind::kInt;
          value.i = static_cast<int64_t>(v.via.u64);
          break;
        case msgpack::type::NEGATIVE_INTEGER:
          value.kind = Kind::kInt;
          value.i = v.via.i64;
          break;
        case msgpack::type::FLOAT32:
        case msgpack::type::FLOAT64:
          value.kind = Kind::kDouble;
          value.d = NumberOf(v, at);
          break;
        case msgpack::type::STR:
          value.kind = Kind::kString;
          value.s = StrOf(v, at, limits_.max_name_bytes);
          if (ok() && !IsValidUtf8(value.s)) Fail(at, " is not valid UTF-8");
          break;
        case msgpack::type::BIN:
          value.kind = Kind::kBytes;
          if (v.via.bin.size > limits_.max_name_bytes) {
            Fail(at, " is ", v.via.bin.size, " bytes, over the limit of ",
                 limits_.max_name_bytes);
          } else {
            value.s.assign(v.via.bin.ptr, v.via.bin.size);
          }
          break;
        default:
          Fail(at, " is not a scalar or nil");
      }
      out->emplace_back(std::move(key), std::move(value));
    }
  }

  std::string BinOf(const msgpack::object& o, const std::string& where) {
    if (!ok()) return std::string();
    if (o.type != msgpack::type::BIN) {
      Fail(where, " is not bin");
      return std::string();
    }
    if (o.via.bin.size > limits_.max_payload_bytes) {
      Fail(where, " is ", o.via.bin.size, " bytes, over the limit of ",
           limits_.max_payload_bytes);
      return std::string();
    }
    return std::string(o.via.bin.ptr, o.via.bin.size);
  }

  const char* frame_;
  const msgpack::object_array& array_;
  const DecodeLimits& limits_;
  absl::Status status_;
};

template <typename T>
FieldReader Reader(const msgpack::object_array& array, uint32_t fields,
                   const DecodeLimits& limits) {
  return FieldReader(FrameInfo<T>::kName, array, fields, limits);
}

absl::StatusOr<Frame> DecodeHello(const msgpack::object_array& a,
                                  const DecodeLimits& limits) {
  FieldReader r = Reader<HelloFrame>(a, 5, limits);
  HelloFrame f;
  f.protocol_version = r.Uint32(1, "protocol_version");
  f.token = r.Text(2, "token", limits.max_token_bytes);
  f.replica = r.NonZero(3, "replica");
  f.client_name = r.Text(4, "client_name", limits.max_name_bytes);
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeJoin(const msgpack::object_array& a,
                                 const DecodeLimits& limits) {
  FieldReader r = Reader<JoinFrame>(a, 6, limits);
  JoinFrame f;
  f.ref = r.Uint(1, "ref");
  f.room = r.Name(2, "room");
  f.epoch = r.Uint(3, "epoch");
  f.seq = r.Uint(4, "seq");
  f.versions = r.Versions(5, "versions");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeChange(const msgpack::object_array& a,
                                   const DecodeLimits& limits) {
  FieldReader r = Reader<ChangeFrame>(a, 5, limits);
  ChangeFrame f;
  f.room = r.Name(1, "room");
  f.doc = r.Name(2, "doc");
  f.client_seq = r.Uint(3, "client_seq");
  f.update = r.Payload(4, "update");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeLeave(const msgpack::object_array& a,
                                  const DecodeLimits& limits) {
  FieldReader r = Reader<LeaveFrame>(a, 2, limits);
  LeaveFrame f;
  f.room = r.Name(1, "room");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeAuth(const msgpack::object_array& a,
                                 const DecodeLimits& limits) {
  FieldReader r = Reader<AuthFrame>(a, 2, limits);
  AuthFrame f;
  f.token = r.Text(1, "token", limits.max_token_bytes);
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodePresence(const msgpack::object_array& a,
                                     const DecodeLimits& limits) {
  FieldReader r = Reader<PresenceFrame>(a, 3, limits);
  PresenceFrame f;
  f.room = r.Name(1, "room");
  r.PresenceFields(2, &f);
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodePresenceUpdate(const msgpack::object_array& a,
                                           const DecodeLimits& limits) {
  FieldReader r = Reader<PresenceUpdateFrame>(a, 3, limits);
  PresenceUpdateFrame f;
  f.room = r.Name(1, "room");
  f.presence = r.Payload(2, "presence");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeEmit(const msgpack::object_array& a,
                                 const DecodeLimits& limits) {
  FieldReader r = Reader<EmitFrame>(a, 6, limits);
  EmitFrame f;
  f.ref = r.Uint(1, "ref");
  f.target_kind = r.Target(2, "target_kind");
  f.target = r.Name(3, "target");
  f.name = r.Name(4, "name");
  f.payload = r.EventPayload(5, "payload");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeWelcome(const msgpack::object_array& a,
                                    const DecodeLimits& limits) {
  FieldReader r = Reader<WelcomeFrame>(a, 5, limits);
  WelcomeFrame f;
  f.session_id = r.Text(1, "session_id", limits.max_name_bytes);
  f.protocol_version = r.Uint32(2, "protocol_version");
  f.max_message_bytes = r.Uint(3, "max_message_bytes");
  f.max_rooms = r.Uint(4, "max_rooms");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeJoined(const msgpack::object_array& a,
                                   const DecodeLimits& limits) {
  FieldReader r = Reader<JoinedFrame>(a, 8, limits);
  JoinedFrame f;
  f.ref = r.Uint(1, "ref");
  f.room = r.Name(2, "room");
  f.path = r.Path(3, "path");
  f.epoch = r.Uint(4, "epoch");
  f.seq = r.Uint(5, "seq");
  f.access = r.Access(6, "access");
  f.versions = r.Versions(7, "versions");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeUpdate(const msgpack::object_array& a,
                                   const DecodeLimits& limits) {
  FieldReader r = Reader<UpdateFrame>(a, 6, limits);
  UpdateFrame f;
  f.room = r.Name(1, "room");
  f.doc = r.Name(2, "doc");
  f.epoch = r.Uint(3, "epoch");
  f.seq = r.Uint(4, "seq");
  f.update = r.Payload(5, "update");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeSnapshot(const msgpack::object_array& a,
                                     const DecodeLimits& limits) {
  FieldReader r = Reader<SnapshotFrame>(a, 4, limits);
  SnapshotFrame f;
  f.room = r.Name(1, "room");
  f.doc = r.Name(2, "doc");
  f.snapshot = r.Payload(3, "snapshot");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeAck(const msgpack::object_array& a,
                                const DecodeLimits& limits) {
  FieldReader r = Reader<AckFrame>(a, 5, limits);
  AckFrame f;
  f.room = r.Name(1, "room");
  f.client_seq = r.Uint(2, "client_seq");
  f.epoch = r.Uint(3, "epoch");
  f.seq = r.Uint(4, "seq");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeLeft(const msgpack::object_array& a,
                                 const DecodeLimits& limits) {
  FieldReader r = Reader<LeftFrame>(a, 2, limits);
  LeftFrame f;
  f.room = r.Name(1, "room");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeEvent(const msgpack::object_array& a,
                                  const DecodeLimits& limits) {
  FieldReader r = Reader<EventFrame>(a, 5, limits);
  EventFrame f;
  f.room = r.OptionalName(1, "room");
  f.from = r.Name(2, "from");
  f.name = r.Name(3, "name");
  f.payload = r.EventPayload(4, "payload");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeEventAck(const msgpack::object_array& a,
                                     const DecodeLimits& limits) {
  FieldReader r = Reader<EventAckFrame>(a, 3, limits);
  EventAckFrame f;
  f.ref = r.Uint(1, "ref");
  f.delivered = r.Uint(2, "delivered");
  return r.Finish(std::move(f));
}

absl::StatusOr<Frame> DecodeError(const msgpack::object_array& a,
                                  const DecodeLimits& limits) {
  FieldReader r = Reader<ErrorFrame>(a, 6, limits);
  ErrorFrame f;
  f.code = r.Text(1, "code", limits.max_name_bytes);
  f.message = r.Text(2, "message", limits.max_message_text_bytes);
  f.ref_type = r.Uint8(3, "ref_type");
  f.ref = r.Uint(4, "ref");
  f.room = r.OptionalName(5, "room");
  return r.Finish(std::move(f));
}

// Decodes the fields of a frame whose array `array` has passed pass 1.
absl::StatusOr<Frame> DecodeFields(const msgpack::object_array& array,
                                   const DecodeLimits& limits) {
  if (array.size == 0) return absl::InvalidArgumentError("frame: empty array");
  const msgpack::object& tag = array.ptr[0];
  if (tag.type != msgpack::type::POSITIVE_INTEGER) {
    return absl::InvalidArgumentError("frame: field 0 (type) is not uint");
  }
  switch (tag.via.u64) {
    case static_cast<uint8_t>(FrameType::kHello):
      return DecodeHello(array, limits);
    case static_cast<uint8_t>(FrameType::kJoin):
      return DecodeJoin(array, limits);
    case static_cast<uint8_t>(FrameType::kChange):
      return DecodeChange(array, limits);
    case static_cast<uint8_t>(FrameType::kLeave):
      return DecodeLeave(array, limits);
    case static_cast<uint8_t>(FrameType::kAuth):
      return DecodeAuth(array, limits);
    case static_cast<uint8_t>(FrameType::kPresence):
      return DecodePresence(array, limits);
    case static_cast<uint8_t>(FrameType::kEmit):
      return DecodeEmit(array, limits);
    case static_cast<uint8_t>(FrameType::kWelcome):
      return DecodeWelcome(array, limits);
    case static_cast<uint8_t>(FrameType::kJoined):
      return DecodeJoined(array, limits);
    case static_cast<uint8_t>(FrameType::kUpdate):
      return DecodeUpdate(array, limits);
    case static_cast<uint8_t>(FrameType::kSnapshot):
      return DecodeSnapshot(array, limits);
    case static_cast<uint8_t>(FrameType::kAck):
      return DecodeAck(array, limits);
    case static_cast<uint8_t>(FrameType::kLeft):
      return DecodeLeft(array, limits);
    case static_cast<uint8_t>(FrameType::kPresenceUpdate):
      return DecodePresenceUpdate(array, limits);
    case static_cast<uint8_t>(FrameType::kEvent):
      return DecodeEvent(array, limits);
    case static_cast<uint8_t>(FrameType::kEventAck):
      return DecodeEventAck(array, limits);
    case static_cast<uint8_t>(FrameType::kError):
      return DecodeError(array, limits);
    default:
      return absl::UnimplementedError(
          absl::StrCat("frame: unknown type tag ", tag.via.u64));
  }
}

// msgpack sizes are 32-bit; larger limits mean "no limit" to unpack.
size_t Clamp32(uint64_t v) {
  return static_cast<size_t>(
      std::min<uint64_t>(v, std::numeric_limits<uint32_t>::max()));
}

absl::StatusOr<Frame> DecodeOrThrow(absl::string_view bytes,
                                    const DecodeLimits& limits) {
  if (bytes.empty()) return absl::InvalidArgumentError("frame: empty message");
  // Pass 1: bounds, without allocating.
  BoundsVisitor bounds(limits);
  size_t end = 0;
  if (!msgpack::v3::parse(bytes.data(), bytes.size(), end, bounds)) {
    return absl::InvalidArgumentError(
        bounds.error().empty() ? std::string("frame: invalid msgpack")
                               : bounds.error());
  }
  if (end != bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "frame: ", bytes.size() - end, " trailing bytes after the array"));
  }
  // Pass 2: the objects, under the same limits (a second line of defence).
  const msgpack::unpack_limit unpack_limit(
      Clamp32(bounds.max_array()), Clamp32(kMaxFields),
      Clamp32(bounds.max_str()), Clamp32(bounds.max_bin()),
      Clamp32(bounds.max_ext()), kMaxDepth);
  size_t offset = 0;
  msgpack::object_handle handle =
      msgpack::unpack(bytes.data(), bytes.size(), offset, &ReferenceStrings,
                      nullptr, unpack_limit);
  if (offset != bytes.size()) {
    return absl::InvalidArgumentError("frame: trailing bytes after the array");
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY) {
    return absl::InvalidArgumentError("frame: not a msgpack array");
  }
  return DecodeFields(root.via.array, limits);
}

}  // namespace

const char* EventTargetName(EventTarget target) {
  return target == EventTarget::kUser ? "user" : "room";
}

FrameType TypeOf(const Frame& frame) {
  return std::visit(
      [](const auto& f) { return FrameInfo<std::decay_t<decltype(f)>>::kType; },
      frame);
}

std::string EncodeFrame(const Frame& frame) {
  std::string out;
  std::visit([&out](const auto& f) { EncodeTo(f, &out); }, frame);
  return out;
}

absl::StatusOr<Frame> DecodeFrame(absl::string_view bytes,
                                  const DecodeLimits& limits) {
  // msgpack reports malformed input and exceeded limits by exceptions
  // (unpack_error and its size_overflow / insufficient_bytes / parse_error
  // subclasses, type_error); none may leave the codec (style.md B3).
  try {
    return DecodeOrThrow(bytes, limits);
  } catch (const msgpack::unpack_error& e) {
    return absl::InvalidArgumentError(absl::StrCat("frame: ", e.what()));
  } catch (const msgpack::type_error&) {
    return absl::InvalidArgumentError("frame: msgpack type error");
  } catch (const std::bad_alloc&) {
    return absl::InvalidArgumentError("frame: too large to decode");
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat("frame: ", e.what()));
  }
}

absl::StatusOr<std::vector<absl::string_view>> SplitFrames(
    absl::string_view message, const DecodeLimits& limits) {
  if (message.empty()) {
    return absl::InvalidArgumentError("message: empty");
  }
  std::vector<absl::string_view> frames;
  size_t at = 0;
  while (at < message.size()) {
    BoundsVisitor bounds(limits);
    size_t end = 0;
    bool parsed = false;
    std::string error;
    try {  // msgpack may throw; nothing leaves the codec (style.md B3)
      parsed = msgpack::v3::parse(message.data() + at, message.size() - at, end,
                                  bounds);
    } catch (const std::exception& e) {
      error = e.what();
    }
    if (!parsed || end == 0) {
      if (error.empty()) {
        error = bounds.error().empty() ? "invalid msgpack" : bounds.error();
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "message: frame ", frames.size() + 1, " at byte ", at, ": ", error));
    }
    frames.push_back(message.substr(at, end));
    at += end;
  }
  return frames;
}

std::vector<absl::StatusOr<Frame>> DecodeFrames(absl::string_view message,
                                                const DecodeLimits& limits) {
  std::vector<absl::StatusOr<Frame>> frames;
  absl::StatusOr<std::vector<absl::string_view>> pieces =
      SplitFrames(message, limits);
  if (!pieces.ok()) {
    frames.push_back(pieces.status());
    return frames;
  }
  frames.reserve(pieces->size());
  for (absl::string_view piece : *pieces) {
    frames.push_back(DecodeFrame(piece, limits));
  }
  return frames;
}

uint8_t PeekType(absl::string_view bytes) {
  const auto byte = [bytes](size_t i) -> uint64_t {
    return static_cast<uint8_t>(bytes[i]);
  };
  if (bytes.empty()) return 0;
  size_t at;                                 // offset of the first element
  uint64_t size;                             // declared element count
  if (byte(0) >= 0x90 && byte(0) <= 0x9f) {  // fixarray
    at = 1;
    size = byte(0) & 0x0f;
  } else if (byte(0) == 0xdc && bytes.size() >= 3) {  // array 16
    at = 3;
    size = byte(1) << 8 | byte(2);
  } else if (byte(0) == 0xdd && bytes.size() >= 5) {  // array 32
    at = 5;
    size = byte(1) << 24 | byte(2) << 16 | byte(3) << 8 | byte(4);
  } else {
    return 0;
  }
  if (size == 0 || at >= bytes.size()) return 0;
  if (byte(at) <= 0x7f) return static_cast<uint8_t>(byte(at));  // fixint
  if (byte(at) == 0xcc && at + 1 < bytes.size()) {              // uint 8
    return static_cast<uint8_t>(byte(at + 1));
  }
  return 0;
}

}  // namespace lattice::engine::protocol
