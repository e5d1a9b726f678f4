// Builds the frames a WebSocket client sends, byte by byte, for tests that
// need frames no client library would send (unmasked, oversized control
// frames, non-minimal lengths, bad close codes).
#ifndef LATTICE_TESTS_NET_CLIENT_FRAMES_H_
#define LATTICE_TESTS_NET_CLIENT_FRAMES_H_

#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"

namespace lattice::net::testing {

struct FrameSpec {
  bool fin = true;
  uint8_t opcode = 0x2;  // binary
  uint8_t rsv = 0;       // bits 0x70
  bool masked = true;
  // Length encoding: 0 picks the shortest; 126 or 127 forces that one.
  uint8_t length_form = 0;
};

// Returns a frame carrying `payload`, masked with a fixed key unless
// `spec.masked` is false.
inline std::string ClientFrame(absl::string_view payload, FrameSpec spec = {}) {
  std::string out;
  out.push_back(
      static_cast<char>((spec.fin ? 0x80 : 0) | spec.rsv | spec.opcode));
  const uint64_t n = payload.size();
  const uint8_t mask_bit = spec.masked ? 0x80 : 0;
  uint8_t form = spec.length_form;
  if (form == 0) form = n < 126 ? 0 : n <= 0xFFFF ? 126 : 127;
  if (form == 126) {
    out.push_back(static_cast<char>(mask_bit | 126));
    out.push_back(static_cast<char>(n >> 8));
    out.push_back(static_cast<char>(n));
  } else if (form == 127) {
    out.push_back(static_cast<char>(mask_bit | 127));
    for (int i = 7; i >= 0; --i) out.push_back(static_cast<char>(n >> (8 * i)));
  } else {
    out.push_back(static_cast<char>(mask_bit | n));
  }
  const uint8_t key[4] = {0x37, 0xfa, 0x21, 0x3d};
  if (spec.masked) out.append(reinterpret_cast<const char*>(key), 4);
  for (size_t i = 0; i < payload.size(); ++i) {
    out.push_back(spec.masked ? static_cast<char>(payload[i] ^ key[i % 4])
                              : payload[i]);
  }
  return out;
}

// Returns a close frame's payload: the code, big-endian, then the reason.
inline std::string ClosePayload(uint16_t code, absl::string_view reason = {}) {
  std::string out;
  out.push_back(static_cast<char>(code >> 8));
  out.push_back(static_cast<char>(code & 0xFF));
  out.append(reason.data(), reason.size());
  return out;
}

}  // namespace lattice::net::testing

#endif  // LATTICE_TESTS_NET_CLIENT_FRAMES_H_
