// The wire codec of engine/protocol/frames.h against docs/protocol.md.
//
// Oracles, none of them the codec itself:
// 1. Golden bytes written out by hand from the msgpack spec and the field
//    order of docs/protocol.md (the doc's worked examples among them), so the
//    wire format cannot drift silently.
// 2. Malformed frames built element by element with a tiny msgpack writer of
//    this file (Msg), independent of msgpack-c; each must be refused with
//    the code and the "frame <name>: field <i> (<field>) ..." message the
//    header promises.
// 3. Round trips: decode(encode(f)) equals f field by field (FramesEqual of
//    tests/fuzz/frame_checks.h), for every frame type with edge values.
// 4. Random and mutated bytes (fixed seeds): CheckFrameBytes (the fuzzer's
//    property: only OK / InvalidArgument / Unimplemented, and a canonical
//    round trip of whatever decodes) holds for every input.
#include "engine/protocol/frames.h"

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "tests/fuzz/frame_checks.h"
#include "tests/testing/status_matchers.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::protocol {
namespace {

using ::lattice::fuzz::CheckFrameBytes;
using ::lattice::fuzz::FramesEqual;
using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint64_t kMax64 = std::numeric_limits<uint64_t>::max();
constexpr uint32_t kMax32 = std::numeric_limits<uint32_t>::max();

// ---------------------------------------------------------------------------
// Helpers

std::string Hex(absl::string_view bytes) {
  std::string out;
  for (char c : bytes) {
    absl::StrAppendFormat(&out, "%02x", static_cast<uint8_t>(c));
  }
  return out;
}

// "95 03 a5..." -> bytes; spaces are ignored.
std::string Unhex(absl::string_view hex) {
  std::string digits;
  for (char c : hex) {
    if (c != ' ') digits.push_back(c);
  }
  std::string out;
  for (size_t i = 0; i + 1 < digits.size(); i += 2) {
    out.push_back(static_cast<char>(
        std::stoi(std::string(digits.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// A hand-rolled msgpack writer (msgpack spec, "formats"), independent of
// msgpack-c, for building frames element by element.
namespace msg {

// `marker` followed by `v` in `bytes` big-endian bytes.
std::string Head(uint8_t marker, uint64_t v, int bytes) {
  std::string out(1, static_cast<char>(marker));
  for (int i = bytes - 1; i >= 0; --i) {
    out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  return out;
}

std::string Byte(uint64_t b) { return std::string(1, static_cast<char>(b)); }

std::string U(uint64_t v) {  // shortest positive integer
  if (v <= 0x7f) return Byte(v);
  if (v <= 0xff) return Head(0xcc, v, 1);
  if (v <= 0xffff) return Head(0xcd, v, 2);
  if (v <= 0xffffffff) return Head(0xce, v, 4);
  return Head(0xcf, v, 8);
}

std::string Str(absl::string_view s) {
  std::string out;
  if (s.size() <= 31) {
    out = Byte(0xa0 | s.size());
  } else if (s.size() <= 0xff) {
    out = Head(0xd9, s.size(), 1);
  } else if (s.size() <= 0xffff) {
    out = Head(0xda, s.size(), 2);
  } else {
    out = Head(0xdb, s.size(), 4);
  }
  out.append(s.data(), s.size());
  return out;
}

std::string Bin(absl::string_view b) {
  std::string out;
  if (b.size() <= 0xff) {
    out = Head(0xc4, b.size(), 1);
  } else if (b.size() <= 0xffff) {
    out = Head(0xc5, b.size(), 2);
  } else {
    out = Head(0xc6, b.size(), 4);
  }
  out.append(b.data(), b.size());
  return out;
}

std::string ArrayHeader(uint64_t n) {
  if (n <= 15) return Byte(0x90 | n);
  if (n <= 0xffff) return Head(0xdc, n, 2);
  return Head(0xdd, n, 4);
}

std::string Arr(const std::vector<std::string>& elements) {
  std::string out = ArrayHeader(elements.size());
  for (const std::string& e : elements) out += e;
  return out;
}

const std::string kNil = "\xc0";
const std::string kTrue = "\xc3";
const std::string kMinusOne = "\xff";  // negative fixint -1
const std::string kFloat64("\xcb\x3f\xf0\0\0\0\0\0\0", 9);  // 1.0
const std::string kEmptyMap = "\x80";

}  // namespace msg

Frame RoundTrip(const Frame& f, const DecodeLimits& limits = {}) {
  absl::StatusOr<Frame> back = DecodeFrame(EncodeFrame(f), limits);
  EXPECT_THAT(back, IsOk());
  return back.ok() ? *std::move(back)
                   : Frame(ErrorFrame{"unset", "", 0, 0, ""});
}

DocVersion Dv(std::string doc, std::string vv) {
  return DocVersion{std::move(doc), std::move(vv)};
}

// One frame of every type, with ordinary values.
PresenceFrame SamplePresence() {
  PresenceFrame f;
  f.room = "board";
  f.status = 1;
  f.set_cursor = true;
  PresenceCursor point;
  point.x = 10.5;
  point.y = -3;
  f.cursor = point;
  f.set_selection = true;
  PresenceCursor anchor;
  anchor.point = false;
  anchor.doc = "notes";
  anchor.container_replica = 7;
  anchor.container_counter = 2;
  anchor.index = 4;
  PresenceCursor head = anchor;
  head.index = 9;
  head.has_element = true;
  head.element_replica = 7;
  head.element_counter = 40;
  f.selection = PresenceSelection{anchor, head};
  f.set_typing = true;
  f.typing = "notes";
  PresenceAppValue color;
  color.kind = PresenceAppValue::Kind::kString;
  color.s = "#ff0";
  PresenceAppValue gone;  // kDelete
  PresenceAppValue zoom;
  zoom.kind = PresenceAppValue::Kind::kDouble;
  zoom.d = 1.25;
  f.app = {{"color", color}, {"old", gone}, {"zoom", zoom}};
  return f;
}

std::vector<Frame> SampleFrames() {
  return {
      HelloFrame{1, "eyJhbGciOi.e30.sig", 0x1234567890, "web/1.4"},
      JoinFrame{5, "board", 1, 300, {Dv("shapes", "\x01\x2a\x07")}},
      ChangeFrame{"board", "shapes", 7, "\x01\x02\x03"},
      LeaveFrame{"board"},
      AuthFrame{"eyJ.new.token"},
      WelcomeFrame{"s-7f3a", 1, 16 << 20, 8},
      JoinedFrame{5,
                  "board",
                  SyncPath::kVersion,
                  1,
                  300,
                  RoomAccess::kWrite,
                  {Dv("shapes", "\x01\x2a\x07"), Dv("notes", "")}},
      UpdateFrame{"board", "shapes", 1, 301, std::string("\x00\xff", 2)},
      SnapshotFrame{"board", "notes", "snapshot-bytes"},
      AckFrame{"board", 7, 1, 300},
      LeftFrame{"board"},
      ErrorFrame{"read_only", "room board is read-only for you", 3, 7, "board"},
      SamplePresence(),
      PresenceUpdateFrame{"board", "presence-bytes"},
  };
}

// Edge values: empty strings where allowed, no documents, zero counters;
// then maximal integers, names at their limit with multi-byte UTF-8, the
// most documents; then payloads of a few KiB.
std::vector<Frame> EdgeFrames() {
  const DecodeLimits limits;
  // 254 ASCII bytes + "é" (2 bytes) = max_name_bytes exactly.
  const std::string long_name = absl::StrCat(std::string(254, 'n'), "\xc3\xa9");
  std::vector<DocVersion> many;
  for (uint64_t i = 0; i < limits.max_docs; ++i) {
    many.push_back(Dv(absl::StrCat("doc-", i), std::string(i, '\x05')));
  }
  const std::string kib(4096 + 3, '\xab');
  return {
      HelloFrame{0, "", 1, ""},
      JoinFrame{0, "r", 0, 0, {}},
      ChangeFrame{"r", "d", 0, ""},
      WelcomeFrame{"", 0, 0, 0},
      JoinedFrame{0, "r", SyncPath::kNone, 0, 0, RoomAccess::kRead, {}},
      UpdateFrame{"r", "d", 0, 0, ""},
      SnapshotFrame{"r", "d", ""},
      AckFrame{"r", 0, 0, 0},
      ErrorFrame{"", "", 0, 0, ""},
      AuthFrame{""},
      HelloFrame{kMax32, std::string(limits.max_token_bytes, 't'), kMax64,
                 long_name},
      JoinFrame{kMax64, long_name, kMax64, kMax64, many},
      ChangeFrame{long_name, long_name, kMax64, kib},
      LeaveFrame{long_name},
      WelcomeFrame{long_name, kMax32, kMax64, kMax64},
      JoinedFrame{kMax64, long_name, SyncPath::kSnapshot, kMax64, kMax64,
                  RoomAccess::kWrite, many},
      UpdateFrame{long_name, long_name, kMax64, kMax64, kib},
      SnapshotFrame{long_name, long_name, kib + kib},
      AckFrame{long_name, kMax64, kMax64, kMax64},
      LeftFrame{"\xf0\x9d\x84\x9e"},  // U+1D11E, four bytes
      ErrorFrame{long_name, std::string(limits.max_message_text_bytes, 'm'),
                 255, kMax64, long_name},
      JoinedFrame{1, "r", SyncPath::kTail, 1, 2, RoomAccess::kRead, {}},
  };
}

// The event frames (tags 7, 24, 25): ordinary, then edge values.
std::vector<Frame> EventFrames() {
  const DecodeLimits limits;
  const std::string long_name = absl::StrCat(std::string(254, 'n'), "\xc3\xa9");
  return {
      EmitFrame{3, EventTarget::kRoom, "board", "cursor_moved", "\x82\x01"},
      EmitFrame{0, EventTarget::kUser, "ada", "task_assigned", ""},
      EventFrame{"board", "ada", "cursor_moved", "\x82\x01"},
      EventFrame{"", "server", "announcement", "\xa2hi"},
      EventAckFrame{3, 2},
      EventAckFrame{0, 0},
      EmitFrame{kMax64, EventTarget::kUser, long_name, long_name,
                std::string(limits.max_event_payload_bytes, '\xab')},
      EventFrame{long_name, long_name, long_name,
                 std::string(limits.max_event_payload_bytes, '\xab')},
      EventAckFrame{kMax64, kMax64},
  };
}

TEST(FrameRoundTrip, EventFrames) {
  for (const Frame& f : EventFrames()) {
    EXPECT_TRUE(FramesEqual(RoundTrip(f), f)) << Hex(EncodeFrame(f));
  }
}

// [7, 3, "room", "board", "ping", bin 01]:
//   96 07 03 a4 726f6f6d a5 626f617264 a4 70696e67 c4 01 01
TEST(FrameGolden, EmitFrame) {
  EXPECT_EQ(Hex(EncodeFrame(
                EmitFrame{3, EventTarget::kRoom, "board", "ping", "\x01"})),
            Hex(Unhex("96 07 03 a4 726f6f6d a5 626f617264 a4 70696e67 c4 01 "
                      "01")));
}

// ---------------------------------------------------------------------------
// Golden bytes

// [3, "board", "shapes", 7, bin 01 02 03]:
//   95                  fixarray, 5 elements
//   03                  positive fixint 3 (change)
//   a5 626f617264       fixstr 5 "board"
//   a6 736861706573     fixstr 6 "shapes"
//   07                  positive fixint 7 (client_seq)
//   c4 03 010203        bin 8, 3 bytes
TEST(FrameGolden, ChangeFrame) {
  const std::string golden =
      Unhex("95 03 a5 626f617264 a6 736861706573 07 c4 03 010203");
  const Frame frame = ChangeFrame{"board", "shapes", 7, "\x01\x02\x03"};
  EXPECT_EQ(Hex(EncodeFrame(frame)), Hex(golden));
  absl::StatusOr<Frame> decoded = DecodeFrame(golden);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_TRUE(FramesEqual(*decoded, frame));
}

// [20, "board", 7, 1, 300]:
//   95 14               fixarray 5; fixint 20 (ack)
//   a5 626f617264       "board"
//   07 01               client_seq 7, epoch 1
//   cd 012c             uint 16: 300 (seq)
TEST(FrameGolden, AckFrame) {
  const std::string golden = Unhex("95 14 a5 626f617264 07 01 cd 012c");
  const Frame frame = AckFrame{"board", 7, 1, 300};
  EXPECT_EQ(Hex(EncodeFrame(frame)), Hex(golden));
  absl::StatusOr<Frame> decoded = DecodeFrame(golden);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_TRUE(FramesEqual(*decoded, frame));
}

// The second worked example of docs/protocol.md:
// [17, 5, "board", 2, 1, 300, 2, [["shapes", bin 2a 07]]]
//   98 11               fixarray 8; fixint 17 (joined)
//   05 a5 626f617264    ref 5, room "board"
//   02 01 cd 012c       path 2 (version), epoch 1, seq 300
//   02                  access 2 (write)
//   91 92 a6 736861706573 c4 02 2a07
//                       1 entry: ["shapes", bin 2a 07]
TEST(FrameGolden, JoinedFrameOfTheSpec) {
  const std::string golden = Unhex(
      "98 11 05 a5 626f617264 02 01 cd 012c 02"
      " 91 92 a6 736861706573 c4 02 2a07");
  const Frame frame = JoinedFrame{5,
                                  "board",
                                  SyncPath::kVersion,
                                  1,
                                  300,
                                  RoomAccess::kWrite,
                                  {Dv("shapes", "\x2a\x07")}};
  EXPECT_EQ(Hex(EncodeFrame(frame)), Hex(golden));
  absl::StatusOr<Frame> decoded = DecodeFrame(golden);
  ASSERT_THAT(decoded, IsOk());
  EXPECT_TRUE(FramesEqual(*decoded, frame));
}

// Integers take their shortest form; 2^64-1 is uint 64 (cf).
TEST(FrameGolden, IntegersAreShortestUnsigned) {
  EXPECT_EQ(Hex(EncodeFrame(AckFrame{"r", 0x7f, 0x80, kMax64})),
            Hex(Unhex("95 14 a1 72 7f cc 80 cf ffffffffffffffff")));
  EXPECT_EQ(Hex(EncodeFrame(AckFrame{"r", 0x10000, 0xffff, 0x100000000})),
            Hex(Unhex("95 14 a1 72 ce 00010000 cd ffff cf 0000000100000000")));
}

// ---------------------------------------------------------------------------
// Round trips and helpers

TEST(FrameRoundTrip, EverySampleFrame) {
  for (const Frame& f : SampleFrames()) {
    SCOPED_TRACE(Hex(EncodeFrame(f)));
    EXPECT_TRUE(FramesEqual(RoundTrip(f), f));
  }
}

TEST(FrameRoundTrip, EdgeValues) {
  for (const Frame& f : EdgeFrames()) {
    SCOPED_TRACE(static_cast<int>(TypeOf(f)));
    EXPECT_TRUE(FramesEqual(RoundTrip(f), f));
  }
}

// The payload limit is inclusive: 16 MiB decodes, one byte more does not.
TEST(FrameRoundTrip, PayloadsUpToTheLimit) {
  const DecodeLimits limits;
  const std::string at_limit(limits.max_payload_bytes, '\x5a');
  for (const Frame& f : std::vector<Frame>{
           ChangeFrame{"r", "d", 1, at_limit},
           UpdateFrame{"r", "d", 1, 2, at_limit},
           SnapshotFrame{"r", "d", at_limit},
       }) {
    EXPECT_TRUE(FramesEqual(RoundTrip(f), f));
  }
  EXPECT_THAT(
      DecodeFrame(EncodeFrame(ChangeFrame{"r", "d", 1, at_limit + "x"})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("over the limit of 16777216")));
}

// With custom limits, each field is held to its own limit, named.
TEST(FrameRoundTrip, CustomLimitsAreInclusive) {
  DecodeLimits limits;
  limits.max_name_bytes = 4;
  limits.max_token_bytes = 6;
  limits.max_message_text_bytes = 8;
  limits.max_payload_bytes = 10;
  limits.max_docs = 2;
  for (const Frame& f : std::vector<Frame>{
           HelloFrame{1, "tttttt", 1, "nnnn"},
           ChangeFrame{"rrrr", "dddd", 1, "0123456789"},
           JoinFrame{1, "rrrr", 1, 1, {Dv("a", "0123456789"), Dv("b", "")}},
           ErrorFrame{"cccc", "mmmmmmmm", 1, 1, "rrrr"},
       }) {
    EXPECT_TRUE(FramesEqual(RoundTrip(f, limits), f));
  }
  const auto refused = [&limits](const Frame& f, absl::string_view what) {
    EXPECT_THAT(DecodeFrame(EncodeFrame(f), limits),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(what)));
  };
  refused(HelloFrame{1, "ttttttt", 1, ""},
          "frame hello: field 2 (token) is 7 bytes, over the limit of 6");
  refused(HelloFrame{1, "", 1, "nnnnn"},
          "frame hello: field 4 (client_name) is 5 bytes, over the limit of 4");
  refused(ChangeFrame{"rrrrr", "d", 1, ""},
          "frame change: field 1 (room) is 5 bytes, over the limit of 4");
  refused(ChangeFrame{"r", "d", 1, "01234567890"},
          "frame: bin of 11 bytes, over the limit of 10");
  refused(ErrorFrame{"c", "mmmmmmmmm", 1, 1, ""},
          "frame: str of 9 bytes, over the limit of 8");
  refused(JoinFrame{1, "r", 1, 1, {Dv("a", ""), Dv("b", ""), Dv("c", "")}},
          "frame join: field 5 (versions) has 3 documents, over the limit "
          "of 2");
  refused(JoinFrame{1, "r", 1, 1, {Dv("aaaaa", "")}},
          "frame join: field 5 (versions) entry 0 doc is 5 bytes, over the "
          "limit of 4");
}

TEST(FrameTypeOf, NamesEveryAlternative) {
  const std::vector<FrameType> expected = {
      FrameType::kHello,    FrameType::kJoin,          FrameType::kChange,
      FrameType::kLeave,    FrameType::kAuth,          FrameType::kWelcome,
      FrameType::kJoined,   FrameType::kUpdate,        FrameType::kSnapshot,
      FrameType::kAck,      FrameType::kLeft,          FrameType::kError,
      FrameType::kPresence, FrameType::kPresenceUpdate};
  const std::vector<Frame> frames = SampleFrames();
  ASSERT_EQ(frames.size(), expected.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    EXPECT_EQ(TypeOf(frames[i]), expected[i]);
    // The tag is the first element of the array, a positive fixint.
    EXPECT_EQ(static_cast<uint8_t>(EncodeFrame(frames[i])[1]),
              static_cast<uint8_t>(expected[i]));
  }
}

TEST(FramePeekType, ReadsTheTagOfEveryFrame) {
  for (const Frame& f : SampleFrames()) {
    EXPECT_EQ(PeekType(EncodeFrame(f)), static_cast<uint8_t>(TypeOf(f)));
  }
}

TEST(FramePeekType, ArrayHeadersAndTagForms) {
  // Only the header and the tag are read: the rest may be missing.
  EXPECT_EQ(PeekType(Unhex("95 03")), 3);
  EXPECT_EQ(PeekType(Unhex("91 7f")), 0x7f);
  EXPECT_EQ(PeekType(Unhex("dc 0005 14")), 20);
  EXPECT_EQ(PeekType(Unhex("dd 00000005 1f")), 31);
  EXPECT_EQ(PeekType(Unhex("95 cc 10")), 16);  // uint 8
  EXPECT_EQ(PeekType(Unhex("95 cc c8")), 200);
}

TEST(FramePeekType, ZeroWhenNotAnArrayStartingWithASmallUint) {
  EXPECT_EQ(PeekType(""), 0);
  EXPECT_EQ(PeekType(Unhex("90")), 0);          // empty array
  EXPECT_EQ(PeekType(Unhex("dc 0000 03")), 0);  // empty array 16
  EXPECT_EQ(PeekType(Unhex("95")), 0);          // no tag yet
  EXPECT_EQ(PeekType(Unhex("dc 00")), 0);       // truncated header
  EXPECT_EQ(PeekType(Unhex("95 cc")), 0);       // truncated uint 8
  EXPECT_EQ(PeekType(Unhex("95 cd 0003")), 0);  // uint 16 is not small
  EXPECT_EQ(PeekType(Unhex("95 ff")), 0);       // negative
  EXPECT_EQ(PeekType(Unhex("95 a1 78")), 0);    // str
  EXPECT_EQ(PeekType(Unhex("85 03 03")), 0);    // map
  EXPECT_EQ(PeekType(Unhex("03")), 0);          // bare integer
}

// ---------------------------------------------------------------------------
// Malformed frames, element by element

enum class Kind {
  kUint,
  kUint32,
  kUint8,
  kReplica,
  kPath,
  kAccess,
  kName,     // non-empty UTF-8 str
  kOptName,  // UTF-8 str, may be empty
  kText,     // str
  kBin,
  kVersions,      // [[doc, vv], ...]
  kTarget,        // "room" or "user"
  kEventPayload,  // bin of at most max_event_payload_bytes
};

struct FieldSpec {
  const char* name;
  Kind kind;
  std::string valid;  // a valid msgpack element
};

struct FrameSpec {
  const char* frame;
  uint8_t tag;
  std::vector<FieldSpec> fields;

  std::vector<std::string> Elements() const {
    std::vector<std::string> out = {msg::U(tag)};
    for (const FieldSpec& f : fields) out.push_back(f.valid);
    return out;
  }
};

// docs/protocol.md, "Frames": field order and types of every frame.
std::vector<FrameSpec> Specs() {
  using msg::Arr;
  using msg::Bin;
  using msg::Str;
  using msg::U;
  const std::string versions = Arr({Arr({Str("shapes"), Bin("\x01")})});
  return {
      {"hello",
       1,
       {{"protocol_version", Kind::kUint32, U(1)},
        {"token", Kind::kText, Str("tok")},
        {"replica", Kind::kReplica, U(42)},
        {"client_name", Kind::kText, Str("cli")}}},
      {"join",
       2,
       {{"ref", Kind::kUint, U(5)},
        {"room", Kind::kName, Str("board")},
        {"epoch", Kind::kUint, U(1)},
        {"seq", Kind::kUint, U(9)},
        {"versions", Kind::kVersions, versions}}},
      {"change",
       3,
       {{"room", Kind::kName, Str("board")},
        {"doc", Kind::kName, Str("shapes")},
        {"client_seq", Kind::kUint, U(7)},
        {"update", Kind::kBin, Bin("\x01\x02")}}},
      {"leave", 4, {{"room", Kind::kName, Str("board")}}},
      {"auth", 5, {{"token", Kind::kText, Str("tok")}}},
      {"welcome",
       16,
       {{"session_id", Kind::kText, Str("s1")},
        {"protocol_version", Kind::kUint32, U(1)},
        {"max_message_bytes", Kind::kUint, U(1 << 20)},
        {"max_rooms", Kind::kUint, U(8)}}},
      {"joined",
       17,
       {{"ref", Kind::kUint, U(5)},
        {"room", Kind::kName, Str("board")},
        {"path", Kind::kPath, U(2)},
        {"epoch", Kind::kUint, U(1)},
        {"seq", Kind::kUint, U(9)},
        {"access", Kind::kAccess, U(2)},
        {"versions", Kind::kVersions, versions}}},
      {"update",
       18,
       {{"room", Kind::kName, Str("board")},
        {"doc", Kind::kName, Str("shapes")},
        {"epoch", Kind::kUint, U(1)},
        {"seq", Kind::kUint, U(9)},
        {"update", Kind::kBin, Bin("\x01\x02")}}},
      {"snapshot",
       19,
       {{"room", Kind::kName, Str("board")},
        {"doc", Kind::kName, Str("shapes")},
        {"snapshot", Kind::kBin, Bin("\x01\x02")}}},
      {"ack",
       20,
       {{"room", Kind::kName, Str("board")},
        {"client_seq", Kind::kUint, U(7)},
        {"epoch", Kind::kUint, U(1)},
        {"seq", Kind::kUint, U(9)}}},
      {"left", 21, {{"room", Kind::kName, Str("board")}}},
      {"emit",
       7,
       {{"ref", Kind::kUint, U(3)},
        {"target_kind", Kind::kTarget, Str("room")},
        {"target", Kind::kName, Str("board")},
        {"name", Kind::kName, Str("ping")},
        {"payload", Kind::kEventPayload, Bin("\x01")}}},
      {"event",
       24,
       {{"room", Kind::kOptName, Str("board")},
        {"from", Kind::kName, Str("ada")},
        {"name", Kind::kName, Str("ping")},
        {"payload", Kind::kEventPayload, Bin("\x01")}}},
      {"event_ack",
       25,
       {{"ref", Kind::kUint, U(3)}, {"delivered", Kind::kUint, U(2)}}},
      {"error",
       31,
       {{"code", Kind::kText, Str("forbidden")},
        {"message", Kind::kText, Str("no")},
        {"ref_type", Kind::kUint8, U(2)},
        {"ref", Kind::kUint, U(5)},
        {"room", Kind::kOptName, Str("")}}},
  };
}

const char* TypeName(Kind kind) {
  switch (kind) {
    case Kind::kName:
    case Kind::kOptName:
    case Kind::kText:
    case Kind::kTarget:
      return "str";
    case Kind::kBin:
    case Kind::kEventPayload:
      return "bin";
    case Kind::kVersions:
      return "array";
    default:
      return "uint";
  }
}

// A valid element of another msgpack type than `kind` wants.
std::vector<std::string> WrongTypes(Kind kind) {
  std::vector<std::string> out = {msg::kNil, msg::kTrue, msg::kFloat64,
                                  msg::kEmptyMap, msg::Arr({})};
  switch (kind) {
    case Kind::kName:
    case Kind::kOptName:
    case Kind::kText:
    case Kind::kTarget:
      out.push_back(msg::Bin("board"));  // bytes where text is due
      out.push_back(msg::U(1));
      break;
    case Kind::kBin:
    case Kind::kEventPayload:
      out.push_back(msg::Str("update"));
      out.push_back(msg::U(1));
      break;
    case Kind::kVersions:
      out.pop_back();  // an empty array is a valid empty list
      out.push_back(msg::U(1));
      out.push_back(msg::Str("shapes"));
      break;
    default:
      out.push_back(msg::Str("1"));
      out.push_back(msg::kMinusOne);
      out.push_back(msg::Bin("\x01"));
      break;
  }
  return out;
}

absl::Status DecodeStatus(const std::string& bytes,
                          const DecodeLimits& limits = {}) {
  return DecodeFrame(bytes, limits).status();
}

TEST(FrameDecode, EverySpecFrameDecodesToItsType) {
  for (const FrameSpec& spec : Specs()) {
    absl::StatusOr<Frame> f = DecodeFrame(msg::Arr(spec.Elements()));
    ASSERT_THAT(f, IsOk()) << spec.frame;
    EXPECT_EQ(static_cast<uint8_t>(TypeOf(*f)), spec.tag) << spec.frame;
  }
}

TEST(FrameDecode, RefusesEmptyInput) {
  EXPECT_THAT(DecodeFrame(""), StatusIs(absl::StatusCode::kInvalidArgument,
                                        HasSubstr("frame: empty message")));
}

TEST(FrameDecode, RefusesWhatIsNotAnArray) {
  for (const std::string& bytes :
       {msg::U(3), msg::Str("change"), msg::Bin("\x95\x03"), msg::kNil,
        msg::kEmptyMap, std::string("\x81\x03\x03"), msg::kFloat64}) {
    EXPECT_THAT(DecodeStatus(bytes),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("frame: not a msgpack array")))
        << Hex(bytes);
  }
}

TEST(FrameDecode, RefusesAnEmptyArray) {
  EXPECT_THAT(DecodeStatus(msg::Arr({})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("frame: empty array")));
}

TEST(FrameDecode, RefusesATagThatIsNotAnUnsignedInteger) {
  for (const std::string& tag : {msg::Str("change"), msg::kMinusOne, msg::kNil,
                                 msg::kFloat64, msg::Arr({})}) {
    EXPECT_THAT(DecodeStatus(msg::Arr({tag, msg::Str("board")})),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("frame: field 0 (type) is not uint")))
        << Hex(tag);
  }
}

// A later protocol version may add frame types: Unimplemented, not invalid.
TEST(FrameDecode, UnknownTagIsUnimplemented) {
  for (uint64_t tag : {0ull, 14ull, 15ull, 29ull, 30ull, 32ull, 127ull, 255ull,
                       1000ull, 0xffffffffffffffffull}) {
    EXPECT_THAT(DecodeStatus(msg::Arr({msg::U(tag), msg::Str("x")})),
                StatusIs(absl::StatusCode::kUnimplemented,
                         HasSubstr(absl::StrCat("unknown type tag ", tag))));
  }
  EXPECT_THAT(DecodeStatus(msg::Arr({msg::U(14)})),
              StatusIs(absl::StatusCode::kUnimplemented, HasSubstr("14")));
}

TEST(FrameDecode, RefusesTooFewFields) {
  for (const FrameSpec& spec : Specs()) {
    std::vector<std::string> elements = spec.Elements();
    const size_t n = elements.size();
    while (elements.size() > 1) {
      elements.pop_back();
      EXPECT_THAT(DecodeStatus(msg::Arr(elements)),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           HasSubstr(absl::StrCat(
                               "frame ", spec.frame, ": array of ",
                               elements.size(), " elements, expected ", n))));
    }
  }
}

// Forward compatibility: fields after the known ones are ignored.
TEST(FrameDecode, IgnoresExtraTrailingFields) {
  for (const FrameSpec& spec : Specs()) {
    const std::vector<std::string> known = spec.Elements();
    absl::StatusOr<Frame> plain = DecodeFrame(msg::Arr(known));
    ASSERT_THAT(plain, IsOk());
    for (const std::vector<std::string>& extra :
         std::vector<std::vector<std::string>>{
             {msg::U(99)},
             {msg::Str("v2"), msg::kNil, msg::kFloat64, msg::kMinusOne},
             {msg::Arr({msg::Arr({msg::U(1)})}), msg::Bin("xyz"),
              std::string("\x81\xa1k\x91\x01")},  // {"k": [1]}
         }) {
      std::vector<std::string> elements = known;
      elements.insert(elements.end(), extra.begin(), extra.end());
      absl::StatusOr<Frame> f = DecodeFrame(msg::Arr(elements));
      ASSERT_THAT(f, IsOk()) << spec.frame;
      EXPECT_TRUE(FramesEqual(*f, *plain)) << spec.frame;
    }
  }
}

TEST(FrameDecode, RefusesAWrongTypeInEveryField) {
  for (const FrameSpec& spec : Specs()) {
    for (size_t i = 0; i < spec.fields.size(); ++i) {
      const FieldSpec& field = spec.fields[i];
      for (const std::string& wrong : WrongTypes(field.kind)) {
        std::vector<std::string> elements = spec.Elements();
        elements[i + 1] = wrong;
        EXPECT_THAT(
            DecodeStatus(msg::Arr(elements)),
            StatusIs(absl::StatusCode::kInvalidArgument,
                     HasSubstr(absl::StrCat(
                         "frame ", spec.frame, ": field ", i + 1, " (",
                         field.name, ") is not ", TypeName(field.kind)))))
            << Hex(wrong);
      }
    }
  }
}

// Also integers in non-shortest forms decode (the decoder reads values).
TEST(FrameDecode, AcceptsLongerIntegerForms) {
  const std::string ack =
      Unhex("95 cc 14 a1 72 cd 0007 ce 00000001 cf 000000000000012c");
  absl::StatusOr<Frame> f = DecodeFrame(ack);
  ASSERT_THAT(f, IsOk());
  EXPECT_TRUE(FramesEqual(*f, AckFrame{"r", 7, 1, 300}));
}

TEST(FrameDecode, RefusesIntegersOutOfTheirRange) {
  using msg::Arr;
  using msg::Str;
  using msg::U;
  EXPECT_THAT(
      DecodeStatus(Arr({U(1), U(1ull << 32), Str(""), U(1), Str("")})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("frame hello: field 1 (protocol_version) is not "
                         "uint32")));
  EXPECT_THAT(
      DecodeStatus(Arr({U(16), Str("s"), U(1ull << 32), U(1), U(1)})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("frame welcome: field 2 (protocol_version) is not "
                         "uint32")));
  EXPECT_THAT(
      DecodeStatus(Arr({U(31), Str("c"), Str("m"), U(256), U(1), Str("")})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("frame error: field 3 (ref_type) is not uint8")));
}

TEST(FrameDecode, RefusesReplicaZero) {
  EXPECT_THAT(DecodeStatus(msg::Arr({msg::U(1), msg::U(1), msg::Str(""),
                                     msg::U(0), msg::Str("")})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("frame hello: field 3 (replica) is 0")));
}

TEST(FrameDecode, RefusesOutOfRangeEnums) {
  for (const FrameSpec& spec : Specs()) {
    for (size_t i = 0; i < spec.fields.size(); ++i) {
      const FieldSpec& field = spec.fields[i];
      std::vector<uint64_t> bad;
      if (field.kind == Kind::kPath) bad = {4, 5, 255, 256, kMax64};
      if (field.kind == Kind::kAccess) bad = {0, 3, 255, kMax64};
      for (uint64_t v : bad) {
        std::vector<std::string> elements = spec.Elements();
        elements[i + 1] = msg::U(v);
        EXPECT_THAT(DecodeStatus(msg::Arr(elements)),
                    StatusIs(absl::StatusCode::kInvalidArgument,
                             HasSubstr(absl::StrCat("field ", i + 1, " (",
                                                    field.name, ") is ", v))));
      }
    }
  }
}

TEST(FrameDecode, RefusesEmptyOrInvalidUtf8Names) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"", "is empty"},
      {"bo\xff", "is not valid UTF-8"},
      {"\xc0\xaf", "is not valid UTF-8"},          // overlong '/'
      {"\xed\xa0\x80", "is not valid UTF-8"},      // surrogate U+D800
      {"\xf4\x90\x80\x80", "is not valid UTF-8"},  // above U+10FFFF
      {"caf\xc3", "is not valid UTF-8"},           // truncated sequence
  };
  for (const FrameSpec& spec : Specs()) {
    for (size_t i = 0; i < spec.fields.size(); ++i) {
      const FieldSpec& field = spec.fields[i];
      if (field.kind != Kind::kName && field.kind != Kind::kOptName) continue;
      for (const auto& [name, what] : bad) {
        std::vector<std::string> elements = spec.Elements();
        elements[i + 1] = msg::Str(name);
        const absl::Status s = DecodeStatus(msg::Arr(elements));
        if (name.empty() && field.kind == Kind::kOptName) {
          EXPECT_THAT(s, IsOk()) << spec.frame;
          continue;
        }
        EXPECT_THAT(s, StatusIs(absl::StatusCode::kInvalidArgument,
                                HasSubstr(absl::StrCat(
                                    "frame ", spec.frame, ": field ", i + 1,
                                    " (", field.name, ") ", what))))
            << Hex(name);
      }
    }
  }
  // Document names in a version list too.
  EXPECT_THAT(
      DecodeStatus(
          msg::Arr({msg::U(2), msg::U(1), msg::Str("r"), msg::U(0), msg::U(0),
                    msg::Arr({msg::Arr({msg::Str("\xff"), msg::Bin("")})})})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("frame join: field 5 (versions) entry 0 doc is not "
                         "valid UTF-8")));
}

// Other strings (token, client_name, session_id, code, message) are opaque.
TEST(FrameDecode, OtherStringsAreNotCheckedForUtf8) {
  const std::string raw = "\xff\xfe";
  for (const Frame& f : std::vector<Frame>{
           HelloFrame{1, raw, 1, raw}, AuthFrame{raw},
           WelcomeFrame{raw, 1, 1, 1}, ErrorFrame{raw, raw, 0, 0, ""}}) {
    EXPECT_TRUE(FramesEqual(RoundTrip(f), f));
  }
}

TEST(FrameDecode, RefusesMalformedVersionEntries) {
  using msg::Arr;
  using msg::Bin;
  using msg::Str;
  using msg::U;
  const auto join = [](const std::string& versions) {
    return Arr({U(2), U(1), Str("r"), U(0), U(0), versions});
  };
  const auto refused = [](const std::string& bytes, absl::string_view what) {
    EXPECT_THAT(DecodeStatus(bytes),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(what)))
        << Hex(bytes);
  };
  const std::string entry_error =
      "frame join: field 5 (versions) entry 1 is not a [doc, version_vector] "
      "array";
  const std::string ok_entry = Arr({Str("a"), Bin("")});
  refused(join(Arr({ok_entry, U(1)})), entry_error);
  refused(join(Arr({ok_entry, Arr({Str("b")})})), entry_error);
  refused(join(Arr({ok_entry, Arr({})})), entry_error);
  refused(join(Arr({ok_entry, msg::kEmptyMap})), entry_error);
  refused(join(Arr({ok_entry, Arr({Bin("b"), Bin("")})})),
          "frame join: field 5 (versions) entry 1 doc is not str");
  refused(join(Arr({ok_entry, Arr({Str("b"), Str("vv")})})),
          "frame join: field 5 (versions) entry 1 version_vector is not bin");
  refused(join(Arr({ok_entry, Arr({Str(""), Bin("")})})),
          "frame join: field 5 (versions) entry 1 doc is empty");
  // Elements after [doc, vv] in an entry are ignored, like trailing fields.
  absl::StatusOr<Frame> f =
      DecodeFrame(join(Arr({Arr({Str("a"), Bin("v"), U(9), Str("x")})})));
  ASSERT_THAT(f, IsOk());
  EXPECT_TRUE(FramesEqual(*f, JoinFrame{1, "r", 0, 0, {Dv("a", "v")}}));
}

