#include "crdt/value.h"

#include <cstring>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

absl::string_view ContainerTypeName(ContainerType type) {
  switch (type) {
    case ContainerType::kMap:
      return "map";
    case ContainerType::kList:
      return "list";
    case ContainerType::kText:
      return "text";
    case ContainerType::kCounter:
      return "counter";
  }
  return "unknown";
}

bool operator==(const Value& a, const Value& b) {
  if (a.kind_ != b.kind_) return false;
  switch (a.kind_) {
    case Value::Kind::kNull:
    case Value::Kind::kDeleted:
      return true;
    case Value::Kind::kBool:
    case Value::Kind::kInt:
    case Value::Kind::kContainer:
      return a.int_ == b.int_;
    // Bitwise, so NaN equals itself and encodings round-trip exactly.
    case Value::Kind::kDouble:
      return std::memcmp(&a.double_, &b.double_, sizeof(double)) == 0;
    case Value::Kind::kString:
    case Value::Kind::kBytes:
      return a.str_ == b.str_;
  }
  return false;
}

std::string Value::DebugString() const {
  switch (kind_) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return as_bool() ? "true" : "false";
    case Kind::kInt:
      return absl::StrCat(int_);
    case Kind::kDouble:
      return absl::StrCat(double_);
    case Kind::kString:
      return absl::StrCat("\"", absl::CHexEscape(str_), "\"");
    case Kind::kBytes:
      return absl::StrCat("b\"", absl::CHexEscape(str_), "\"");
    case Kind::kContainer:
      return absl::StrCat("<", ContainerTypeName(container_type()), ">");
    case Kind::kDeleted:
      return "<deleted>";
  }
  return "?";
}

}  // namespace lattice::crdt
