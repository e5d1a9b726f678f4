#include "base/utf8.h"

#include <cstdint>

namespace lattice {

Utf8Step DecodeUtf8At(absl::string_view s, size_t i) {
  const uint8_t b0 = static_cast<uint8_t>(s[i]);
  if (b0 < 0x80) return {b0, 1, nullptr};
  size_t n;
  char32_t cp;
  if ((b0 & 0xe0) == 0xc0) {
    n = 2;
    cp = b0 & 0x1f;
  } else if ((b0 & 0xf0) == 0xe0) {
    n = 3;
    cp = b0 & 0x0f;
  } else if ((b0 & 0xf8) == 0xf0) {
    n = 4;
    cp = b0 & 0x07;
  } else {
    return {0, 0, "invalid lead byte"};
  }
  if (n > s.size() - i) return {0, 0, "truncated sequence"};
  for (size_t k = 1; k < n; ++k) {
    const uint8_t b = static_cast<uint8_t>(s[i + k]);
    if ((b & 0xc0) != 0x80) return {0, 0, "invalid continuation byte"};
    cp = (cp << 6) | (b & 0x3f);
  }
  static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n]) return {0, 0, "overlong encoding"};
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
    return {0, 0, "not a scalar value"};
  }
  return {cp, n, nullptr};
}

bool IsValidUtf8(absl::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const Utf8Step step = DecodeUtf8At(s, i);
    if (step.error != nullptr) return false;
    i += step.length;
  }
  return true;
}

}  // namespace lattice