TEST(FrameDecode, RefusesTooManyDocuments) {
  const DecodeLimits limits;
  std::vector<DocVersion> versions;
  for (uint64_t i = 0; i <= limits.max_docs; ++i) {
    versions.push_back(Dv(absl::StrCat("d", i), ""));
  }
  EXPECT_THAT(
      DecodeStatus(EncodeFrame(JoinFrame{1, "r", 0, 0, versions})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("array of 65 elements, over the limit of 64")));
  EXPECT_THAT(
      DecodeStatus(EncodeFrame(JoinedFrame{1, "r", SyncPath::kVersion, 0, 0,
                                           RoomAccess::kRead, versions})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("over the limit of 64")));
}

TEST(FrameDecode, RefusesStringsAndPayloadsOverTheirLimits) {
  const DecodeLimits limits;
  const std::string name(limits.max_name_bytes + 1, 'n');
  const std::string token(limits.max_token_bytes + 1, 't');
  const std::string text(limits.max_message_text_bytes + 1, 'm');
  EXPECT_THAT(DecodeStatus(EncodeFrame(LeaveFrame{name})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("frame leave: field 1 (room) is 257 bytes, "
                                 "over the limit of 256")));
  EXPECT_THAT(DecodeStatus(EncodeFrame(ChangeFrame{"r", name, 1, ""})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("field 2 (doc) is 257 bytes")));
  EXPECT_THAT(DecodeStatus(EncodeFrame(AuthFrame{token})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("str of 8193 bytes, over the limit of 8192")));
  EXPECT_THAT(DecodeStatus(EncodeFrame(ErrorFrame{"c", text, 0, 0, ""})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("frame error: field 2 (message) is 4097 "
                                 "bytes, over the limit of 4096")));
  EXPECT_THAT(DecodeStatus(EncodeFrame(ErrorFrame{name, "", 0, 0, ""})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("frame error: field 1 (code) is 257")));
  DecodeLimits small;
  small.max_payload_bytes = 100;
  EXPECT_THAT(
      DecodeStatus(EncodeFrame(SnapshotFrame{"r", "d", std::string(101, 's')}),
                   small),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("bin of 101 bytes, over the limit of 100")));
}

