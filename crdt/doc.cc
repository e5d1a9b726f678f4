// Local edits, remote application and the pending buffer. Encoding lives in
// doc_encoding.cc, reading and JSON in doc_read.cc.
#include "crdt/doc.h"

#include <algorithm>
#include <utility>

#include "base/logging.h"
#include "base/status_macros.h"
#include "base/utf8.h"
#include "crdt/internal/update_codec.h"
#include "crdt/text_units.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::Container;
using internal::kNoId;
using internal::MapEntry;
using internal::Op;

namespace {

// Inserts longer than this are refused (keeps counters far from overflow and
// a single run's memory bounded).
constexpr uint64_t kMaxRunLength = uint64_t{1} << 31;

std::string IdString(const OpId& id) {
  return absl::StrCat(id.replica, ":", id.counter);
}

}  // namespace

Doc::Doc(ReplicaId replica, DocOptions options)
    : replica_(replica), options_(options) {
  LATTICE_CHECK(replica != 0) << "replica 0 is reserved";
  containers_.emplace(kRootId,
                      std::make_unique<Container>(ContainerType::kMap));
}

Doc::~Doc() = default;

absl::StatusOr<Container*> Doc::Get(ContainerId id, ContainerType type) {
  // Edits come in bursts on one container: skip the hash lookup for those.
  if (id == cached_id_ && cached_ != nullptr && cached_->type == type)
    return cached_;
  auto it = containers_.find(id);
  if (it == containers_.end()) {
    return absl::NotFoundError(absl::StrCat("no container ", IdString(id)));
  }
  if (it->second->type != type) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", IdString(id), " is a ",
                     ContainerTypeName(it->second->type), ", not a ",
                     ContainerTypeName(type)));
  }
  cached_id_ = id;
  cached_ = it->second.get();
  return cached_;
}

absl::StatusOr<const Container*> Doc::Get(ContainerId id,
                                          ContainerType type) const {
  auto c = const_cast<Doc*>(this)->Get(id, type);
  if (!c.ok()) return c.status();
  return *c;
}

void Doc::RegisterContainer(ContainerId id, ContainerType type) {
  containers_.try_emplace(id, std::make_unique<Container>(type));
}

void Doc::Emit(ChangeEvent event) {
  if (observer_) events_.push_back(std::move(event));
}

// Appends a local op, extending the previous one when it continues it (typing
// and backspacing produce one op per run, not per keystroke).
void Doc::RecordLocal(Op op) {
  if (!local_ops_.empty()) {
    Op& prev = local_ops_.back();
    if (prev.kind == op.kind && prev.container == op.container &&
        prev.end() == op.id.counter) {
      if (op.kind == Op::Kind::kInsert &&
          op.origin_left == OpId{replica_, prev.end() - 1} &&
          op.origin_right == prev.origin_right) {
        prev.len += op.len;
        prev.text += op.text;
        for (Value& v : op.values) prev.values.push_back(std::move(v));
        return;
      }
    }
  }
  local_ops_.push_back(std::move(op));
}

absl::Status Doc::MapSet(ContainerId map, absl::string_view key, Value value) {
  if (value.is_container() || value.kind() == Value::Kind::kDeleted) {
    return absl::InvalidArgumentError(
        "MapSet takes a scalar value; use MapSetContainer or MapDelete");
  }
  if (value.kind() == Value::Kind::kString && !IsValidUtf8(value.as_string())) {
    return absl::InvalidArgumentError("string value is not valid utf-8");
  }
  if (!IsValidUtf8(key))
    return absl::InvalidArgumentError("map key is not valid utf-8");
  LATTICE_RETURN_IF_ERROR(Get(map, ContainerType::kMap).status());
  Op op;
  op.kind = Op::Kind::kMapSet;
  op.id = NextId(1);
  op.container = map;
  op.key = std::string(key);
  op.value = std::move(value);
  op.lamport = ++max_lamport_;
  LATTICE_RETURN_IF_ERROR(ApplyMapSet(op, /*local=*/true));
  RecordLocal(std::move(op));
  return absl::OkStatus();
}

