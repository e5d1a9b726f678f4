// JSON document edits for the backend API (docs/http-api.md, "Changes"):
// a list of operations such as
//
//   [{"op":"set","path":["tasks","t1","title"],"value":"x"},
//    {"op":"insert","path":["log"],"index":0,"value":{"$text":"hi"}}]
//
// parsed and checked as a whole first (ParseEditOps: shape, op names,
// field types, value depth), then applied in order to a crdt::Doc
// (ApplyEditOps), which resolves paths and indexes against the document.
//
//   auto ops = ParseEditOps(json);            // 400 on error, nothing applied
//   absl::Status s = ApplyEditOps(*ops, doc);  // on the doc's owner
//   std::string update = doc.Commit();
//
// Values: JSON null, booleans, numbers and strings are scalars (integers
// that fit int64 are Int, others Double); a JSON array is a new List and an
// object a new Map, filled recursively; {"$text": "..."} is a new Text,
// {"$counter": n} a new Counter starting at n, {"$bytes": "<base64>"} a
// bytes scalar (the forms crdt::Doc::ToJson writes). An object whose only
// key starts with '$' must be one of these.
//
// Thread safety: plain values and functions; a Doc needs its owner's
// synchronization.
#ifndef LATTICE_ENGINE_JSON_EDIT_H_
#define LATTICE_ENGINE_JSON_EDIT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "crdt/doc.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace lattice::engine {

// One step of a path: a map key or a list index.
using PathStep = std::variant<std::string, uint64_t>;

struct EditOp {
  enum class Kind { kSet, kDelete, kInsert, kRemove, kIncrement };
  Kind kind = Kind::kSet;
  // Where: for set and delete the last step is the key in its parent map;
  // for insert, remove and increment the path names the container.
  std::vector<PathStep> path;
  // insert, remove: the position; nullopt for insert means the end.
  std::optional<uint64_t> index;
  uint64_t count = 1;  // remove
  int64_t by = 1;      // increment
  // set: one value; insert into a list: the values (from "value" or
  // "values"); insert into a text: `text`.
  std::vector<nlohmann::json> values;
  std::optional<std::string> text;
};

// Bounds of one request.
struct EditLimits {
  // Default: 10,000 operations.
  size_t max_ops = 10'000;
  // Nesting of a value (maps and lists inside maps and lists). Default: 32.
  int max_value_depth = 32;
};

// Checks `ops` (a JSON array of operations). Errors: InvalidArgument naming
// the operation and field ("operation 2 (insert): index is not an unsigned
// integer").
[[nodiscard]] absl::StatusOr<std::vector<EditOp>> ParseEditOps(
    const nlohmann::json& ops, const EditLimits& limits = {});

// Applies `ops` in order to `doc`; stops at the first that fails. `applied`
// (may be null) receives how many succeeded: their effects stay in the doc
// (uncommitted) either way. Errors: the Doc's (NotFound for a missing path,
// FailedPrecondition for a container of another type, OutOfRange for a bad
// index, InvalidArgument for a bad value), prefixed with the operation.
[[nodiscard]] absl::Status ApplyEditOps(const std::vector<EditOp>& ops,
                                        crdt::Doc& doc,
                                        size_t* applied = nullptr);

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_JSON_EDIT_H_