TEST(FrameDecode, RefusesUnknownEventTargetsAndLargePayloads) {
  using msg::Arr;
  using msg::Bin;
  using msg::Str;
  using msg::U;
  EXPECT_THAT(
      DecodeStatus(
          Arr({U(7), U(1), Str("group"), Str("g"), Str("n"), Bin("")})),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("frame emit: field 2 (target_kind) is not \"room\" "
                         "or \"user\"")));
  DecodeLimits small;
  small.max_event_payload_bytes = 8;
  EXPECT_THAT(
      DecodeStatus(EncodeFrame(EmitFrame{1, EventTarget::kRoom, "r", "n",
                                         std::string(9, 'p')}),
                   small),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("frame emit: field 5 (payload) is 9 bytes, over the "
                         "limit of 8")));
  EXPECT_THAT(
      DecodeStatus(EncodeFrame(EventFrame{"r", "s", "n", std::string(9, 'p')}),
                   small),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr("frame event: field 4 (payload) is 9 bytes")));
  EXPECT_THAT(DecodeStatus(EncodeFrame(EmitFrame{1, EventTarget::kRoom, "r",
                                                 "n", std::string(8, 'p')}),
                           small),
              IsOk());
}

TEST(FrameDecode, RefusesTrailingBytes) {
  const std::string change = EncodeFrame(SampleFrames()[2]);
  for (const std::string& tail :
       {std::string(1, '\0'), msg::U(3), msg::kNil, change}) {
    EXPECT_THAT(DecodeStatus(change + tail),
                StatusIs(absl::StatusCode::kInvalidArgument,
                         HasSubstr("trailing bytes after the array")))
        << Hex(tail);
  }
}

