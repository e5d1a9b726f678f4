#include "net/internal/ws_frame.h"

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "net/websocket.h"
#include "tests/net/client_frames.h"

#include "gtest/gtest.h"

// Oracle: frames built byte by byte from RFC 6455 5.2 (client_frames.h) and
// the events a reader of the RFC expects from them, whatever the split of
// the input into reads.

namespace lattice::net::internal {
namespace {

using ::lattice::net::testing::ClientFrame;
using ::lattice::net::testing::ClosePayload;
using ::lattice::net::testing::FrameSpec;

// One parsed event with its data, for comparing sequences.
struct Seen {
  WsFrameParser::Event event;
  std::string data;  // message, control payload, close reason or error
  uint16_t code = 0;
  bool text = false;
  bool operator==(const Seen& o) const {
    return event == o.event && data == o.data && code == o.code &&
           text == o.text;
  }
};

// Feeds `input` in pieces of the given sizes (the last piece takes the
// rest) and returns every event but kNeedMore.
std::vector<Seen> ParseInPieces(WsFrameParser& parser, const std::string& input,
                                const std::vector<size_t>& sizes) {
  std::vector<Seen> seen;
  size_t at = 0;
  for (size_t i = 0; at < input.size() || i == 0; ++i) {
    const size_t n = i < sizes.size() ? std::min(sizes[i], input.size() - at)
                                      : input.size() - at;
    absl::string_view piece(input.data() + at, n);
    at += n;
    for (;;) {
      const WsFrameParser::Event e = parser.Parse(piece);
      if (e == WsFrameParser::kNeedMore) break;
      Seen s{e, {}};
      switch (e) {
        case WsFrameParser::kMessage:
          s.text = parser.message_is_text();
          s.data = parser.TakeMessage();
          break;
        case WsFrameParser::kPing:
        case WsFrameParser::kPong:
          s.data = std::string(parser.control_payload());
          break;
        case WsFrameParser::kClose:
          s.code = parser.close_code();
          s.data = std::string(parser.close_reason());
          break;
        default:
          s.code = parser.error_code();
          s.data = parser.error_reason();
          break;
      }
      seen.push_back(s);
      if (e == WsFrameParser::kError) return seen;
    }
  }
  return seen;
}

std::vector<Seen> ParseWhole(const std::string& input,
                             uint64_t max_message_bytes = 1 << 20) {
  WsFrameParser parser(max_message_bytes);
  return ParseInPieces(parser, input, {});
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>(i * 31 + 7);
  return s;
}

TEST(WsFrameParser, MessagesOfEveryLengthFormInAnySplit) {
  std::string input;
  std::vector<Seen> expected;
  for (size_t n : {0, 1, 7, 8, 9, 125, 126, 127, 65535, 65536, 70001}) {
    input += ClientFrame(Pattern(n));
    expected.push_back({WsFrameParser::kMessage, Pattern(n)});
  }
  // A fragmented text message with a ping and a pong between fragments.
  input += ClientFrame("hel", {.fin = false, .opcode = 0x1});
  input += ClientFrame("are you there", {.opcode = 0x9});
  input += ClientFrame("", {.fin = false, .opcode = 0x0});
  input += ClientFrame("yes", {.opcode = 0xA});
  input += ClientFrame("lo", {.opcode = 0x0});
  expected.push_back({WsFrameParser::kPing, "are you there"});
  expected.push_back({WsFrameParser::kPong, "yes"});
  expected.push_back({WsFrameParser::kMessage, "hello", 0, /*text=*/true});
  input += ClientFrame(ClosePayload(4000, "bye"), {.opcode = 0x8});
  expected.push_back({WsFrameParser::kClose, "bye", 4000});

  {
    WsFrameParser parser(1 << 20);
    EXPECT_EQ(
        ParseInPieces(parser, input, std::vector<size_t>(input.size(), 1)),
        expected)
        << "one byte at a time";
  }
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<size_t> sizes;
    for (size_t total = 0; total < input.size();) {
      sizes.push_back(std::uniform_int_distribution<size_t>(1, 3000)(rng));
      total += sizes.back();
    }
    WsFrameParser parser(1 << 20);
    ASSERT_EQ(ParseInPieces(parser, input, sizes), expected) << round;
  }
}

TEST(WsFrameParser, FramesFromAServerAreUnmasked) {
  std::string input;
  std::vector<Seen> expected;
  for (size_t n : {0, 5, 126, 65536}) {
    input += ClientFrame(Pattern(n), {.masked = false});
    expected.push_back({WsFrameParser::kMessage, Pattern(n)});
  }
  input += ClientFrame("p", {.opcode = 0x9, .masked = false});
  expected.push_back({WsFrameParser::kPing, "p"});
  std::mt19937 rng(11);
  for (int round = 0; round < 20; ++round) {
    std::vector<size_t> sizes;
    for (size_t total = 0; total < input.size();) {
      sizes.push_back(std::uniform_int_distribution<size_t>(1, 700)(rng));
      total += sizes.back();
    }
    WsFrameParser parser(1 << 20, WsSender::kServer);
    ASSERT_EQ(ParseInPieces(parser, input, sizes), expected) << round;
  }
  // A masked frame from a server is a protocol error.
  WsFrameParser parser(1 << 20, WsSender::kServer);
  EXPECT_EQ(ParseInPieces(parser, ClientFrame("x"), {}),
            (std::vector<Seen>{{WsFrameParser::kError, "masked server frame",
                                kCloseProtocolError}}));
}

TEST(WsFrameParser, EmptyCloseIsNoStatus) {
  EXPECT_EQ(ParseWhole(ClientFrame("", {.opcode = 0x8})),
            (std::vector<Seen>{{WsFrameParser::kClose, "", kCloseNoStatus}}));
}

TEST(WsFrameParser, ProtocolErrorsAre1002) {
  const struct {
    const char* name;
    std::string input;
  } cases[] = {
      {"reserved bits set", ClientFrame("x", {.rsv = 0x40})},
      {"unmasked client frame", ClientFrame("x", {.masked = false})},
      {"fragmented control frame",
       ClientFrame("", {.fin = false, .opcode = 9})},
      {"control frame over 125 bytes",
       ClientFrame(std::string(126, 'p'), {.opcode = 0x9})},
      {"continuation without a message", ClientFrame("x", {.opcode = 0x0})},
      {"new message inside a fragmented one",
       ClientFrame("a", {.fin = false}) + ClientFrame("b")},
      {"unknown opcode", ClientFrame("x", {.opcode = 0x3})},
      {"unknown opcode", ClientFrame("x", {.opcode = 0xB})},
      {"non-minimal length", ClientFrame("short", {.length_form = 126})},
      {"non-minimal length", ClientFrame(Pattern(300), {.length_form = 127})},
      {"close frame of one byte", ClientFrame("\x03", {.opcode = 0x8})},
      {"invalid close code", ClientFrame(ClosePayload(1005), {.opcode = 0x8})},
      {"invalid close code", ClientFrame(ClosePayload(999), {.opcode = 0x8})},
      {"invalid close code", ClientFrame(ClosePayload(5000), {.opcode = 0x8})},
  };
  for (const auto& c : cases) {
    const std::vector<Seen> seen = ParseWhole(c.input);
    ASSERT_FALSE(seen.empty()) << c.name;
    EXPECT_EQ(seen.back(),
              (Seen{WsFrameParser::kError, c.name, kCloseProtocolError}))
        << c.name;
  }
}

TEST(WsFrameParser, LengthWithTopBitSetIsAnError) {
  std::string frame = ClientFrame("", {.length_form = 127});
  frame[2] = static_cast<char>(0x80);
  EXPECT_EQ(ParseWhole(frame).back(),
            (Seen{WsFrameParser::kError, "length out of range",
                  kCloseProtocolError}));
}

TEST(WsFrameParser, TooBigIsFoundFromTheHeaderAlone) {
  // A single frame: the header says 2 MiB, no payload has arrived.
  std::string header = ClientFrame(std::string(2 << 20, 'x'));
  header.resize(14);
  EXPECT_EQ(ParseWhole(header, 1 << 20),
            (std::vector<Seen>{
                {WsFrameParser::kError, "message too big", kCloseTooBig}}));
  // Fragments that pass the limit together.
  const std::string fragments =
      ClientFrame(std::string(600, 'a'), {.fin = false}) +
      ClientFrame(std::string(600, 'b'), {.opcode = 0});
  EXPECT_EQ(ParseWhole(fragments, 1000).back().code, kCloseTooBig);
  // Exactly at the limit is fine.
  EXPECT_EQ(ParseWhole(ClientFrame(std::string(1000, 'c')), 1000).back().event,
            WsFrameParser::kMessage);
}

TEST(WsFrameParser, AfterAnErrorNothingIsConsumed) {
  WsFrameParser parser(1 << 20);
  const std::string bad =
      ClientFrame("x", {.masked = false}) + ClientFrame("y");
  absl::string_view input(bad);
  EXPECT_EQ(parser.Parse(input), WsFrameParser::kError);
  const size_t left = input.size();
  EXPECT_EQ(parser.Parse(input), WsFrameParser::kError);
  EXPECT_EQ(input.size(), left);
}

// Random and mutated input never crashes the parser nor makes it hold more
// than the limit; it ends in kNeedMore or kError, and after kError it
// consumes nothing. (ASan/UBSan run this in CI.)
TEST(WsFrameParser, MutatedStreamsNeverBreakTheLimits) {
  std::string valid = ClientFrame(Pattern(300)) +
                      ClientFrame("ab", {.fin = false, .opcode = 0x1}) +
                      ClientFrame("ping", {.opcode = 0x9}) +
                      ClientFrame(Pattern(30000), {.opcode = 0x0}) +
                      ClientFrame(ClosePayload(1000, "x"), {.opcode = 0x8});
  std::mt19937 rng(11);
  constexpr uint64_t kLimit = 64 * 1024;
  int errors = 0;
  for (int round = 0; round < 300; ++round) {
    std::string input = valid;
    if (round % 3 == 0) {
      for (char& c : input) c = static_cast<char>(rng());
      input.resize(std::uniform_int_distribution<size_t>(0, 4000)(rng));
    } else {
      // Half of the flips land among the first frames' headers.
      const int flips = std::uniform_int_distribution<int>(1, 8)(rng);
      for (int i = 0; i < flips; ++i) {
        const size_t span = rng() % 2 ? 340 : input.size();
        input[std::uniform_int_distribution<size_t>(0, span - 1)(rng)] =
            static_cast<char>(rng());
      }
    }
    WsFrameParser parser(kLimit);
    absl::string_view rest(input);
    bool failed = false;
    while (!rest.empty()) {
      absl::string_view piece =
          rest.substr(0, std::uniform_int_distribution<size_t>(1, 5000)(rng));
      rest.remove_prefix(piece.size());
      for (int events = 0;; ++events) {
        ASSERT_LT(events, 100000) << "parser does not make progress";
        const WsFrameParser::Event e = parser.Parse(piece);
        if (e == WsFrameParser::kNeedMore) {
          ASSERT_TRUE(piece.empty());
          break;
        }
        if (e == WsFrameParser::kMessage) {
          ASSERT_LE(parser.TakeMessage().size(), kLimit);
        }
        if (e == WsFrameParser::kError) {
          ASSERT_TRUE(parser.error_code() == kCloseProtocolError ||
                      parser.error_code() == kCloseTooBig);
          absl::string_view again = piece;
          ASSERT_EQ(parser.Parse(again), WsFrameParser::kError);
          ASSERT_EQ(again.size(), piece.size());
          failed = true;
          break;
        }
      }
      if (failed) break;
    }
    errors += failed;
  }
  // Most mutations break the stream; the test must see both outcomes.
  EXPECT_GT(errors, 100);
  EXPECT_LT(errors, 300);
}

TEST(WsFrameEncoding, HeadersUseTheShortestLength) {
  uint8_t header[kMaxWsServerHeaderBytes];
  ASSERT_EQ(EncodeWsFrameHeader(WsOpcode::kBinary, 125, header), 2u);
  EXPECT_EQ(header[0], 0x82);
  EXPECT_EQ(header[1], 125);
  ASSERT_EQ(EncodeWsFrameHeader(WsOpcode::kBinary, 126, header), 4u);
  EXPECT_EQ(header[1], 126);
  EXPECT_EQ(header[2], 0);
  EXPECT_EQ(header[3], 126);
  ASSERT_EQ(EncodeWsFrameHeader(WsOpcode::kBinary, 65535, header), 4u);
  ASSERT_EQ(EncodeWsFrameHeader(WsOpcode::kBinary, 65536, header), 10u);
  EXPECT_EQ(header[1], 127);
  EXPECT_EQ(header[7], 1);  // 0x00 00 00 00 00 01 00 00
  EXPECT_EQ(header[8], 0);
}

TEST(WsFrameEncoding, ClientFramesAreMaskedAndParse) {
  std::string input;
  std::vector<Seen> expected;
  for (size_t n : {0, 1, 9, 125, 126, 65535, 65536}) {
    std::string frame;
    AppendWsClientFrame(WsOpcode::kBinary, Pattern(n), 0x9e3779b9u, frame);
    ASSERT_GE(frame.size(), n + 6);
    EXPECT_EQ(static_cast<uint8_t>(frame[1]) & 0x80, 0x80) << n;
    if (n > 0) {
      EXPECT_NE(frame.substr(frame.size() - n), Pattern(n)) << "masked " << n;
    }
    input += frame;
    expected.push_back({WsFrameParser::kMessage, Pattern(n)});
  }
  AppendWsClientFrame(WsOpcode::kPong, "p", 0, input);
  expected.push_back({WsFrameParser::kPong, "p"});
  EXPECT_EQ(ParseWhole(input), expected);
}

TEST(WsFrameEncoding, CloseFrames) {
  std::string out;
  AppendWsCloseFrame(kCloseNoStatus, "", out);
  EXPECT_EQ(out, std::string("\x88\x00", 2));
  out.clear();
  AppendWsCloseFrame(1000, "bye", out);
  EXPECT_EQ(out, std::string("\x88\x05\x03\xe8"
                             "bye",
                             7));
  out.clear();
  AppendWsControlFrame(WsOpcode::kPong, "p", out);
  EXPECT_EQ(out, std::string("\x8a\x01p", 3));
}

}  // namespace
}  // namespace lattice::net::internal
