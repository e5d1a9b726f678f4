// Conversions between the text units Lattice and its clients use.
//
// Text containers store Unicode code points, and their positions count code
// points. Browsers and the JavaScript world count UTF-16 code units (a code
// point above U+FFFF is two units); use Utf16ToCodePointIndex and
// CodePointToUtf16Index to convert positions against a text's current
// content. UTF-8 is the encoding of strings in and out of the API.
#ifndef LATTICE_CRDT_TEXT_UNITS_H_
#define LATTICE_CRDT_TEXT_UNITS_H_

#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt {

// Decodes UTF-8. Errors: InvalidArgument for malformed, overlong or surrogate
// sequences, naming the byte offset.
absl::StatusOr<std::u32string> Utf8ToCodePoints(absl::string_view utf8);
// Appends the UTF-8 encoding of `cps` (which must be valid scalar values).
void AppendUtf8(std::u32string_view cps, std::string* out);
std::string CodePointsToUtf8(std::u32string_view cps);

// Number of UTF-16 code units of `cps`.
uint64_t Utf16Length(std::u32string_view cps);
// Converts a UTF-16 offset into `cps` to a code-point offset. Errors:
// OutOfRange past the end; InvalidArgument when it splits a surrogate pair.
absl::StatusOr<uint64_t> Utf16ToCodePointIndex(std::u32string_view cps,
                                               uint64_t utf16_index);
// Converts a code-point offset (<= cps.size()) to a UTF-16 offset.
uint64_t CodePointToUtf16Index(std::u32string_view cps, uint64_t index);

}  // namespace lattice::crdt

#endif  // LATTICE_CRDT_TEXT_UNITS_H_