TEST(FrameBatch, SplitsBackToBackFramesInOrder) {
  std::string message;
  std::vector<std::string> parts;
  for (const Frame& f : SampleFrames()) {
    parts.push_back(EncodeFrame(f));
    message += parts.back();
  }
  absl::StatusOr<std::vector<absl::string_view>> pieces = SplitFrames(message);
  ASSERT_THAT(pieces, IsOk());
  ASSERT_EQ(pieces->size(), parts.size());
  for (size_t i = 0; i < parts.size(); ++i) EXPECT_EQ((*pieces)[i], parts[i]);
  std::vector<absl::StatusOr<Frame>> frames = DecodeFrames(message);
  ASSERT_EQ(frames.size(), parts.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    ASSERT_THAT(frames[i], IsOk());
    EXPECT_EQ(TypeOf(*frames[i]), TypeOf(SampleFrames()[i]));
  }
  // A single frame is a batch of one.
  EXPECT_THAT(SplitFrames(parts[0]), IsOk());
  EXPECT_EQ(SplitFrames(parts[0])->size(), 1u);
}

TEST(FrameBatch, EachFrameDecodesOnItsOwn) {
  // An unknown tag between two frames is that frame's error only.
  const std::string change = EncodeFrame(SampleFrames()[2]);
  const std::string message = change + msg::Arr({msg::U(99)}) + change;
  std::vector<absl::StatusOr<Frame>> frames = DecodeFrames(message);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_THAT(frames[0], IsOk());
  EXPECT_THAT(frames[1].status(),
              StatusIs(absl::StatusCode::kUnimplemented, ::testing::_));
  EXPECT_THAT(frames[2], IsOk());
}