absl::StatusOr<ContainerId> Doc::MapSetContainer(ContainerId map,
                                                 absl::string_view key,
                                                 ContainerType type) {
  if (!IsValidUtf8(key))
    return absl::InvalidArgumentError("map key is not valid utf-8");
  LATTICE_RETURN_IF_ERROR(Get(map, ContainerType::kMap).status());
  Op op;
  op.kind = Op::Kind::kMapSet;
  op.id = NextId(1);
  op.container = map;
  op.key = std::string(key);
  op.value = Value::NewContainer(type);
  op.lamport = ++max_lamport_;
  LATTICE_RETURN_IF_ERROR(ApplyMapSet(op, /*local=*/true));
  const ContainerId id = op.id;
  RecordLocal(std::move(op));
  return id;
}

absl::Status Doc::MapDelete(ContainerId map, absl::string_view key) {
  LATTICE_ASSIGN_OR_RETURN(Container * c, Get(map, ContainerType::kMap));
  auto it = c->map.entries.find(key);
  if (it == c->map.entries.end() ||
      it->second.value.kind() == Value::Kind::kDeleted) {
    return absl::NotFoundError(absl::StrCat("no key '", key, "'"));
  }
  Op op;
  op.kind = Op::Kind::kMapSet;
  op.id = NextId(1);
  op.container = map;
  op.key = std::string(key);
  op.value = Value::Deleted();
  op.lamport = ++max_lamport_;
  LATTICE_RETURN_IF_ERROR(ApplyMapSet(op, /*local=*/true));
  RecordLocal(std::move(op));
  return absl::OkStatus();
}

absl::Status Doc::ListInsert(ContainerId list, uint64_t index, Value value) {
  if (value.is_container() || value.kind() == Value::Kind::kDeleted) {
    return absl::InvalidArgumentError(
        "ListInsert takes a scalar value; use ListInsertContainer");
  }
  if (value.kind() == Value::Kind::kString && !IsValidUtf8(value.as_string())) {
    return absl::InvalidArgumentError("string value is not valid utf-8");
  }
  LATTICE_ASSIGN_OR_RETURN(Container * c, Get(list, ContainerType::kList));
  if (index > c->seq->size()) {
    return absl::OutOfRangeError(
        absl::StrCat("list index ", index, " > length ", c->seq->size()));
  }
  internal::Run run;
  run.id = NextId(1);
  run.len = 1;
  Op op;
  op.kind = Op::Kind::kInsert;
  op.id = run.id;
  op.container = list;
  op.values.push_back(std::move(value));
  c->seq->LocalInsert(index, run, {{}, absl::MakeConstSpan(&op.values[0], 1)});
  op.origin_left = run.origin_left;
  op.origin_right = run.origin_right;
  Emit({list, ChangeEvent::Kind::kInsert, "", index, 1, 0, true});
  RecordLocal(std::move(op));
  return absl::OkStatus();
}

absl::StatusOr<ContainerId> Doc::ListInsertContainer(ContainerId list,
                                                     uint64_t index,
                                                     ContainerType type) {
  LATTICE_ASSIGN_OR_RETURN(Container * c, Get(list, ContainerType::kList));
  if (index > c->seq->size()) {
    return absl::OutOfRangeError(
        absl::StrCat("list index ", index, " > length ", c->seq->size()));
  }
  internal::Run run;
  run.id = NextId(1);
  run.len = 1;
  Op op;
  op.kind = Op::Kind::kInsert;
  op.id = run.id;
  op.container = list;
  op.values.push_back(Value::NewContainer(type));
  c->seq->LocalInsert(index, run, {{}, absl::MakeConstSpan(&op.values[0], 1)});
  op.origin_left = run.origin_left;
  op.origin_right = run.origin_right;
  RegisterContainer(op.id, type);
  Emit({list, ChangeEvent::Kind::kInsert, "", index, 1, 0, true});
  const ContainerId id = op.id;
  RecordLocal(std::move(op));
  return id;
}

