// Scalar values and container kinds stored in a document.
//
// A Value is what a Map key or a List element holds: a scalar (null, bool,
// int64, double, UTF-8 string, bytes) or a reference to a nested container
// (Map, List, Text, Counter) created by the op that stored it. A Map key can
// also hold a deletion marker (kDeleted), which never appears in exports.
//
// Thread safety: a plain value type.
#ifndef LATTICE_CRDT_VALUE_H_
#define LATTICE_CRDT_VALUE_H_

#include <cstdint>
#include <string>

#include "crdt/ids.h"

#include "absl/strings/string_view.h"

namespace lattice::crdt {

enum class ContainerType : uint8_t {
  kMap = 1,
  kList = 2,
  kText = 3,
  kCounter = 4
};

// A container is named by the id of the op that created it; the root Map is
// kRootId (replica 0 is reserved and never makes ops).
using ContainerId = OpId;
inline constexpr ContainerId kRootId{0, 0};

absl::string_view ContainerTypeName(ContainerType type);

class Value {
 public:
  enum class Kind : uint8_t {
    kNull = 0,
    kBool = 1,
    kInt = 2,
    kDouble = 3,
    kString = 4,
    kBytes = 5,
    kContainer = 6,  // a nested container; container_type() says which
    kDeleted = 7,    // map key deleted (tombstone)
  };

  Value() = default;  // null
  static Value Null() { return Value(); }
  static Value Bool(bool b) {
    Value v(Kind::kBool);
    v.int_ = b;
    return v;
  }
  static Value Int(int64_t i) {
    Value v(Kind::kInt);
    v.int_ = i;
    return v;
  }
  static Value Double(double d) {
    Value v(Kind::kDouble);
    v.double_ = d;
    return v;
  }
  static Value String(absl::string_view s) {
    Value v(Kind::kString);
    v.str_ = std::string(s);
    return v;
  }
  static Value Bytes(absl::string_view s) {
    Value v(Kind::kBytes);
    v.str_ = std::string(s);
    return v;
  }
  static Value NewContainer(ContainerType t) {
    Value v(Kind::kContainer);
    v.int_ = static_cast<int64_t>(t);
    return v;
  }
  static Value Deleted() { return Value(Kind::kDeleted); }

  Kind kind() const { return kind_; }
  bool is_container() const { return kind_ == Kind::kContainer; }
  bool as_bool() const { return int_ != 0; }
  int64_t as_int() const { return int_; }
  double as_double() const { return double_; }
  const std::string& as_string() const { return str_; }  // kString, kBytes
  ContainerType container_type() const {
    return static_cast<ContainerType>(int_);
  }

  friend bool operator==(const Value& a, const Value& b);
  std::string DebugString() const;

 private:
  explicit Value(Kind k) : kind_(k) {}
  Kind kind_ = Kind::kNull;
  int64_t int_ = 0;
  double double_ = 0;
  std::string str_;
};

}  // namespace lattice::crdt

#endif  // LATTICE_CRDT_VALUE_H_