TEST(FrameBatch, RefusesWhatDoesNotSplit) {
  const std::string change = EncodeFrame(SampleFrames()[2]);
  EXPECT_THAT(SplitFrames(""),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("empty")));
  // A truncated second frame is named with its offset.
  EXPECT_THAT(
      SplitFrames(change + change.substr(0, 3)),
      StatusIs(absl::StatusCode::kInvalidArgument,
               HasSubstr(absl::StrCat("frame 2 at byte ", change.size()))));
  EXPECT_THAT(SplitFrames(change + Unhex("c1")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid msgpack")));
  EXPECT_THAT(SplitFrames(change + Unhex("dd ffffffff 03")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("over the limit")));
  std::vector<absl::StatusOr<Frame>> frames =
      DecodeFrames(change + Unhex("c1"));
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_THAT(frames[0].status(),
              StatusIs(absl::StatusCode::kInvalidArgument, ::testing::_));
}

TEST(FrameDecode, RefusesEveryTruncation) {
  for (const Frame& f : SampleFrames()) {
    const std::string bytes = EncodeFrame(f);
    for (size_t n = 1; n < bytes.size(); ++n) {
      EXPECT_THAT(DecodeStatus(bytes.substr(0, n)),
                  StatusIs(absl::StatusCode::kInvalidArgument,
                           HasSubstr("frame: truncated msgpack")))
          << Hex(bytes.substr(0, n));
    }
  }
}

TEST(FrameDecode, RefusesInvalidMsgpack) {
  // 0xc1 is the one byte msgpack never uses.
  EXPECT_THAT(DecodeStatus(Unhex("c1")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid msgpack")));
  EXPECT_THAT(DecodeStatus(Unhex("95 03 c1 a1 64 07 c4 00")),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("invalid msgpack")));
}

TEST(FrameDecode, RefusesDeeplyNestedGarbage) {
  // 100 000 nested one-element arrays, then a tag.
  std::string deep(100000, '\x91');
  deep += msg::U(3);
  EXPECT_THAT(DecodeStatus(deep),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("nested deeper than 4 containers")));
  // A fifth level inside a trailing field.
  EXPECT_THAT(
      DecodeStatus(
          msg::Arr({msg::U(4), msg::Str("r"),
                    msg::Arr({msg::Arr({msg::Arr({msg::Arr({})})})})})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested deeper")));
  // Maps nest too.
  EXPECT_THAT(
      DecodeStatus(
          msg::Arr({msg::U(4), msg::Str("r"), Unhex("81 01 81 01 81 01 80")})),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("nested deeper")));
}

// Declared sizes are checked before anything is allocated for them: each of
// these claims gigabytes (or thousands of slots) in a few bytes. Container
// headers are refused as soon as they are read; a string, payload or ext is
// only looked at once all its bytes are there, so a claim past the end of
// the message is a truncation.
TEST(FrameDecode, RefusesHugeDeclaredSizesCheaply) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"dd ffffffff 03", "array of 4294967295 elements, over the limit of 64"},
      {"92 04 dc ffff", "array of 65535 elements, over the limit of 64"},
      {"92 04 df ffffffff", "map of 4294967295 elements, over the limit of 32"},
      {"95 03 db ffffffff 61", "frame: truncated msgpack"},
      {"95 03 a1 72 a1 64 07 c6 ffffffff 00", "frame: truncated msgpack"},
      {"92 04 c9 ffffffff 01", "frame: truncated msgpack"},
  };
  for (const auto& [hex, what] : cases) {
    EXPECT_THAT(DecodeStatus(Unhex(hex)),
                StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(what)))
        << hex;
  }
  // An ext (unused by version 1) is bounded like a name.
  const std::string ext =
      absl::StrCat(msg::Head(0xc8, 300, 2), "\x01", std::string(300, 'e'));
  EXPECT_THAT(DecodeStatus(msg::Arr({msg::U(4), msg::Str("r"), ext})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("ext of 301 bytes, over the limit of 256")));
  // Many arrays each within the per-array bound: the object budget
  // (4 * (max_docs + 32) = 384) stops them, at the fifth 64-element entry
  // of a 64-entry list.
  std::string nested = absl::StrCat("\x93\x04\xa1r", msg::Head(0xdc, 64, 2));
  for (int i = 0; i < 64; ++i) {
    nested += msg::Head(0xdc, 64, 2) + std::string(64, '\x01');
  }
  EXPECT_THAT(DecodeStatus(nested),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("more than 384 msgpack objects")));
}

