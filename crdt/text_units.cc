#include "crdt/text_units.h"

#include <cstdint>

#include "base/utf8.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

absl::StatusOr<std::u32string> Utf8ToCodePoints(absl::string_view s) {
  std::u32string out(s.size(), U'\0');  // at most one code point per byte
  size_t n = 0;
  for (size_t i = 0; i < s.size();) {
    const auto b = static_cast<uint8_t>(s[i]);
    if (b < 0x80) {  // ASCII, most text: skip the general decoder
      out[n++] = b;
      ++i;
      continue;
    }
    const Utf8Step step = DecodeUtf8At(s, i);
    if (step.error != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("utf-8: ", step.error, " at byte ", i));
    }
    out[n++] = step.code_point;
    i += step.length;
  }
  out.resize(n);
  return out;
}

void AppendUtf8(std::u32string_view cps, std::string* out) {
  // Sized first, then written through a pointer, eight ASCII code points at
  // a time where it can: a push_back per byte cost several times more.
  size_t n = cps.size();
  for (char32_t c : cps) {
    if (c >= 0x80) n += 1 + (c >= 0x800) + (c >= 0x10000);
  }
  const size_t at = out->size();
  out->resize(at + n);
  char* p = out->data() + at;
  size_t i = 0;
  while (i < cps.size()) {
    if (cps.size() - i >= 8) {
      char32_t any = 0;
      for (size_t j = 0; j < 8; ++j) any |= cps[i + j];
      if (any < 0x80) {
        for (size_t j = 0; j < 8; ++j) p[j] = static_cast<char>(cps[i + j]);
        p += 8;
        i += 8;
        continue;
      }
    }
    const char32_t c = cps[i++];
    if (c < 0x80) {
      *p++ = static_cast<char>(c);
    } else if (c < 0x800) {
      *p++ = static_cast<char>(0xc0 | (c >> 6));
      *p++ = static_cast<char>(0x80 | (c & 0x3f));
    } else if (c < 0x10000) {
      *p++ = static_cast<char>(0xe0 | (c >> 12));
      *p++ = static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      *p++ = static_cast<char>(0x80 | (c & 0x3f));
    } else {
      *p++ = static_cast<char>(0xf0 | (c >> 18));
      *p++ = static_cast<char>(0x80 | ((c >> 12) & 0x3f));
      *p++ = static_cast<char>(0x80 | ((c >> 6) & 0x3f));
      *p++ = static_cast<char>(0x80 | (c & 0x3f));
    }
  }
}

std::string CodePointsToUtf8(std::u32string_view cps) {
  std::string out;
  out.reserve(cps.size());
  AppendUtf8(cps, &out);
  return out;
}

uint64_t Utf16Length(std::u32string_view cps) {
  uint64_t n = 0;
  for (char32_t c : cps) n += c >= 0x10000 ? 2 : 1;
  return n;
}

absl::StatusOr<uint64_t> Utf16ToCodePointIndex(std::u32string_view cps,
                                               uint64_t utf16_index) {
  uint64_t units = 0;
  for (uint64_t i = 0; i < cps.size(); ++i) {
    if (units == utf16_index) return i;
    units += cps[i] >= 0x10000 ? 2 : 1;
    if (units > utf16_index) {
      return absl::InvalidArgumentError(absl::StrCat(
          "utf-16 index ", utf16_index, " splits a surrogate pair"));
    }
  }
  if (units == utf16_index) return cps.size();
  return absl::OutOfRangeError(absl::StrCat("utf-16 index ", utf16_index,
                                            " past the end (", units, ")"));
}

uint64_t CodePointToUtf16Index(std::u32string_view cps, uint64_t index) {
  return Utf16Length(cps.substr(0, index));
}

}  // namespace lattice::crdt
