#include "engine/json_edit.h"

#include <limits>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace lattice::engine {
namespace {

using nlohmann::json;

// What a JSON value becomes in a document.
struct Shape {
  bool is_container = false;
  crdt::ContainerType type = crdt::ContainerType::kMap;
  crdt::Value scalar;
  const json* content = nullptr;  // the container's initial content
};

bool FitsInt64(const json& v) {
  if (v.is_number_unsigned()) {
    return v.get<uint64_t>() <=
           static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
  }
  return v.is_number_integer();
}

absl::StatusOr<Shape> Classify(const json& v) {
  Shape s;
  switch (v.type()) {
    case json::value_t::null:
      return s;
    case json::value_t::boolean:
      s.scalar = crdt::Value::Bool(v.get<bool>());
      return s;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      s.scalar = FitsInt64(v) ? crdt::Value::Int(v.get<int64_t>())
                              : crdt::Value::Double(v.get<double>());
      return s;
    case json::value_t::number_float:
      s.scalar = crdt::Value::Double(v.get<double>());
      return s;
    case json::value_t::string:
      s.scalar = crdt::Value::String(v.get_ref<const std::string&>());
      return s;
    case json::value_t::array:
      s.is_container = true;
      s.type = crdt::ContainerType::kList;
      s.content = &v;
      return s;
    case json::value_t::object:
      break;
    default:
      return absl::InvalidArgumentError("a value is not JSON data");
  }
  if (v.size() == 1 && !v.begin().key().empty() && v.begin().key()[0] == '$') {
    const std::string& marker = v.begin().key();
    const json& inner = v.begin().value();
    if (marker == "$text") {
      if (!inner.is_string()) {
        return absl::InvalidArgumentError("$text takes a string");
      }
      s.is_container = true;
      s.type = crdt::ContainerType::kText;
      s.content = &inner;
      return s;
    }
    if (marker == "$counter") {
      if (!FitsInt64(inner)) {
        return absl::InvalidArgumentError("$counter takes a 64-bit integer");
      }
      s.is_container = true;
      s.type = crdt::ContainerType::kCounter;
      s.content = &inner;
      return s;
    }
    if (marker == "$bytes") {
      std::string bytes;
      if (!inner.is_string() ||
          !absl::Base64Unescape(inner.get_ref<const std::string&>(), &bytes)) {
        return absl::InvalidArgumentError("$bytes takes a base64 string");
      }
      s.scalar = crdt::Value::Bytes(bytes);
      return s;
    }
    return absl::InvalidArgumentError(absl::StrCat(
        "unknown marker ", marker, " (use $text, $counter or $bytes)"));
  }
  s.is_container = true;
  s.type = crdt::ContainerType::kMap;
  s.content = &v;
  return s;
}

// Checks a value and everything inside it.
absl::Status CheckValue(const json& v, int depth, int max_depth) {
  if (depth > max_depth) {
    return absl::InvalidArgumentError(
        absl::StrCat("a value nests deeper than ", max_depth));
  }
  auto shape = Classify(v);
  if (!shape.ok()) return shape.status();
  if (!shape->is_container) return absl::OkStatus();
  if (shape->type == crdt::ContainerType::kList ||
      shape->type == crdt::ContainerType::kMap) {
    for (const json& child : *shape->content) {
      absl::Status s = CheckValue(child, depth + 1, max_depth);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Fill(crdt::Doc& doc, crdt::ContainerId id, const Shape& shape);

absl::Status SetInMap(crdt::Doc& doc, crdt::ContainerId map,
                      const std::string& key, const json& v) {
  auto shape = Classify(v);
  if (!shape.ok()) return shape.status();
  if (!shape->is_container) return doc.MapSet(map, key, shape->scalar);
  auto id = doc.MapSetContainer(map, key, shape->type);
  if (!id.ok()) return id.status();
  return Fill(doc, *id, *shape);
}

absl::Status InsertInList(crdt::Doc& doc, crdt::ContainerId list,
                          uint64_t index, const json& v) {
  auto shape = Classify(v);
  if (!shape.ok()) return shape.status();
  if (!shape->is_container) return doc.ListInsert(list, index, shape->scalar);
  auto id = doc.ListInsertContainer(list, index, shape->type);
  if (!id.ok()) return id.status();
  return Fill(doc, *id, *shape);
}

absl::Status Fill(crdt::Doc& doc, crdt::ContainerId id, const Shape& shape) {
  const json& content = *shape.content;
  switch (shape.type) {
    case crdt::ContainerType::kMap:
      for (const auto& [key, value] : content.items()) {
        absl::Status s = SetInMap(doc, id, key, value);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    case crdt::ContainerType::kList: {
      uint64_t i = 0;
      for (const json& value : content) {
        absl::Status s = InsertInList(doc, id, i++, value);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    case crdt::ContainerType::kText: {
      const std::string& text = content.get_ref<const std::string&>();
      return text.empty() ? absl::OkStatus() : doc.TextInsert(id, 0, text);
    }
    case crdt::ContainerType::kCounter: {
      const int64_t start = content.get<int64_t>();
      return start == 0 ? absl::OkStatus() : doc.CounterAdd(id, start);
    }
  }
  return absl::InternalError("unknown container type");
}

std::string PathString(const std::vector<PathStep>& path, size_t n) {
  json out = json::array();
  for (size_t i = 0; i < n && i < path.size(); ++i) {
    if (const auto* key = std::get_if<std::string>(&path[i])) {
      out.push_back(*key);
    } else {
      out.push_back(std::get<uint64_t>(path[i]));
    }
  }
  return out.dump();
}

// The container at the first `n` steps of `path`.
absl::StatusOr<crdt::ContainerId> Resolve(const crdt::Doc& doc,
                                          const std::vector<PathStep>& path,
                                          size_t n) {
  crdt::ContainerId at = crdt::kRootId;
  for (size_t i = 0; i < n; ++i) {
    absl::StatusOr<crdt::ContainerId> next =
        std::holds_alternative<std::string>(path[i])
            ? doc.MapGetContainer(at, std::get<std::string>(path[i]))
            : doc.ListGetContainer(at, std::get<uint64_t>(path[i]));
    if (!next.ok()) {
      return absl::Status(next.status().code(),
                          absl::StrCat("path ", PathString(path, i + 1), ": ",
                                       next.status().message()));
    }
    at = *next;
  }
  return at;
}

const char* OpName(EditOp::Kind kind) {
  switch (kind) {
    case EditOp::Kind::kSet:
      return "set";
    case EditOp::Kind::kDelete:
      return "delete";
    case EditOp::Kind::kInsert:
      return "insert";
    case EditOp::Kind::kRemove:
      return "remove";
    case EditOp::Kind::kIncrement:
      return "increment";
  }
  return "?";
}

absl::Status ApplyOne(const EditOp& op, crdt::Doc& doc) {
  const bool keyed =
      op.kind == EditOp::Kind::kSet || op.kind == EditOp::Kind::kDelete;
  const size_t n = keyed ? op.path.size() - 1 : op.path.size();
  auto target = Resolve(doc, op.path, n);
  if (!target.ok()) return target.status();
  switch (op.kind) {
    case EditOp::Kind::kSet:
      return SetInMap(doc, *target, std::get<std::string>(op.path.back()),
                      op.values.front());
    case EditOp::Kind::kDelete:
      return doc.MapDelete(*target, std::get<std::string>(op.path.back()));
    case EditOp::Kind::kInsert: {
      uint64_t index = 0;
      if (op.index.has_value()) {
        index = *op.index;
      } else {
        auto length = doc.Length(*target);
        if (!length.ok()) return length.status();
        index = *length;
      }
      if (op.text.has_value()) return doc.TextInsert(*target, index, *op.text);
      for (const json& v : op.values) {
        absl::Status s = InsertInList(doc, *target, index++, v);
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
    case EditOp::Kind::kRemove: {
      auto type = doc.TypeOf(*target);
      if (!type.ok()) return type.status();
      return *type == crdt::ContainerType::kText
                 ? doc.TextDelete(*target, *op.index, op.count)
                 : doc.ListDelete(*target, *op.index, op.count);
    }
    case EditOp::Kind::kIncrement:
      return doc.CounterAdd(*target, op.by);
  }
  return absl::InternalError("unknown op");
}

// Reads the fields of one operation object; the first error sticks.
class OpReader {
 public:
  OpReader(const json& op, size_t i) : op_(op), i_(i) {}

  const json* Field(const char* name) const {
    auto it = op_.find(name);
    return it == op_.end() ? nullptr : &*it;
  }

  absl::Status Fail(absl::string_view op_name, absl::string_view what) const {
    return absl::InvalidArgumentError(
        absl::StrCat("operation ", i_, " (", op_name, "): ", what));
  }

 private:
  const json& op_;
  const size_t i_;
};

absl::StatusOr<EditOp> ParseOne(const json& j, size_t i,
                                const EditLimits& limits) {
  if (!j.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("operation ", i, " is not an object"));
  }
  OpReader r(j, i);
  const json* name = r.Field("op");
  if (name == nullptr || !name->is_string()) {
    return r.Fail("?", "\"op\" is missing or not a string");
  }
  const std::string& op_name = name->get_ref<const std::string&>();
  EditOp op;
  if (op_name == "set") {
    op.kind = EditOp::Kind::kSet;
  } else if (op_name == "delete") {
    op.kind = EditOp::Kind::kDelete;
  } else if (op_name == "insert") {
    op.kind = EditOp::Kind::kInsert;
  } else if (op_name == "remove") {
    op.kind = EditOp::Kind::kRemove;
  } else if (op_name == "increment") {
    op.kind = EditOp::Kind::kIncrement;
  } else {
    return r.Fail(op_name,
                  "unknown op (set, delete, insert, remove, increment)");
  }
  const json* path = r.Field("path");
  if (path == nullptr || !path->is_array()) {
    return r.Fail(op_name, "\"path\" is missing or not an array");
  }
  for (const json& step : *path) {
    if (step.is_string()) {
      op.path.emplace_back(step.get<std::string>());
    } else if (step.is_number_unsigned()) {
      op.path.emplace_back(step.get<uint64_t>());
    } else {
      return r.Fail(op_name,
                    "a path step is not a key (string) or an index (unsigned "
                    "integer)");
    }
  }
  auto unsigned_field = [&](const char* field,
                            std::optional<uint64_t>* out) -> absl::Status {
    const json* v = r.Field(field);
    if (v == nullptr) return absl::OkStatus();
    if (!v->is_number_unsigned()) {
      return r.Fail(op_name,
                    absl::StrCat("\"", field, "\" is not an unsigned integer"));
    }
    *out = v->get<uint64_t>();
    return absl::OkStatus();
  };
  auto check_value = [&](const json& v) -> absl::Status {
    absl::Status s = CheckValue(v, 1, limits.max_value_depth);
    return s.ok() ? s : r.Fail(op_name, s.message());
  };
  switch (op.kind) {
    case EditOp::Kind::kSet:
    case EditOp::Kind::kDelete: {
      if (op.path.empty() ||
          !std::holds_alternative<std::string>(op.path.back())) {
        return r.Fail(op_name, "the path must end with a map key (string)");
      }
      if (op.kind == EditOp::Kind::kDelete) break;
      const json* value = r.Field("value");
      if (value == nullptr) return r.Fail(op_name, "\"value\" is missing");
      if (absl::Status s = check_value(*value); !s.ok()) return s;
      op.values.push_back(*value);
      break;
    }
    case EditOp::Kind::kInsert: {
      if (absl::Status s = unsigned_field("index", &op.index); !s.ok()) {
        return s;
      }
      const json* value = r.Field("value");
      const json* values = r.Field("values");
      const json* text = r.Field("text");
      if ((value != nullptr) + (values != nullptr) + (text != nullptr) != 1) {
        return r.Fail(op_name,
                      "give exactly one of \"value\", \"values\", \"text\"");
      }
      if (text != nullptr) {
        if (!text->is_string()) {
          return r.Fail(op_name, "\"text\" is not a string");
        }
        op.text = text->get<std::string>();
      } else if (values != nullptr) {
        if (!values->is_array()) {
          return r.Fail(op_name, "\"values\" is not an array");
        }
        for (const json& v : *values) {
          if (absl::Status s = check_value(v); !s.ok()) return s;
          op.values.push_back(v);
        }
      } else {
        if (absl::Status s = check_value(*value); !s.ok()) return s;
        op.values.push_back(*value);
      }
      break;
    }
    case EditOp::Kind::kRemove: {
      if (absl::Status s = unsigned_field("index", &op.index); !s.ok()) {
        return s;
      }
      if (!op.index.has_value()) return r.Fail(op_name, "\"index\" is missing");
      std::optional<uint64_t> count;
      if (absl::Status s = unsigned_field("count", &count); !s.ok()) return s;
      op.count = count.value_or(1);
      break;
    }
    case EditOp::Kind::kIncrement: {
      const json* by = r.Field("by");
      if (by != nullptr) {
        if (!FitsInt64(*by)) {
          return r.Fail(op_name, "\"by\" is not a 64-bit integer");
        }
        op.by = by->get<int64_t>();
      }
      break;
    }
  }
  return op;
}

}  // namespace

absl::StatusOr<std::vector<EditOp>> ParseEditOps(const json& ops,
                                                 const EditLimits& limits) {
  if (!ops.is_array()) {
    return absl::InvalidArgumentError("\"ops\" is not an array");
  }
  if (ops.size() > limits.max_ops) {
    return absl::InvalidArgumentError(absl::StrCat(
        ops.size(), " operations, over the limit of ", limits.max_ops));
  }
  std::vector<EditOp> out;
  out.reserve(ops.size());
  for (size_t i = 0; i < ops.size(); ++i) {
    auto op = ParseOne(ops[i], i, limits);
    if (!op.ok()) return op.status();
    out.push_back(*std::move(op));
  }
  return out;
}

absl::Status ApplyEditOps(const std::vector<EditOp>& ops, crdt::Doc& doc,
                          size_t* applied) {
  size_t done = 0;
  absl::Status status;
  for (const EditOp& op : ops) {
    status = ApplyOne(op, doc);
    if (!status.ok()) {
      status = absl::Status(
          status.code(), absl::StrCat("operation ", done, " (", OpName(op.kind),
                                      "): ", status.message()));
      break;
    }
    ++done;
  }
  if (applied != nullptr) *applied = done;
  return status;
}

}  // namespace lattice::engine