TEST(FrameDecode, RefusesWideMapsInTrailingFields) {
  std::string map = msg::Head(0xde, 33, 2);
  for (int i = 0; i < 33; ++i) map += msg::U(i) + msg::U(i);
  EXPECT_THAT(DecodeStatus(msg::Arr({msg::U(4), msg::Str("r"), map})),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("map of 33 elements, over the limit of 32")));
}

// ---------------------------------------------------------------------------
// Random and mutated bytes

// Our own bounded draw: std::uniform_int_distribution differs across
// standard libraries (style.md B6).
uint64_t Below(std::mt19937_64& rng, uint64_t n) { return rng() % n; }

std::string Mutate(std::string s, const std::vector<std::string>& pool,
                   std::mt19937_64& rng) {
  const uint64_t ops = 1 + Below(rng, 4);
  for (uint64_t k = 0; k < ops; ++k) {
    const size_t at = s.empty() ? 0 : Below(rng, s.size());
    switch (Below(rng, 7)) {
      case 0:  // flip a bit
        if (!s.empty()) s[at] = static_cast<char>(s[at] ^ (1 << Below(rng, 8)));
        break;
      case 1:  // replace a byte
        if (!s.empty()) s[at] = static_cast<char>(Below(rng, 256));
        break;
      case 2:  // truncate
        s.resize(at);
        break;
      case 3:  // insert a byte
        s.insert(at, 1, static_cast<char>(Below(rng, 256)));
        break;
      case 4:  // delete a byte
        if (!s.empty()) s.erase(at, 1);
        break;
      case 5:  // duplicate a slice
        s.insert(at, s.substr(at, Below(rng, 8)));
        break;
      default: {  // splice in part of another frame
        const std::string& other = pool[Below(rng, pool.size())];
        const size_t from = Below(rng, other.size());
        s = s.substr(0, at) + other.substr(from);
        break;
      }
    }
  }
  return s;
}

