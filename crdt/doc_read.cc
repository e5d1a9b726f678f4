// Reading a Doc: accessors, JSON export, memory accounting, invariants.
#include <algorithm>

#include "base/logging.h"
#include "base/status_macros.h"
#include "crdt/doc.h"
#include "crdt/internal/json.h"
#include "crdt/text_units.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::AppendJsonString;
using internal::Container;
using internal::Run;

absl::StatusOr<ContainerType> Doc::TypeOf(ContainerId id) const {
  auto it = containers_.find(id);
  if (it == containers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no container ", id.replica, ":", id.counter));
  }
  return it->second->type;
}

absl::StatusOr<Value> Doc::MapGet(ContainerId map,
                                  absl::string_view key) const {
  LATTICE_ASSIGN_OR_RETURN(const Container* c, Get(map, ContainerType::kMap));
  auto it = c->map.entries.find(key);
  if (it == c->map.entries.end() ||
      it->second.value.kind() == Value::Kind::kDeleted) {
    return absl::NotFoundError(absl::StrCat("no key '", key, "'"));
  }
  return it->second.value;
}

absl::StatusOr<ContainerId> Doc::MapGetContainer(ContainerId map,
                                                 absl::string_view key) const {
  LATTICE_ASSIGN_OR_RETURN(Value v, MapGet(map, key));
  if (!v.is_container()) {
    return absl::FailedPreconditionError(
        absl::StrCat("key '", key, "' holds a scalar"));
  }
  LATTICE_ASSIGN_OR_RETURN(const Container* c, Get(map, ContainerType::kMap));
  return c->map.entries.find(key)->second.id;
}

absl::StatusOr<std::vector<std::string>> Doc::MapKeys(ContainerId map) const {
  LATTICE_ASSIGN_OR_RETURN(const Container* c, Get(map, ContainerType::kMap));
  std::vector<std::string> keys;
  for (const auto& [key, e] : c->map.entries) {
    if (e.value.kind() != Value::Kind::kDeleted) keys.push_back(key);
  }
  return keys;
}

absl::StatusOr<uint64_t> Doc::Length(ContainerId seq) const {
  auto it = containers_.find(seq);
  if (it == containers_.end()) {
    return absl::NotFoundError(
        absl::StrCat("no container ", seq.replica, ":", seq.counter));
  }
  if (!it->second->seq)
    return absl::FailedPreconditionError("container is not a sequence");
  return it->second->seq->size();
}

absl::StatusOr<Value> Doc::ListGet(ContainerId list, uint64_t index) const {
  LATTICE_ASSIGN_OR_RETURN(const Container* c, Get(list, ContainerType::kList));
  if (index >= c->seq->size()) {
    return absl::OutOfRangeError(
        absl::StrCat("list index ", index, " >= length ", c->seq->size()));
  }
  return c->seq->ValueAt(index);
}

absl::StatusOr<ContainerId> Doc::ListGetContainer(ContainerId list,
                                                  uint64_t index) const {
  LATTICE_ASSIGN_OR_RETURN(Value v, ListGet(list, index));
  if (!v.is_container()) {
    return absl::FailedPreconditionError(
        absl::StrCat("element ", index, " is a scalar"));
  }
  LATTICE_ASSIGN_OR_RETURN(const Container* c, Get(list, ContainerType::kList));
  return c->seq->IdAt(index);
}

absl::StatusOr<std::u32string> Doc::GetCodePoints(ContainerId text) const {
  LATTICE_ASSIGN_OR_RETURN(const Container* c, Get(text, ContainerType::kText));
  return c->seq->Text();
}

absl::StatusOr<std::string> Doc::GetText(ContainerId text) const {
  LATTICE_ASSIGN_OR_RETURN(const Container* c, Get(text, ContainerType::kText));
  return c->seq->Utf8Text();
}

absl::StatusOr<int64_t> Doc::CounterValue(ContainerId counter) const {
  LATTICE_ASSIGN_OR_RETURN(const Container* c,
                           Get(counter, ContainerType::kCounter));
  return c->counter.sum;
}

