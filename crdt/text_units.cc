#include "crdt/text_units.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

absl::StatusOr<std::u32string> Utf8ToCodePoints(absl::string_view s) {
  std::u32string out;
  out.reserve(s.size());
  size_t i = 0;
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("utf-8: ", what, " at byte ", i));
  };
  while (i < s.size()) {
    const uint8_t b0 = static_cast<uint8_t>(s[i]);
    if (b0 < 0x80) {
      out.push_back(b0);
      ++i;
      continue;
    }
    int n;
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
    } else
      return bad("invalid lead byte");
    if (i + static_cast<size_t>(n) > s.size()) return bad("truncated sequence");
    for (int k = 1; k < n; ++k) {
      const uint8_t b = static_cast<uint8_t>(s[i + static_cast<size_t>(k)]);
      if ((b & 0xc0) != 0x80) return bad("invalid continuation byte");
      cp = (cp << 6) | (b & 0x3f);
    }
    static constexpr char32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n]) return bad("overlong encoding");
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
      return bad("not a scalar value");
    out.push_back(cp);
    i += static_cast<size_t>(n);
  }
  return out;
}

void AppendUtf8(std::u32string_view cps, std::string* out) {
  for (char32_t c : cps) {
    if (c < 0x80) {
      out->push_back(static_cast<char>(c));
    } else if (c < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (c >> 6)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else if (c < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (c >> 12)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (c >> 18)));
      out->push_back(static_cast<char>(0x80 | ((c >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((c >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (c & 0x3f)));
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