// Limits small enough that mutants hit every bound.
DecodeLimits TightLimits() {
  DecodeLimits limits;
  limits.max_name_bytes = 8;
  limits.max_token_bytes = 16;
  limits.max_message_text_bytes = 12;
  limits.max_payload_bytes = 24;
  limits.max_docs = 2;
  return limits;
}

std::vector<std::string> SeedEncodings() {
  std::vector<std::string> seeds;
  for (const Frame& f : SampleFrames()) seeds.push_back(EncodeFrame(f));
  for (const Frame& f : EdgeFrames()) {
    const std::string e = EncodeFrame(f);
    if (e.size() <= 1024) seeds.push_back(e);
  }
  // Last, so that adding them left the earlier seeds and mutants unchanged.
  for (const Frame& f : EventFrames()) {
    const std::string e = EncodeFrame(f);
    if (e.size() <= 1024) seeds.push_back(e);
  }
  return seeds;
}

// A random msgpack element of the kinds frames hold (and a few they do not).
std::string RandomElement(std::mt19937_64& rng, int depth) {
  const auto bytes = [&rng](uint64_t max) {
    std::string out(Below(rng, max + 1), '\0');
    for (char& c : out) c = static_cast<char>(Below(rng, 256));
    return out;
  };
  switch (Below(rng, depth < 2 ? 8 : 6)) {
    case 0:
      return msg::U(rng() >> (Below(rng, 64)));
    case 1:
      return msg::U(Below(rng, 4));
    case 2:
      return msg::Str(Below(rng, 2) ? "board" : bytes(12));
    case 3:
      return msg::Bin(bytes(40));
    case 4:
      return msg::kNil;
    case 5:
      return bytes(3);  // anything
    default: {
      std::vector<std::string> entries(Below(rng, 4));
      for (std::string& e : entries) {
        e = Below(rng, 3)
                ? msg::Arr({msg::Str(absl::StrCat("d", Below(rng, 9))),
                            msg::Bin(bytes(6))})
                : RandomElement(rng, depth + 1);
      }
      return msg::Arr(entries);
    }
  }
}

TEST(FrameRobustness, RandomBytes) {
  std::mt19937_64 rng(0x1a77ce);
  const uint8_t tags[] = {1, 2, 3, 4, 5, 16, 17, 18, 19, 20, 21, 31, 6};
  int decoded = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string bytes;
    const uint64_t kind = Below(rng, 3);
    if (kind == 0) {  // anything
      const uint64_t n = Below(rng, 48);
      for (uint64_t k = 0; k < n; ++k) {
        bytes.push_back(static_cast<char>(Below(rng, 256)));
      }
    } else if (kind == 1) {  // an array header, a known tag, anything
      bytes = msg::Arr({});
      bytes[0] = static_cast<char>(0x90 | Below(rng, 16));
      bytes.push_back(static_cast<char>(tags[Below(rng, std::size(tags))]));
      const uint64_t n = Below(rng, 48);
      for (uint64_t k = 0; k < n; ++k) {
        bytes.push_back(static_cast<char>(Below(rng, 256)));
      }
    } else {  // a known tag and random elements
      std::vector<std::string> elements = {
          msg::U(tags[Below(rng, std::size(tags))])};
      const uint64_t n = Below(rng, 9);
      for (uint64_t k = 0; k < n; ++k) {
        elements.push_back(RandomElement(rng, 1));
      }
      bytes = msg::Arr(elements);
    }
    const DecodeLimits limits = i % 2 ? TightLimits() : DecodeLimits();
    ASSERT_EQ(CheckFrameBytes(bytes, limits), "") << Hex(bytes);
    decoded += DecodeFrame(bytes, limits).ok();
  }
  // Not an oracle, a check that the generator reaches past the structural
  // checks.
  EXPECT_GT(decoded, 100);
}

TEST(FrameRobustness, MutatedValidFrames) {
  std::mt19937_64 rng(20261130);
  const std::vector<std::string> seeds = SeedEncodings();
  int decoded = 0;
  int refused = 0;
  for (int i = 0; i < 30000; ++i) {
    const std::string bytes =
        Mutate(seeds[Below(rng, seeds.size())], seeds, rng);
    const DecodeLimits limits = i % 3 == 0 ? TightLimits() : DecodeLimits();
    ASSERT_EQ(CheckFrameBytes(bytes, limits), "") << Hex(bytes);
    if (DecodeFrame(bytes, limits).ok()) {
      ++decoded;
    } else {
      ++refused;
    }
  }
  EXPECT_GT(decoded, 1000);
  EXPECT_GT(refused, 1000);
}

