// RFC 6455 framing: an incremental parser of the frames a peer sends (a
// client's are always masked, a server's never) and the encoding of the
// frames a server sends (never masked, never fragmented) and of those a
// client sends (masked; lattice-load speaks WebSocket on bare sockets too).
// No I/O and no buffers of its own beyond the message being assembled, so a
// connection waiting for its next message holds a few dozen bytes here;
// Beast's websocket::stream held 2.5 KiB per connection (its 1.5 KiB read
// buffer inline), a third of an idle connection.
//
// Extensions are never negotiated (the handshake offers none), so the
// reserved bits must be clear.
//
// Thread safety: not thread-safe; a parser belongs to one connection.
#ifndef LATTICE_NET_INTERNAL_WS_FRAME_H_
#define LATTICE_NET_INTERNAL_WS_FRAME_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace lattice::net::internal {

// Frame opcodes (RFC 6455 5.2).
enum class WsOpcode : uint8_t {
  kContinuation = 0x0,
  kText = 0x1,
  kBinary = 0x2,
  kClose = 0x8,
  kPing = 0x9,
  kPong = 0xA,
};

// The longest header of a frame a server sends: 2 bytes and a 64-bit length.
inline constexpr size_t kMaxWsServerHeaderBytes = 10;

// Writes the header of a final, unmasked frame of `payload_bytes` to `out`
// and returns its length (2, 4 or 10).
size_t EncodeWsFrameHeader(WsOpcode opcode, uint64_t payload_bytes,
                           uint8_t out[kMaxWsServerHeaderBytes]);

// Appends a whole control frame (header and payload) to `out`.
// REQUIRES: payload.size() <= 125.
void AppendWsControlFrame(WsOpcode opcode, absl::string_view payload,
                          std::string& out);

// Appends a whole final frame as a client sends it (RFC 6455 5.3): masked
// with `mask_key`, which the caller draws from a source a third party cannot
// predict.
void AppendWsClientFrame(WsOpcode opcode, absl::string_view payload,
                         uint32_t mask_key, std::string& out);

// Appends a close frame to `out`: `code` and `reason`, or an empty payload
// for kCloseNoStatus (1005, which never goes on the wire).
// REQUIRES: reason.size() <= 123.
void AppendWsCloseFrame(uint16_t code, absl::string_view reason,
                        std::string& out);

// Which end of a WebSocket sent the frames being parsed.
enum class WsSender { kClient, kServer };

// Parses the byte stream a peer sends into messages and control frames.
//
//   absl::string_view input(bytes, n);
//   for (;;) {
//     switch (parser.Parse(input)) {
//       case WsFrameParser::kNeedMore: return;  // input is used up
//       case WsFrameParser::kMessage: Use(parser.TakeMessage()); break;
//       ...
//     }
//   }
class WsFrameParser {
 public:
  enum Event {
    kNeedMore,  // all of the input is consumed; no event is complete
    kMessage,   // a data message: TakeMessage, message_is_text
    kPing,      // control_payload
    kPong,      // control_payload
    kClose,     // close_code, close_reason
    kError,     // error_code (1002 or 1009), error_reason
  };

  // Messages longer than `max_message_bytes` are an error (1009), found from
  // the frame headers before their payload is read. Frames from a client
  // must be masked and frames from a server must not (RFC 6455 5.1); the
  // other kind is an error (1002).
  explicit WsFrameParser(uint64_t max_message_bytes,
                         WsSender sender = WsSender::kClient)
      : max_message_bytes_(max_message_bytes),
        masked_(sender == WsSender::kClient) {}

  WsFrameParser(const WsFrameParser&) = delete;
  WsFrameParser& operator=(const WsFrameParser&) = delete;

  // Parses from the front of `input` and removes what it parsed, up to and
  // including the frame that completes an event. Once it has returned
  // kError it returns kError for ever, consuming nothing.
  Event Parse(absl::string_view& input);

  // After kMessage: the message (moved out), and whether it was text.
  std::string TakeMessage() {
    std::string message;
    message.swap(message_);
    return message;
  }
  bool message_is_text() const { return message_is_text_; }
  // After kPing or kPong: the payload (valid until the next Parse).
  absl::string_view control_payload() const { return control_; }
  // After kClose: the peer's code (kCloseNoStatus, 1005, when it sent none)
  // and reason (valid until the next Parse).
  uint16_t close_code() const { return close_code_; }
  absl::string_view close_reason() const;
  // After kError: the close code to fail the connection with, and why.
  uint16_t error_code() const { return error_code_; }
  const char* error_reason() const { return error_reason_; }

 private:
  Event Fail(uint16_t code, const char* reason);
  // Validates a complete header and starts its frame; kNeedMore on success.
  Event StartFrame();
  Event FinishFrame();

  const uint64_t max_message_bytes_;
  const bool masked_;  // whether the sender's frames are masked
  // The header being read (at most 2 + 8 + 4 bytes).
  uint8_t header_[14];
  uint8_t header_len_ = 0;
  uint8_t header_need_ = 2;
  bool in_header_ = true;
  // The frame whose payload is being read.
  WsOpcode opcode_ = WsOpcode::kContinuation;
  bool fin_ = false;
  uint8_t mask_[4] = {};
  uint8_t mask_pos_ = 0;
  uint64_t frame_left_ = 0;
  // The data message being assembled from one or more frames.
  bool in_message_ = false;
  bool message_is_text_ = false;
  std::string message_;
  // The payload of the last control frame (at most 125 bytes).
  std::string control_;
  uint16_t close_code_ = 0;
  uint16_t error_code_ = 0;
  const char* error_reason_ = "";
};

}  // namespace lattice::net::internal

#endif  // LATTICE_NET_INTERNAL_WS_FRAME_H_