// Inline for TextInsert's keystroke path (and TextInsertSlow).
inline void Doc::InsertLocalText(Container& c, ContainerId text, uint64_t index,
                                 std::u32string_view cps) {
  internal::Run run;
  run.id = NextId(cps.size());
  run.len = static_cast<uint32_t>(cps.size());
  c.seq->LocalInsert(index, run, {cps, {}});
  if (observer_)
    Emit({text, ChangeEvent::Kind::kInsert, "", index, run.len, 0, true});
  // Typing continues the previous local op: extend it in place.
  if (!local_ops_.empty()) {
    Op& prev = local_ops_.back();
    if (prev.kind == Op::Kind::kInsert && prev.container == text &&
        prev.end() == run.id.counter &&
        run.origin_left == OpId{replica_, prev.end() - 1} &&
        run.origin_right == prev.origin_right) {
      prev.len += run.len;
      if (cps.size() == 1) {
        prev.text.push_back(cps[0]);
      } else {
        prev.text.append(cps);
      }
      return;
    }
  }
  Op op;
  op.kind = Op::Kind::kInsert;
  op.is_text = true;
  op.id = run.id;
  op.len = run.len;
  op.container = text;
  // Typing will extend it: room for a word or two without regrowing.
  op.text.reserve(std::max<size_t>(cps.size(), 32));
  op.text.append(cps);
  op.origin_left = run.origin_left;
  op.origin_right = run.origin_right;
  local_ops_.push_back(std::move(op));
}

absl::Status Doc::TextInsert(ContainerId text, uint64_t index,
                             absl::string_view utf8) {
  // A keystroke (one ASCII byte) into the text edited last: no decoder, no
  // string, no StatusOr. Everything else (and every error) takes
  // TextInsertSlow.
  Container* c = Cached(text, ContainerType::kText);
  if (c != nullptr && utf8.size() == 1 &&
      static_cast<unsigned char>(utf8[0]) < 0x80 && index <= c->seq->size()) {
    const char32_t keystroke = static_cast<unsigned char>(utf8[0]);
    InsertLocalText(*c, text, index, std::u32string_view(&keystroke, 1));
    return absl::OkStatus();
  }
  return TextInsertSlow(text, index, utf8);
}

absl::Status Doc::TextInsertSlow(ContainerId text, uint64_t index,
                                 absl::string_view utf8) {
  LATTICE_ASSIGN_OR_RETURN(Container * c, Get(text, ContainerType::kText));
  if (index > c->seq->size()) {
    return absl::OutOfRangeError(
        absl::StrCat("text index ", index, " > length ", c->seq->size()));
  }
  const char32_t ascii = static_cast<unsigned char>(utf8.empty() ? 0 : utf8[0]);
  std::u32string decoded;
  std::u32string_view cps(&ascii, 1);
  if (utf8.size() != 1 || ascii >= 0x80) {
    LATTICE_ASSIGN_OR_RETURN(decoded, Utf8ToCodePoints(utf8));
    cps = decoded;
  }
  if (cps.empty()) return absl::OkStatus();
  if (cps.size() > kMaxRunLength)
    return absl::InvalidArgumentError("insert too long");
  InsertLocalText(*c, text, index, cps);
  return absl::OkStatus();
}

absl::Status Doc::TextDelete(ContainerId text, uint64_t index, uint64_t count) {
  Container* c = Cached(text, ContainerType::kText);
  if (c == nullptr) {
    LATTICE_ASSIGN_OR_RETURN(c, Get(text, ContainerType::kText));
  }
  if (index > c->seq->size() || count > c->seq->size() - index) {
    return absl::OutOfRangeError(absl::StrCat("delete [", index, ", +", count,
                                              ") past text length ",
                                              c->seq->size()));
  }
  if (count > 0) DeleteLocal(*c, text, index, count);
  return absl::OkStatus();
}

absl::Status Doc::ListDelete(ContainerId seq, uint64_t index, uint64_t count) {
  Container* c = seq == cached_id_ ? cached_ : nullptr;
  if (c == nullptr) {
    auto it = containers_.find(seq);
    if (it == containers_.end())
      return absl::NotFoundError(absl::StrCat("no container ", IdString(seq)));
    c = it->second.get();
  }
  if (!c->seq) {
    return absl::FailedPreconditionError(
        absl::StrCat("container ", IdString(seq), " is a ",
                     ContainerTypeName(c->type), ", not a sequence"));
  }
  if (index > c->seq->size() || count > c->seq->size() - index) {
    return absl::OutOfRangeError(absl::StrCat(
        "delete [", index, ", +", count, ") past length ", c->seq->size()));
  }
  if (count > 0) DeleteLocal(*c, seq, index, count);
  return absl::OkStatus();
}

