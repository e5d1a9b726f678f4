#include "crdt/internal/update_codec.h"

#include <algorithm>
#include <cstring>

#include "base/status_macros.h"
#include "crdt/internal/replica_table.h"
#include "crdt/text_units.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt::internal {
namespace {

enum InsertFlags : uint8_t {
  kHasLeft = 1,
  kHasRight = 2,
  kDeleted = 4,
  kIsText = 8,
};

}  // namespace

void EncodeValue(const Value& v, Writer& w) {
  w.Byte(static_cast<uint8_t>(v.kind()));
  switch (v.kind()) {
    case Value::Kind::kNull:
    case Value::Kind::kDeleted:
      break;
    case Value::Kind::kBool:
      w.Byte(v.as_bool() ? 1 : 0);
      break;
    case Value::Kind::kInt:
      w.SignedVarint(v.as_int());
      break;
    case Value::Kind::kDouble: {
      uint64_t bits;
      const double d = v.as_double();
      std::memcpy(&bits, &d, sizeof bits);
      w.Fixed64(bits);
      break;
    }
    case Value::Kind::kString:
    case Value::Kind::kBytes:
      w.Bytes(v.as_string());
      break;
    case Value::Kind::kContainer:
      w.Byte(static_cast<uint8_t>(v.container_type()));
      break;
  }
}

absl::StatusOr<Value> DecodeValue(Reader& r) {
  LATTICE_ASSIGN_OR_RETURN(uint8_t kind, r.Byte());
  switch (static_cast<Value::Kind>(kind)) {
    case Value::Kind::kNull:
      return Value::Null();
    case Value::Kind::kDeleted:
      return Value::Deleted();
    case Value::Kind::kBool: {
      LATTICE_ASSIGN_OR_RETURN(uint8_t b, r.Byte());
      if (b > 1) return r.Error("bool value not 0 or 1");
      return Value::Bool(b == 1);
    }
    case Value::Kind::kInt: {
      LATTICE_ASSIGN_OR_RETURN(int64_t i, r.SignedVarint());
      return Value::Int(i);
    }
    case Value::Kind::kDouble: {
      LATTICE_ASSIGN_OR_RETURN(uint64_t bits, r.Fixed64());
      double d;
      std::memcpy(&d, &bits, sizeof d);
      return Value::Double(d);
    }
    case Value::Kind::kString: {
      LATTICE_ASSIGN_OR_RETURN(absl::string_view s, r.Bytes());
      auto cps = Utf8ToCodePoints(s);
      if (!cps.ok()) return r.Error("string value is not valid utf-8");
      return Value::String(s);
    }
    case Value::Kind::kBytes: {
      LATTICE_ASSIGN_OR_RETURN(absl::string_view s, r.Bytes());
      return Value::Bytes(s);
    }
    case Value::Kind::kContainer: {
      LATTICE_ASSIGN_OR_RETURN(uint8_t t, r.Byte());
      if (t < 1 || t > 4)
        return r.Error(absl::StrCat("unknown container type ", t));
      return Value::NewContainer(static_cast<ContainerType>(t));
    }
  }
  return r.Error(absl::StrCat("unknown value kind ", kind));
}

std::string EncodeUpdate(const std::vector<Op>& ops) {
  ReplicaTable table;
  for (const Op& op : ops) {
    table.Add(op.id);
    table.Add(op.container);
    table.Add(op.origin_left);
    table.Add(op.origin_right);
    table.Add(op.target);
  }
  table.Finish();
  Writer w;
  w.Byte(kUpdateFormatVersion);
  table.Encode(w);
  // Blocks: maximal runs of ops of one replica with consecutive ids.
  std::vector<std::pair<size_t, size_t>> blocks;  // [begin, end) into ops
  for (size_t i = 0; i < ops.size(); ++i) {
    if (i == 0 || ops[i].id.replica != ops[i - 1].id.replica ||
        ops[i].id.counter != ops[i - 1].end()) {
      blocks.emplace_back(i, i + 1);
    } else {
      blocks.back().second = i + 1;
    }
  }
  w.Varint(blocks.size());
  for (auto [begin, end] : blocks) {
    w.Varint(table.Index(ops[begin].id.replica));
    w.Varint(ops[begin].id.counter);
    w.Varint(end - begin);
    for (size_t i = begin; i < end; ++i) {
      const Op& op = ops[i];
      w.Byte(static_cast<uint8_t>(op.kind));
      switch (op.kind) {
        case Op::Kind::kSkip:
          w.Varint(op.len);
          break;
        case Op::Kind::kInsert: {
          table.EncodeId(op.container, w);
          const bool is_text = op.is_text;
          uint8_t flags = 0;
          if (op.origin_left.replica != 0) flags |= kHasLeft;
          if (op.origin_right.replica != 0) flags |= kHasRight;
          if (op.deleted) flags |= kDeleted;
          if (is_text) flags |= kIsText;
          w.Byte(flags);
          if (flags & kHasLeft) table.EncodeId(op.origin_left, w);
          if (flags & kHasRight) table.EncodeId(op.origin_right, w);
          w.Varint(op.len);
          if (op.deleted) break;
          if (is_text) {
            std::string utf8;
            AppendUtf8(op.text, &utf8);
            w.Bytes(utf8);
          } else {
            for (const Value& v : op.values) EncodeValue(v, w);
          }
          break;
        }
        case Op::Kind::kDelete:
          table.EncodeId(op.container, w);
          table.EncodeId(op.target, w);
          w.Varint(op.len);
          w.Byte(op.reversed ? 1 : 0);
          break;
        case Op::Kind::kMapSet:
          table.EncodeId(op.container, w);
          w.Bytes(op.key);
          w.Varint(op.lamport);
          EncodeValue(op.value, w);
          break;
        case Op::Kind::kCounterAdd:
          table.EncodeId(op.container, w);
          w.SignedVarint(op.delta);
          break;
      }
    }
  }
  return std::move(w).Finish();
}

