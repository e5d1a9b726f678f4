// UTF-8 decoding shared by every module that must check untrusted text
// (crdt/ keys and text, the wire protocol's names): one strict decoder
// (RFC 3629: no overlong forms, surrogates or code points above U+10FFFF).
//
// Thread safety: pure functions.
#ifndef LATTICE_BASE_UTF8_H_
#define LATTICE_BASE_UTF8_H_

#include <cstddef>

#include "absl/strings/string_view.h"

namespace lattice {

// One decoded code point: `length` bytes starting where it was read, or
// `error` (a static description) when the bytes there are not UTF-8.
struct Utf8Step {
  char32_t code_point = 0;
  size_t length = 0;
  const char* error = nullptr;
};

// Decodes the code point starting at byte `i` of `s`. REQUIRES: i < s.size().
Utf8Step DecodeUtf8At(absl::string_view s, size_t i);

// True when all of `s` is well-formed UTF-8.
bool IsValidUtf8(absl::string_view s);

}  // namespace lattice

#endif  // LATTICE_BASE_UTF8_H_