void Doc::DeleteLocal(Container& c, ContainerId seq, uint64_t index,
                      uint64_t count) {
  std::vector<std::pair<OpId, uint64_t>>& targets = delete_targets_;
  targets.clear();
  c.seq->LocalDelete(index, count, &targets);
  for (const auto& [target, len] : targets) {
    const OpId id = NextId(len);
    RecordDelete(id, {len, seq, target, false});
    // Backspacing continues the previous local op: extend it in place.
    if (!local_ops_.empty()) {
      Op& prev = local_ops_.back();
      if (prev.kind == Op::Kind::kDelete && prev.container == seq &&
          prev.end() == id.counter &&
          internal::ExtendDelete(prev.target, prev.len, prev.reversed, target,
                                 len, /*op_reversed=*/false)) {
        continue;
      }
    }
    Op op;
    op.kind = Op::Kind::kDelete;
    op.id = id;
    op.len = len;
    op.container = seq;
    op.target = target;
    local_ops_.push_back(std::move(op));
  }
  if (observer_)
    Emit({seq, ChangeEvent::Kind::kDelete, "", index, count, 0, true});
}

absl::Status Doc::CounterAdd(ContainerId counter, int64_t delta) {
  LATTICE_ASSIGN_OR_RETURN(Container * c,
                           Get(counter, ContainerType::kCounter));
  Op op;
  op.kind = Op::Kind::kCounterAdd;
  op.id = NextId(1);
  op.container = counter;
  op.delta = delta;
  c->counter.sum = static_cast<int64_t>(static_cast<uint64_t>(c->counter.sum) +
                                        static_cast<uint64_t>(delta));
  c->counter.adds.emplace_back(op.id, delta);
  Emit({counter, ChangeEvent::Kind::kCounter, "", 0, 0, delta, true});
  RecordLocal(std::move(op));
  return absl::OkStatus();
}

std::string Doc::Commit() {
  if (local_ops_.empty()) return std::string();
  std::string update = internal::EncodeUpdate(local_ops_);
  local_ops_.clear();
  if (observer_ && !events_.empty()) {
    std::vector<ChangeEvent> events;
    events.swap(events_);
    observer_(events);
  }
  return update;
}

void Doc::SetObserver(Observer observer) {
  observer_ = std::move(observer);
  events_.clear();
}

// ---- Remote application
// ------------------------------------------------------

void Doc::RecordDeleteSlow(const OpId& id, const internal::DeleteRecord& d) {
  // Not the record written last (RecordDelete tried it): the record before
  // `id`, usually the last one.
  auto it = deletes_.end();
  if (!deletes_.empty() && std::prev(it)->first < id) {
    --it;
  } else {
    it = deletes_.lower_bound(id);
    if (it == deletes_.begin())
      it = deletes_.end();
    else
      --it;
  }
  if (it != deletes_.end()) {
    internal::DeleteRecord& prev = it->second;
    if (it->first.replica == id.replica &&
        it->first.counter + prev.len == id.counter &&
        prev.container == d.container &&
        internal::ExtendDelete(prev.target, prev.len, prev.reversed, d.target,
                               d.len, d.reversed)) {
      last_delete_id_ = it->first;
      last_delete_ = &prev;
      return;
    }
  }
  it = deletes_
           .emplace(id, internal::DeleteRecord{d.len, d.container, d.target,
                                               d.reversed && d.len > 1})
           .first;
  last_delete_id_ = id;
  last_delete_ = &it->second;
}

absl::Status Doc::ApplyMapSet(const Op& op, bool local) {
  LATTICE_ASSIGN_OR_RETURN(Container * c,
                           Get(op.container, ContainerType::kMap));
  max_lamport_ = std::max(max_lamport_, op.lamport);
  MapEntry entry{op.id, op.lamport, op.value};
  if (op.value.is_container())
    RegisterContainer(op.id, op.value.container_type());
  auto [it, inserted] = c->map.entries.try_emplace(op.key, entry);
  if (!inserted) {
    MapEntry& current = it->second;
    if (!entry.Beats(current)) {
      if (entry.value.is_container())
        c->map.shadows.emplace_back(op.key, std::move(entry));
      return absl::OkStatus();
    }
    if (current.value.is_container())
      c->map.shadows.emplace_back(op.key, std::move(current));
    current = std::move(entry);
  }
  Emit({op.container, ChangeEvent::Kind::kMapKey, op.key, 0, 0, 0, local});
  return absl::OkStatus();
}