absl::StatusOr<std::vector<Op>> DecodeUpdate(absl::string_view bytes) {
  Reader r(bytes, "update");
  LATTICE_ASSIGN_OR_RETURN(uint8_t version, r.Byte());
  if (version != kUpdateFormatVersion) {
    return r.Error(absl::StrCat("unsupported format version ", version));
  }
  LATTICE_ASSIGN_OR_RETURN(std::vector<ReplicaId> table, DecodeReplicaTable(r));
  LATTICE_ASSIGN_OR_RETURN(uint64_t n_blocks,
                           r.Bounded(r.remaining(), "block count"));
  std::vector<Op> ops;
  for (uint64_t b = 0; b < n_blocks; ++b) {
    LATTICE_ASSIGN_OR_RETURN(uint64_t ri,
                             r.Bounded(table.size() == 0 ? 0 : table.size() - 1,
                                       "block replica index"));
    if (table.empty()) return r.Error("block with an empty replica table");
    const ReplicaId replica = table[ri];
    LATTICE_ASSIGN_OR_RETURN(uint64_t counter, r.Varint());
    LATTICE_ASSIGN_OR_RETURN(uint64_t n_ops,
                             r.Bounded(r.remaining(), "op count"));
    for (uint64_t i = 0; i < n_ops; ++i) {
      Op op;
      op.id = {replica, counter};
      LATTICE_ASSIGN_OR_RETURN(uint8_t kind, r.Byte());
      if (kind > static_cast<uint8_t>(Op::Kind::kCounterAdd)) {
        return r.Error(absl::StrCat("unknown op kind ", kind));
      }
      op.kind = static_cast<Op::Kind>(kind);
      switch (op.kind) {
        case Op::Kind::kSkip: {
          LATTICE_ASSIGN_OR_RETURN(op.len, r.Varint());
          break;
        }
        case Op::Kind::kInsert: {
          LATTICE_ASSIGN_OR_RETURN(op.container, DecodeId(r, table));
          LATTICE_ASSIGN_OR_RETURN(uint8_t flags, r.Byte());
          if (flags > 15) return r.Error("unknown insert flags");
          if (flags & kHasLeft) {
            LATTICE_ASSIGN_OR_RETURN(op.origin_left, DecodeId(r, table));
            if (op.origin_left.replica == 0)
              return r.Error("origin flag set without origin");
          }
          if (flags & kHasRight) {
            LATTICE_ASSIGN_OR_RETURN(op.origin_right, DecodeId(r, table));
            if (op.origin_right.replica == 0)
              return r.Error("origin flag set without origin");
          }
          op.deleted = flags & kDeleted;
          op.is_text = flags & kIsText;
          LATTICE_ASSIGN_OR_RETURN(op.len, r.Varint());
          if (op.deleted) break;
          if (flags & kIsText) {
            LATTICE_ASSIGN_OR_RETURN(absl::string_view utf8, r.Bytes());
            auto cps = Utf8ToCodePoints(utf8);
            if (!cps.ok()) return r.Error("insert text is not valid utf-8");
            if (cps->size() != op.len)
              return r.Error("insert text length mismatch");
            op.text = *std::move(cps);
          } else {
            if (op.len > r.remaining())
              return r.Error("insert value count exceeds input");
            op.values.reserve(op.len);
            for (uint64_t k = 0; k < op.len; ++k) {
              LATTICE_ASSIGN_OR_RETURN(Value v, DecodeValue(r));
              if (v.kind() == Value::Kind::kDeleted)
                return r.Error("list value is a deletion marker");
              op.values.push_back(std::move(v));
            }
          }
          break;
        }
        case Op::Kind::kDelete: {
          LATTICE_ASSIGN_OR_RETURN(op.container, DecodeId(r, table));
          LATTICE_ASSIGN_OR_RETURN(op.target, DecodeId(r, table));
          if (op.target.replica == 0) return r.Error("delete without target");
          LATTICE_ASSIGN_OR_RETURN(op.len, r.Varint());
          LATTICE_ASSIGN_OR_RETURN(uint8_t reversed, r.Byte());
          if (reversed > 1) return r.Error("delete direction not 0 or 1");
          op.reversed = reversed == 1;
          if (op.target.counter + op.len < op.target.counter)
            return r.Error("delete range overflows");
          break;
        }
        case Op::Kind::kMapSet: {
          LATTICE_ASSIGN_OR_RETURN(op.container, DecodeId(r, table));
          LATTICE_ASSIGN_OR_RETURN(absl::string_view key, r.Bytes());
          op.key = std::string(key);
          LATTICE_ASSIGN_OR_RETURN(op.lamport, r.Varint());
          LATTICE_ASSIGN_OR_RETURN(op.value, DecodeValue(r));
          break;
        }
        case Op::Kind::kCounterAdd: {
          LATTICE_ASSIGN_OR_RETURN(op.container, DecodeId(r, table));
          LATTICE_ASSIGN_OR_RETURN(op.delta, r.SignedVarint());
          break;
        }
      }
      if (op.len == 0) return r.Error("op of length 0");
      if (op.id.counter + op.len < op.id.counter)
        return r.Error("op ids overflow");
      counter += op.len;
      ops.push_back(std::move(op));
    }
  }
  if (!r.done()) return r.Error("trailing bytes");
  return ops;
}

}  // namespace lattice::crdt::internal
