#include "crdt/read_marks.h"

#include <algorithm>

#include "base/utf8.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt {
namespace {

constexpr char kSeparator = '\x1f';  // ASCII unit separator

std::string KeyOf(absl::string_view user, ReplicaId replica) {
  return absl::StrCat(user, absl::string_view(&kSeparator, 1), replica);
}

}  // namespace

absl::Status SetReadMark(Doc& doc, ContainerId receipts, absl::string_view user,
                         int64_t mark) {
  if (user.empty() || !IsValidUtf8(user) ||
      user.find(kSeparator) != absl::string_view::npos) {
    return absl::InvalidArgumentError(
        "read mark: the user id must be non-empty UTF-8 without \\x1f");
  }
  const std::string key = KeyOf(user, doc.replica());
  auto current = doc.MapGet(receipts, key);
  if (current.ok() && current->kind() == Value::Kind::kInt &&
      current->as_int() >= mark) {
    return absl::OkStatus();
  }
  if (!current.ok() && !absl::IsNotFound(current.status())) {
    return current.status();
  }
  return doc.MapSet(receipts, key, Value::Int(mark));
}

absl::StatusOr<std::map<std::string, int64_t>> ReadMarks(const Doc& doc,
                                                         ContainerId receipts) {
  auto keys = doc.MapKeys(receipts);
  if (!keys.ok()) return keys.status();
  std::map<std::string, int64_t> marks;
  for (const std::string& key : *keys) {
    const size_t sep = key.rfind(kSeparator);
    if (sep == std::string::npos || sep == 0) continue;  // not a read mark
    auto v = doc.MapGet(receipts, key);
    if (!v.ok() || v->kind() != Value::Kind::kInt) continue;
    auto [it, inserted] = marks.emplace(key.substr(0, sep), v->as_int());
    if (!inserted) it->second = std::max(it->second, v->as_int());
  }
  return marks;
}

absl::StatusOr<int64_t> ReadMark(const Doc& doc, ContainerId receipts,
                                 absl::string_view user) {
  auto marks = ReadMarks(doc, receipts);
  if (!marks.ok()) return marks.status();
  auto it = marks->find(std::string(user));
  if (it == marks->end()) {
    return absl::NotFoundError(absl::StrCat("no read mark for ", user));
  }
  return it->second;
}

}  // namespace lattice::crdt
