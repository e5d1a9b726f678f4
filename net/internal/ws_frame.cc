#include "net/internal/ws_frame.h"

#include <algorithm>
#include <cassert>
#include <cstring>

#include "net/websocket.h"

namespace lattice::net::internal {

namespace {

bool IsControl(WsOpcode opcode) { return static_cast<uint8_t>(opcode) >= 8; }

// Codes a peer may put in a close frame (RFC 6455 7.4, IANA registry).
bool IsValidReceivedCloseCode(uint16_t code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

// Appends `n` bytes of payload to `out`, each XORed with `mask` from key
// byte `pos` on (masking and unmasking are the same); returns the key byte
// after the last.
uint8_t AppendXorMasked(const char* data, size_t n, const uint8_t mask[4],
                        uint8_t pos, std::string& out) {
  const size_t start = out.size();
  out.resize(start + n);
  char* dst = out.data() + start;
  // Eight bytes at a time with the key rotated to start at `pos`.
  uint8_t rotated[8];
  for (int i = 0; i < 8; ++i) rotated[i] = mask[(pos + i) & 3];
  uint64_t key;
  std::memcpy(&key, rotated, 8);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t word;
    std::memcpy(&word, data + i, 8);
    word ^= key;
    std::memcpy(dst + i, &word, 8);
  }
  for (; i < n; ++i) dst[i] = static_cast<char>(data[i] ^ rotated[i & 7]);
  return static_cast<uint8_t>((pos + n) & 3);
}

}  // namespace

size_t EncodeWsFrameHeader(WsOpcode opcode, uint64_t payload_bytes,
                           uint8_t out[kMaxWsServerHeaderBytes]) {
  out[0] = static_cast<uint8_t>(0x80 | static_cast<uint8_t>(opcode));
  if (payload_bytes < 126) {
    out[1] = static_cast<uint8_t>(payload_bytes);
    return 2;
  }
  if (payload_bytes <= 0xFFFF) {
    out[1] = 126;
    out[2] = static_cast<uint8_t>(payload_bytes >> 8);
    out[3] = static_cast<uint8_t>(payload_bytes);
    return 4;
  }
  out[1] = 127;
  for (int i = 0; i < 8; ++i) {
    out[2 + i] = static_cast<uint8_t>(payload_bytes >> (56 - 8 * i));
  }
  return 10;
}

void AppendWsControlFrame(WsOpcode opcode, absl::string_view payload,
                          std::string& out) {
  assert(payload.size() <= 125);
  uint8_t header[kMaxWsServerHeaderBytes];
  const size_t n = EncodeWsFrameHeader(opcode, payload.size(), header);
  out.append(reinterpret_cast<const char*>(header), n);
  out.append(payload.data(), payload.size());
}

void AppendWsClientFrame(WsOpcode opcode, absl::string_view payload,
                         uint32_t mask_key, std::string& out) {
  uint8_t header[kMaxWsServerHeaderBytes + 4];
  const size_t n = EncodeWsFrameHeader(opcode, payload.size(), header);
  header[1] |= 0x80;
  std::memcpy(header + n, &mask_key, 4);
  out.append(reinterpret_cast<const char*>(header), n + 4);
  AppendXorMasked(payload.data(), payload.size(), header + n, 0, out);
}

void AppendWsCloseFrame(uint16_t code, absl::string_view reason,
                        std::string& out) {
  assert(reason.size() <= 123);
  if (code == kCloseNoStatus) {
    AppendWsControlFrame(WsOpcode::kClose, {}, out);
    return;
  }
  char payload[125];
  payload[0] = static_cast<char>(code >> 8);
  payload[1] = static_cast<char>(code & 0xFF);
  std::memcpy(payload + 2, reason.data(), reason.size());
  AppendWsControlFrame(WsOpcode::kClose,
                       absl::string_view(payload, 2 + reason.size()), out);
}

absl::string_view WsFrameParser::close_reason() const {
  return control_.size() > 2 ? absl::string_view(control_).substr(2)
                             : absl::string_view();
}

WsFrameParser::Event WsFrameParser::Fail(uint16_t code, const char* reason) {
  error_code_ = code;
  error_reason_ = reason;
  message_ = std::string();
  control_ = std::string();
  return kError;
}

WsFrameParser::Event WsFrameParser::Parse(absl::string_view& input) {
  if (error_code_ != 0) return kError;
  for (;;) {
    if (in_header_) {
      while (header_len_ < header_need_) {
        if (input.empty()) return kNeedMore;
        const size_t take =
            std::min<size_t>(header_need_ - header_len_, input.size());
        std::memcpy(header_ + header_len_, input.data(), take);
        header_len_ = static_cast<uint8_t>(header_len_ + take);
        input.remove_prefix(take);
        if (header_len_ == 2) {
          // Now the whole header's length is known.
          const uint8_t length7 = header_[1] & 0x7F;
          const uint8_t extended = length7 == 126 ? 2 : length7 == 127 ? 8 : 0;
          const uint8_t key = (header_[1] & 0x80) ? 4 : 0;
          header_need_ = static_cast<uint8_t>(2 + extended + key);
        }
      }
      if (Event e = StartFrame(); e != kNeedMore) return e;
    }
    const size_t take =
        static_cast<size_t>(std::min<uint64_t>(frame_left_, input.size()));
    if (take > 0) {
      std::string& out = IsControl(opcode_) ? control_ : message_;
      mask_pos_ = AppendXorMasked(input.data(), take, mask_, mask_pos_, out);
      input.remove_prefix(take);
      frame_left_ -= take;
    }
    if (frame_left_ > 0) return kNeedMore;
    in_header_ = true;
    header_len_ = 0;
    header_need_ = 2;
    if (Event e = FinishFrame(); e != kNeedMore) return e;
  }
}

WsFrameParser::Event WsFrameParser::StartFrame() {
  in_header_ = false;
  if (header_[0] & 0x70) return Fail(kCloseProtocolError, "reserved bits set");
  if (((header_[1] & 0x80) != 0) != masked_) {
    return Fail(kCloseProtocolError,
                masked_ ? "unmasked client frame" : "masked server frame");
  }
  fin_ = (header_[0] & 0x80) != 0;
  opcode_ = static_cast<WsOpcode>(header_[0] & 0x0F);
  const uint8_t length7 = header_[1] & 0x7F;
  uint64_t length = length7;
  const uint8_t* mask = header_ + 2;
  if (length7 == 126) {
    length = (uint64_t{header_[2]} << 8) | header_[3];
    if (length < 126) return Fail(kCloseProtocolError, "non-minimal length");
    mask = header_ + 4;
  } else if (length7 == 127) {
    length = 0;
    for (int i = 0; i < 8; ++i) length = (length << 8) | header_[2 + i];
    if (length <= 0xFFFF) {
      return Fail(kCloseProtocolError, "non-minimal length");
    }
    if (length >> 63) return Fail(kCloseProtocolError, "length out of range");
    mask = header_ + 10;
  }
  if (masked_) {
    std::memcpy(mask_, mask, 4);
  } else {
    std::memset(mask_, 0, 4);  // XOR with zeros: a plain copy
  }
  mask_pos_ = 0;
  frame_left_ = length;
  switch (opcode_) {
    case WsOpcode::kClose:
    case WsOpcode::kPing:
    case WsOpcode::kPong:
      if (!fin_) return Fail(kCloseProtocolError, "fragmented control frame");
      if (length > 125) {
        return Fail(kCloseProtocolError, "control frame over 125 bytes");
      }
      control_.clear();
      return kNeedMore;
    case WsOpcode::kText:
    case WsOpcode::kBinary:
      if (in_message_) {
        return Fail(kCloseProtocolError, "new message inside a fragmented one");
      }
      in_message_ = true;
      message_is_text_ = opcode_ == WsOpcode::kText;
      break;
    case WsOpcode::kContinuation:
      if (!in_message_) {
        return Fail(kCloseProtocolError, "continuation without a message");
      }
      break;
    default:
      return Fail(kCloseProtocolError, "unknown opcode");
  }
  if (length > max_message_bytes_ ||
      message_.size() > max_message_bytes_ - length) {
    return Fail(kCloseTooBig, "message too big");
  }
  return kNeedMore;
}

WsFrameParser::Event WsFrameParser::FinishFrame() {
  switch (opcode_) {
    case WsOpcode::kPing:
      return kPing;
    case WsOpcode::kPong:
      return kPong;
    case WsOpcode::kClose:
      if (control_.empty()) {
        close_code_ = kCloseNoStatus;
        return kClose;
      }
      if (control_.size() == 1) {
        return Fail(kCloseProtocolError, "close frame of one byte");
      }
      close_code_ =
          static_cast<uint16_t>((static_cast<uint8_t>(control_[0]) << 8) |
                                static_cast<uint8_t>(control_[1]));
      if (!IsValidReceivedCloseCode(close_code_)) {
        return Fail(kCloseProtocolError, "invalid close code");
      }
      return kClose;
    default:
      if (!fin_) return kNeedMore;  // more frames of this message follow
      in_message_ = false;
      return kMessage;
  }
}

}  // namespace lattice::net::internal