void Doc::AppendJson(const Container& c, std::string* out) const {
  auto append_value = [&](const Value& v, const ContainerId& id) {
    if (v.kind() == Value::Kind::kContainer) {
      AppendJson(*containers_.at(id), out);
    } else {
      internal::AppendJsonScalar(v, out);
    }
  };
  switch (c.type) {
    case ContainerType::kMap: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, e] : c.map.entries) {
        if (e.value.kind() == Value::Kind::kDeleted) continue;
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(key, out);
        out->push_back(':');
        append_value(e.value, e.id);
      }
      out->push_back('}');
      break;
    }
    case ContainerType::kList: {
      out->push_back('[');
      bool first = true;
      c.seq->ForEachRun([&](const Run& r, internal::RunContent content) {
        if (r.deleted) return;
        for (uint64_t i = 0; i < r.len; ++i) {
          if (!first) out->push_back(',');
          first = false;
          append_value(content.values[i], OpId{r.id.replica, r.id.counter + i});
        }
      });
      out->push_back(']');
      break;
    }
    case ContainerType::kText:
      AppendJsonString(CodePointsToUtf8(c.seq->Text()), out);
      break;
    case ContainerType::kCounter:
      absl::StrAppend(out, c.counter.sum);
      break;
  }
}

absl::StatusOr<std::string> Doc::ToJson(ContainerId container) const {
  auto it = containers_.find(container);
  if (it == containers_.end()) {
    return absl::NotFoundError(absl::StrCat("no container ", container.replica,
                                            ":", container.counter));
  }
  std::string out;
  AppendJson(*it->second, &out);
  return out;
}

uint64_t Doc::MemoryUsage() const {
  uint64_t bytes = sizeof(Doc);
  for (const auto& [id, c] : containers_) {
    bytes += sizeof(Container) + 32;  // + hash slot
    for (const auto& [key, e] : c->map.entries) {
      bytes += 64 + key.capacity() + sizeof(internal::MapEntry);
    }
    bytes += c->map.shadows.capacity() *
             sizeof(std::pair<std::string, internal::MapEntry>);
    bytes += c->counter.adds.capacity() * sizeof(std::pair<OpId, int64_t>);
    if (c->seq) bytes += c->seq->MemoryUsage();
  }
  bytes +=
      deletes_.size() * (sizeof(OpId) + sizeof(internal::DeleteRecord) + 16);
  return bytes;
}

std::string Doc::DebugDump() const {
  std::vector<ContainerId> ids;
  for (const auto& [id, c] : containers_) ids.push_back(id);
  std::sort(ids.begin(), ids.end());
  std::string out = absl::StrCat("version ", version_.DebugString(), "\n");
  auto id_str = [](const OpId& id) {
    return absl::StrCat(id.replica, ":", id.counter);
  };
  for (const ContainerId& id : ids) {
    const Container& c = *containers_.at(id);
    absl::StrAppend(&out, "container ", id_str(id), " ",
                    ContainerTypeName(c.type), "\n");
    for (const auto& [key, e] : c.map.entries) {
      absl::StrAppend(&out, "  ", key, " = ", e.value.DebugString(), " @",
                      id_str(e.id), " L", e.lamport, "\n");
    }
    for (const auto& [key, e] : c.map.shadows) {
      absl::StrAppend(&out, "  shadow ", key, " @", id_str(e.id), "\n");
    }
    if (c.seq) {
      c.seq->ForEachRun([&](const Run& r, internal::RunContent) {
        absl::StrAppend(&out, "  run ", id_str(r.id), "+", r.len,
                        r.deleted ? " del" : "", " L=", id_str(r.origin_left),
                        " R=", id_str(r.origin_right), "\n");
      });
    }
  }
  for (const auto& [id, d] : deletes_) {
    absl::StrAppend(&out, "delete ", id_str(id), "+", d.len, " in ",
                    id_str(d.container), " target ", id_str(d.target),
                    d.reversed ? " rev" : "", "\n");
  }
  return out;
}

void Doc::CheckInvariants() const {
  for (const auto& [id, c] : containers_) {
    if (c->seq) c->seq->CheckInvariants();
    for (const auto& [key, e] : c->map.entries) {
      LATTICE_CHECK(version_.Contains(e.id));
      if (e.value.is_container()) LATTICE_CHECK(containers_.contains(e.id));
    }
  }
  LATTICE_CHECK(pending_count_ == [&] {
    uint64_t n = 0;
    for (const auto& [r, q] : pending_) n += q.size();
    return n;
  }());
}

}  // namespace lattice::crdt
