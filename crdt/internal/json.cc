#include "crdt/internal/json.h"

#include <charconv>
#include <cmath>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt::internal {

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    switch (c) {
      case '"':
        *out += "\\\"";
        break;
      case '\\':
        *out += "\\\\";
        break;
      case '\n':
        *out += "\\n";
        break;
      case '\r':
        *out += "\\r";
        break;
      case '\t':
        *out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static constexpr char kHex[] = "0123456789abcdef";
          *out += "\\u00";
          out->push_back(kHex[c >> 4]);
          out->push_back(kHex[c & 0xf]);
        } else {
          out->push_back(ch);
        }
    }
  }
  out->push_back('"');
}

void AppendJsonDouble(double d, std::string* out) {
  if (!std::isfinite(d)) {
    *out += "null";
    return;
  }
  char buf[32];
  auto res = std::to_chars(buf, buf + sizeof buf, d);
  out->append(buf, res.ptr);
}

void AppendJsonScalar(const Value& v, std::string* out) {
  switch (v.kind()) {
    case Value::Kind::kBool:
      *out += v.as_bool() ? "true" : "false";
      return;
    case Value::Kind::kInt:
      absl::StrAppend(out, v.as_int());
      return;
    case Value::Kind::kDouble:
      AppendJsonDouble(v.as_double(), out);
      return;
    case Value::Kind::kString:
      AppendJsonString(v.as_string(), out);
      return;
    case Value::Kind::kBytes:
      *out += "{\"$bytes\":";
      AppendJsonString(absl::Base64Escape(v.as_string()), out);
      *out += "}";
      return;
    case Value::Kind::kNull:
    case Value::Kind::kContainer:
    case Value::Kind::kDeleted:
      break;
  }
  *out += "null";
}

}  // namespace lattice::crdt::internal