absl::Status Doc::ApplyInsert(Op& op) {
  auto it = containers_.find(op.container);
  if (it == containers_.end() || !it->second->seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("insert ", IdString(op.id), ": container ",
                     IdString(op.container), " is not a sequence"));
  }
  Container* c = it->second.get();
  if (!op.deleted && op.is_text != c->seq->is_text()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "insert ", IdString(op.id), ": content does not match container type"));
  }
  if (op.len > kMaxRunLength) {
    return absl::InvalidArgumentError(
        absl::StrCat("insert ", IdString(op.id), ": too long"));
  }
  if (!op.deleted &&
      (op.is_text ? op.text.size() : op.values.size()) != op.len) {
    return absl::InvalidArgumentError(absl::StrCat(
        "insert ", IdString(op.id), ": content length does not match"));
  }
  internal::Run run;
  run.id = op.id;
  run.len = static_cast<uint32_t>(op.len);
  run.deleted = op.deleted;
  run.origin_left = op.origin_left;
  run.origin_right = op.origin_right;
  uint64_t index = 0;
  LATTICE_RETURN_IF_ERROR(c->seq->Integrate(run, {op.text, op.values},
                                            observer_ ? &index : nullptr));
  // Only once integrated: a refused insert must leave no container behind.
  for (uint64_t i = 0; i < op.values.size(); ++i) {
    if (op.values[i].is_container()) {
      RegisterContainer({op.id.replica, op.id.counter + i},
                        op.values[i].container_type());
    }
  }
  if (!op.deleted)
    Emit({op.container, ChangeEvent::Kind::kInsert, "", index, op.len, 0,
          false});
  return absl::OkStatus();
}

absl::Status Doc::ApplyDelete(const Op& op) {
  auto it = containers_.find(op.container);
  if (it == containers_.end() || !it->second->seq) {
    return absl::InvalidArgumentError(
        absl::StrCat("delete ", IdString(op.id), ": container ",
                     IdString(op.container), " is not a sequence"));
  }
  std::function<void(uint64_t, uint64_t)> on_deleted;
  if (observer_) {
    on_deleted = [&](uint64_t index, uint64_t n) {
      Emit({op.container, ChangeEvent::Kind::kDelete, "", index, n, 0, false});
    };
  }
  LATTICE_RETURN_IF_ERROR(
      it->second->seq->DeleteIds(op.target, op.len, on_deleted));
  RecordDelete(op.id, {op.len, op.container, op.target, op.reversed});
  return absl::OkStatus();
}

absl::Status Doc::ApplyRemoteOp(Op& op) {
  switch (op.kind) {
    case Op::Kind::kSkip:
      break;
    case Op::Kind::kInsert:
      LATTICE_RETURN_IF_ERROR(ApplyInsert(op));
      break;
    case Op::Kind::kDelete:
      LATTICE_RETURN_IF_ERROR(ApplyDelete(op));
      break;
    case Op::Kind::kMapSet: {
      if (!IsValidUtf8(op.key)) {
        return absl::InvalidArgumentError(absl::StrCat(
            "map set ", IdString(op.id), ": key is not valid utf-8"));
      }
      absl::Status s = ApplyMapSet(op, /*local=*/false);
      if (!s.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("map set ", IdString(op.id), ": ", s.message()));
      }
      break;
    }
    case Op::Kind::kCounterAdd: {
      auto c = Get(op.container, ContainerType::kCounter);
      if (!c.ok()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "counter add ", IdString(op.id), ": ", c.status().message()));
      }
      (*c)->counter.sum =
          static_cast<int64_t>(static_cast<uint64_t>((*c)->counter.sum) +
                               static_cast<uint64_t>(op.delta));
      (*c)->counter.adds.emplace_back(op.id, op.delta);
      Emit({op.container, ChangeEvent::Kind::kCounter, "", 0, 0, op.delta,
            false});
      break;
    }
  }
  version_.Advance(op.id.replica, op.end());
  return absl::OkStatus();
}

bool Doc::DepsReady(const Op& op) const {
  if (op.kind == Op::Kind::kSkip) return true;
  if (!containers_.contains(op.container)) return false;
  switch (op.kind) {
    case Op::Kind::kInsert:
      return (op.origin_left.replica == 0 ||
              version_.Contains(op.origin_left)) &&
             (op.origin_right.replica == 0 ||
              version_.Contains(op.origin_right));
    case Op::Kind::kDelete:
      return version_.Get(op.target.replica) >= op.target.counter + op.len;
    default:
      return true;
  }
}