// The seeds of tests/fuzz/corpus/frame_decode_fuzzer/: every sample and edge
// frame of at most 1 KiB (seed-NN) and a fixed-seed mutant of each
// (mut-NN). Each keeps the fuzzer's property. Written out when
// LATTICE_WRITE_FRAME_CORPUS names a directory:
//   LATTICE_WRITE_FRAME_CORPUS=tests/fuzz/corpus/frame_decode_fuzzer
//     build/<dir>/tests/engine/engine_protocol_test
//     --gtest_filter=FrameSeedCorpus.*   (one command line)
TEST(FrameSeedCorpus, SeedsKeepTheFuzzerProperty) {
  const std::vector<std::string> seeds = SeedEncodings();
  std::vector<std::pair<std::string, std::string>> files;
  std::mt19937_64 rng(20261122);
  for (size_t i = 0; i < seeds.size(); ++i) {
    files.emplace_back(absl::StrFormat("seed-%02d", i), seeds[i]);
    files.emplace_back(absl::StrFormat("mut-%02d", i),
                       Mutate(seeds[i], seeds, rng));
  }
  for (const auto& [name, bytes] : files) {
    EXPECT_EQ(CheckFrameBytes(bytes), "") << name;
  }
  const char* dir = std::getenv("LATTICE_WRITE_FRAME_CORPUS");
  if (dir == nullptr || *dir == '\0') return;
  std::filesystem::create_directories(dir);
  for (const auto& [name, bytes] : files) {
    std::ofstream out(std::filesystem::path(dir) / name, std::ios::binary);
    out << bytes;
    ASSERT_TRUE(out.good()) << name;
  }
}

// ---------------------------------------------------------------------------
// Presence frames

TEST(FramePresence, EmptyMapIsAHeartbeat) {
  absl::StatusOr<Frame> f =
      DecodeFrame(msg::Arr({msg::U(6), msg::Str("board"), msg::Byte(0x80)}));
  ASSERT_THAT(f, IsOk());
  const auto& p = std::get<PresenceFrame>(*f);
  EXPECT_EQ(p.room, "board");
  EXPECT_FALSE(p.status || p.set_cursor || p.set_selection || p.set_typing);
  EXPECT_TRUE(p.app.empty());
}

TEST(FramePresence, NilClearsAndUnknownKeysAreIgnored) {
  // {"cursor": nil, "typing": nil, "later": 1}
  const std::string map = msg::Byte(0x83) + msg::Str("cursor") + msg::kNil +
                          msg::Str("typing") + msg::kNil + msg::Str("later") +
                          msg::U(1);
  absl::StatusOr<Frame> f =
      DecodeFrame(msg::Arr({msg::U(6), msg::Str("board"), map}));
  ASSERT_THAT(f, IsOk());
  const auto& p = std::get<PresenceFrame>(*f);
  EXPECT_TRUE(p.set_cursor && !p.cursor.has_value());
  EXPECT_TRUE(p.set_typing && !p.typing.has_value());
}

TEST(FramePresence, IntegerCoordinatesDecodeAsNumbers) {
  // {"cursor": [3, -2]}
  const std::string map = msg::Byte(0x81) + msg::Str("cursor") +
                          msg::Arr({msg::U(3), msg::kMinusOne});
  absl::StatusOr<Frame> f =
      DecodeFrame(msg::Arr({msg::U(6), msg::Str("b"), map}));
  ASSERT_THAT(f, IsOk());
  const auto& p = std::get<PresenceFrame>(*f);
  ASSERT_TRUE(p.cursor.has_value());
  EXPECT_TRUE(p.cursor->point);
  EXPECT_EQ(p.cursor->x, 3);
  EXPECT_EQ(p.cursor->y, -1);
}

// Found by frame_decode_fuzzer: msgpack-cxx's pack_double writes 1.0 as
// the integer 1, so an app field set to 1.0 reached every other member as
// an int.
TEST(FramePresence, AnIntegralFloatAppFieldStaysAFloat) {
  PresenceFrame sent;
  sent.room = "b";
  PresenceAppValue zoom;
  zoom.kind = PresenceAppValue::Kind::kDouble;
  zoom.d = 1.0;
  PresenceAppValue count;
  count.kind = PresenceAppValue::Kind::kInt;
  count.i = 1;
  sent.app = {{"zoom", zoom}, {"count", count}};
  const std::string wire = EncodeFrame(sent);
  EXPECT_NE(wire.find(std::string("\xcb\x3f\xf0\0\0\0\0\0\0", 9)),
            std::string::npos)
      << "1.0 as a float64";
  absl::StatusOr<Frame> f = DecodeFrame(wire);
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(std::get<PresenceFrame>(*f), sent);
}

TEST(FramePresence, CoordinatesTakeTheShortestFormAndHugeOnesStayFloats) {
  PresenceFrame sent;
  sent.room = "b";
  sent.set_cursor = true;
  sent.cursor = PresenceCursor{};
  sent.cursor->x = 3;
  sent.cursor->y = -2;
  // {"cursor": [3, -2]}: 2 bytes for the coordinates.
  EXPECT_EQ(EncodeFrame(sent),
            msg::Arr({msg::U(6), msg::Str("b"),
                      msg::Byte(0x81) + msg::Str("cursor") +
                          msg::Arr({msg::U(3), msg::Byte(0xfe)})}));
  // 2^64 is integral but no int64: a float64 (pack_double converted it
  // to uint64_t, which is undefined; the asan preset's UBSan reports it).
  for (double huge : {0x1p64, -0x1p64, 0x1p63, 1e300, 0.5}) {
    sent.cursor->x = huge;
    absl::StatusOr<Frame> f = DecodeFrame(EncodeFrame(sent));
    ASSERT_THAT(f, IsOk());
    EXPECT_EQ(std::get<PresenceFrame>(*f).cursor->x, huge);
  }
}

TEST(FramePresence, RefusesMalformedFields) {
  const std::string nan = std::string("\xcb\x7f\xf8\0\0\0\0\0\0", 9);
  const std::vector<std::pair<std::string, std::string>> cases = {
      {msg::U(1), "field 2 (set) is not map"},
      {msg::Byte(0x81) + msg::Str("status") + msg::U(4), "not a status (0-3)"},
      {msg::Byte(0x82) + msg::Str("status") + msg::U(1) + msg::Str("status") +
           msg::U(1),
       "status appears twice"},
      {msg::Byte(0x81) + msg::Str("cursor") + msg::Arr({msg::U(1)}),
       "has 1 elements, not 2, 4 or 6"},
      {msg::Byte(0x81) + msg::Str("cursor") + msg::Arr({nan, msg::U(1)}),
       "cursor x is not finite"},
      {msg::Byte(0x81) + msg::Str("cursor") +
           msg::Arr({msg::Str(""), msg::U(1), msg::U(2), msg::U(3)}),
       "cursor doc is empty"},
      {msg::Byte(0x81) + msg::Str("selection") + msg::Arr({msg::kNil}),
       "not an [anchor, head] array"},
      {msg::Byte(0x81) + msg::Str("typing") + msg::U(1), "typing is not str"},
      {msg::Byte(0x81) + msg::Str("app") + msg::Byte(0x81) + msg::Str("k") +
           msg::Arr({}),
       "not a scalar or nil"},
      {msg::Byte(0x81) + msg::Str("app") + msg::Byte(0x82) + msg::Str("k") +
           msg::U(1) + msg::Str("k") + msg::U(2),
       "repeats a key"},
  };
  for (const auto& [map, message] : cases) {
    EXPECT_THAT(
        DecodeStatus(msg::Arr({msg::U(6), msg::Str("b"), map})),
        StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr(message)))
        << message;
  }
}

TEST(FramePresence, AppFieldsAreBounded) {
  const DecodeLimits limits;
  std::string map = msg::Head(0xde, limits.max_presence_app_fields + 1, 2);
  for (uint64_t i = 0; i <= limits.max_presence_app_fields; ++i)
    map += msg::Str(absl::StrCat("k", i)) + msg::U(i);
  const std::string frame = msg::Arr(
      {msg::U(6), msg::Str("b"), msg::Byte(0x81) + msg::Str("app") + map});
  EXPECT_THAT(DecodeStatus(frame), StatusIs(absl::StatusCode::kInvalidArgument,
                                            HasSubstr("over the limit of 16")));
}

}  // namespace
}  // namespace lattice::engine::protocol