// Drops the first `n` ids of `op` (already applied).
static void TrimFront(Op& op, uint64_t n) {
  if (n == 0) return;
  switch (op.kind) {
    case Op::Kind::kInsert:
      op.origin_left = {op.id.replica, op.id.counter + n - 1};
      if (!op.text.empty()) op.text.erase(0, n);
      if (!op.values.empty())
        op.values.erase(op.values.begin(),
                        op.values.begin() + static_cast<ptrdiff_t>(n));
      break;
    case Op::Kind::kDelete:
      if (!op.reversed) op.target.counter += n;
      break;
    default:
      break;
  }
  op.id.counter += n;
  op.len -= n;
}

absl::Status Doc::DrainPending(uint64_t batch, ApplyResult* result) {
  bool progress = true;
  while (progress) {
    progress = false;
    for (auto rit = pending_.begin(); rit != pending_.end();) {
      auto& queue = rit->second;
      const ReplicaId replica = rit->first;
      while (!queue.empty()) {
        auto first = queue.begin();
        const uint64_t have = version_.Get(replica);
        if (first->first > have) break;  // a gap: wait for earlier ops
        Op& op = first->second.op;
        if (op.end() <= have) {  // a duplicate
          queue.erase(first);
          --pending_count_;
          continue;
        }
        TrimFront(op, have - op.id.counter);
        if (!DepsReady(op)) break;
        absl::Status s = ApplyRemoteOp(op);
        queue.erase(first);
        --pending_count_;
        if (!s.ok()) {
          // Drop the rest of the offending update; keep what others sent.
          for (auto& [r, q] : pending_) {
            for (auto it = q.begin(); it != q.end();) {
              if (it->second.batch == batch) {
                it = q.erase(it);
                --pending_count_;
              } else {
                ++it;
              }
            }
          }
          return s;
        }
        ++result->ops_applied;
        progress = true;
      }
      if (queue.empty()) {
        rit = pending_.erase(rit);
      } else {
        ++rit;
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<ApplyResult> Doc::ApplyUpdate(absl::string_view update) {
  LATTICE_CHECK(local_ops_.empty()) << "ApplyUpdate with uncommitted local ops";
  LATTICE_ASSIGN_OR_RETURN(std::vector<Op> ops, internal::DecodeUpdate(update));
  uint64_t fresh = 0;
  for (const Op& op : ops) {
    if (op.end() > version_.Get(op.id.replica)) ++fresh;
  }
  if (pending_count_ + fresh > options_.max_pending_ops) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "pending buffer full: ", pending_count_, " ops waiting, update brings ",
        fresh, " (limit ", options_.max_pending_ops, ")"));
  }
  const uint64_t batch = ++batch_counter_;
  for (Op& op : ops) {
    if (op.end() <= version_.Get(op.id.replica)) continue;
    auto& queue = pending_[op.id.replica];
    auto it = queue.find(op.id.counter);
    if (it == queue.end()) {
      queue.emplace(op.id.counter, PendingOp{std::move(op), batch});
      ++pending_count_;
    } else if (op.end() > it->second.op.end()) {
      // A longer version of an op we hold (e.g. a run that grew): keep it.
      it->second = PendingOp{std::move(op), batch};
    }
  }
  ApplyResult result;
  absl::Status s = DrainPending(batch, &result);
  result.ops_pending = pending_count_;
  if (observer_ && !events_.empty()) {
    std::vector<ChangeEvent> events;
    events.swap(events_);
    observer_(events);
  }
  if (!s.ok()) return s;
  return result;
}

uint64_t Doc::pending_ops() const { return pending_count_; }

std::string Doc::PendingDebugString() const {
  std::string out;
  for (const auto& [replica, queue] : pending_) {
    for (const auto& [counter, p] : queue) {
      absl::StrAppend(&out, replica, ":", counter, "+", p.op.len, " kind ",
                      static_cast<int>(p.op.kind), " (have ",
                      version_.Get(replica), ")\n");
    }
  }
  return out;
}

}  // namespace lattice::crdt
