// Presence: local writes, merging, expiry, change tracking and reading.
// The encoders live in presence_encoding.cc, ToJson in presence_json.cc.
#include "crdt/presence.h"

#include <algorithm>
#include <utility>

#include "base/logging.h"
#include "base/status_macros.h"
#include "crdt/internal/presence_codec.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::FieldKey;
using internal::FieldTag;
using internal::FieldValue;
using internal::Register;
using internal::Stamp;

namespace {

// True when `in` beats `cur`: a higher stamp, or under one stamp (only a
// buggy writer reuses one) the higher encoded value, so replicas agree.
bool Wins(const Register& in, const Register& cur) {
  if (in.stamp != cur.stamp) return cur.stamp < in.stamp;
  return internal::EncodeRegisterValue(cur.value) <
         internal::EncodeRegisterValue(in.value);
}

uint32_t FieldBit(FieldTag tag) {
  return 1u << (static_cast<uint8_t>(tag) - 1);
}

size_t AppRegisters(const internal::SessionRecord& r) {
  return static_cast<size_t>(std::count_if(
      r.fields.begin(), r.fields.end(),
      [](const auto& f) { return f.first.tag == FieldTag::kApp; }));
}

}  // namespace

Presence::Presence(ReplicaId writer, PresenceLimits limits)
    : writer_(writer), limits_(std::move(limits)) {
  LATTICE_CHECK(writer != 0) << "presence writer 0 is reserved";
}

size_t Presence::TrimClearedApp(Record& r, size_t max) {
  size_t total = AppRegisters(r);
  while (total > max) {
    auto oldest = r.fields.end();
    for (auto it = r.fields.begin(); it != r.fields.end(); ++it) {
      if (it->first.tag != FieldTag::kApp || it->second.value) continue;
      if (oldest == r.fields.end() || it->second.stamp < oldest->second.stamp) {
        oldest = it;
      }
    }
    if (oldest == r.fields.end()) return total - max;
    r.fields.erase(oldest);
    --total;
  }
  return 0;
}

absl::StatusOr<Presence::Record*> Presence::Live(absl::string_view session) {
  auto it = records_.find(session);
  if (it == records_.end() || !it->second.live()) {
    return absl::NotFoundError(
        absl::StrCat("presence: no live session \"", session, "\""));
  }
  return &it->second;
}

void Presence::WriteField(Record& r, FieldKey key,
                          std::optional<FieldValue> value) {
  Register& reg = r.fields[std::move(key)];
  reg.stamp = Stamp{++r.clock, writer_};
  reg.value = std::move(value);
  reg.generation = ++generation_;
  r.changed_generation = reg.generation;
}

absl::Status Presence::Write(absl::string_view session, FieldKey key,
                             std::optional<FieldValue> value, absl::Time now) {
  if (value) {
    LATTICE_RETURN_IF_ERROR(internal::CheckFieldValue(key, *value, limits_));
  }
  LATTICE_ASSIGN_OR_RETURN(Record * r, Live(session));
  r->last_seen = now;
  auto it = r->fields.find(key);
  if (it == r->fields.end() ? !value : it->second.value == value) {
    return absl::OkStatus();
  }
  if (key.tag == FieldTag::kApp && it == r->fields.end()) {
    // A new app register: make room among the cleared ones first.
    if (limits_.max_app_fields == 0 ||
        TrimClearedApp(*r, limits_.max_app_fields - 1) > 0) {
      return absl::ResourceExhaustedError(
          absl::StrCat("presence: session \"", session, "\" has ",
                       limits_.max_app_fields, " app fields, the limit"));
    }
  }
  WriteField(*r, std::move(key), std::move(value));
  return absl::OkStatus();
}

absl::Status Presence::Join(absl::string_view session, Identity identity,
                            absl::Time now) {
  LATTICE_RETURN_IF_ERROR(internal::CheckSessionId(session, limits_));
  const FieldKey id_key{FieldTag::kIdentity, ""};
  FieldValue id_value(std::move(identity));
  LATTICE_RETURN_IF_ERROR(internal::CheckFieldValue(id_key, id_value, limits_));
  auto it = records_.find(session);
  if (it == records_.end() || !it->second.live()) {
    if (live_ >= limits_.max_entries) {
      return absl::ResourceExhaustedError(
          absl::StrCat("presence: ", live_, " sessions, the limit"));
    }
    if (it == records_.end()) {
      it = records_.emplace(std::string(session), Record()).first;
    }
    ++live_;
    // Both fields in one generation: a joining entry is one change.
    Record& r = it->second;
    r.last_seen = now;
    const uint64_t g = ++generation_;
    r.changed_generation = g;
    auto put = [&](FieldKey key, FieldValue value) {
      Register& reg = r.fields[std::move(key)];
      reg.stamp = Stamp{++r.clock, writer_};
      reg.value = std::move(value);
      reg.generation = g;
    };
    put(id_key, std::move(id_value));
    put(FieldKey{FieldTag::kStatus, ""}, FieldValue(PresenceStatus::kOnline));
    return absl::OkStatus();
  }
  LATTICE_RETURN_IF_ERROR(Write(session, id_key, std::move(id_value), now));
  return Write(session, FieldKey{FieldTag::kStatus, ""},
               FieldValue(PresenceStatus::kOnline), now);
}

void Presence::Remove(Record& r, absl::Time now) {
  r.removed = Stamp{++r.clock, writer_};
  r.removed_generation = ++generation_;
  r.changed_generation = r.removed_generation;
  r.removed_at = now;
  r.fields.clear();
  --live_;
}

absl::Status Presence::Leave(absl::string_view session, absl::Time now) {
  LATTICE_ASSIGN_OR_RETURN(Record * r, Live(session));
  Remove(*r, now);
  DropOldTombstones(now);
  return absl::OkStatus();
}

absl::Status Presence::Touch(absl::string_view session, absl::Time now) {
  LATTICE_ASSIGN_OR_RETURN(Record * r, Live(session));
  r->last_seen = std::max(r->last_seen, now);
  return absl::OkStatus();
}

absl::Status Presence::SetStatus(absl::string_view session,
                                 PresenceStatus status, absl::Time now) {
  return Write(session, {FieldTag::kStatus, ""}, FieldValue(status), now);
}

absl::Status Presence::SetCursor(absl::string_view session, Cursor cursor,
                                 absl::Time now) {
  return Write(session, {FieldTag::kCursor, ""}, FieldValue(std::move(cursor)),
               now);
}

absl::Status Presence::ClearCursor(absl::string_view session, absl::Time now) {
  return Write(session, {FieldTag::kCursor, ""}, std::nullopt, now);
}

absl::Status Presence::SetSelection(absl::string_view session,
                                    Selection selection, absl::Time now) {
  return Write(session, {FieldTag::kSelection, ""},
               FieldValue(std::move(selection)), now);
}

absl::Status Presence::ClearSelection(absl::string_view session,
                                      absl::Time now) {
  return Write(session, {FieldTag::kSelection, ""}, std::nullopt, now);
}

absl::Status Presence::StartTyping(absl::string_view session,
                                   absl::string_view doc, absl::Time now) {
  return Write(
      session, {FieldTag::kTyping, ""},
      FieldValue(Typing{std::string(doc), now + limits_.typing_timeout}), now);
}

absl::Status Presence::StopTyping(absl::string_view session, absl::Time now) {
  return Write(session, {FieldTag::kTyping, ""}, std::nullopt, now);
}

absl::Status Presence::StopTypingIn(absl::string_view session,
                                    absl::string_view doc, absl::Time now) {
  LATTICE_ASSIGN_OR_RETURN(Record * r, Live(session));
  auto it = r->fields.find(FieldKey{FieldTag::kTyping, ""});
  if (it == r->fields.end() || !it->second.value ||
      std::get<Typing>(*it->second.value).doc != doc) {
    r->last_seen = now;
    return absl::OkStatus();
  }
  return StopTyping(session, now);
}

absl::Status Presence::SetAppField(absl::string_view session,
                                   absl::string_view key, Value value,
                                   absl::Time now) {
  LATTICE_RETURN_IF_ERROR(internal::CheckAppKey(key, limits_));
  return Write(session, {FieldTag::kApp, std::string(key)},
               FieldValue(std::move(value)), now);
}

absl::Status Presence::DeleteAppField(absl::string_view session,
                                      absl::string_view key, absl::Time now) {
  LATTICE_RETURN_IF_ERROR(internal::CheckAppKey(key, limits_));
  return Write(session, {FieldTag::kApp, std::string(key)}, std::nullopt, now);
}

std::vector<std::string> Presence::Expire(absl::Time now) {
  std::vector<std::string> removed;
  const FieldKey typing_key{FieldTag::kTyping, ""};
  for (auto& [session, r] : records_) {
    if (!r.live()) continue;
    if (now - r.last_seen >= limits_.entry_ttl) {
      Remove(r, now);
      removed.push_back(session);
      continue;
    }
    auto it = r.fields.find(typing_key);
    if (it != r.fields.end() && it->second.value &&
        std::get<Typing>(*it->second.value).expires_at <= now) {
      WriteField(r, typing_key, std::nullopt);
    }
  }
  DropOldTombstones(now);
  return removed;
}

size_t Presence::Reassert(absl::string_view prefix) {
  size_t reasserted = 0;
  for (auto it = records_.lower_bound(prefix);
       it != records_.end() && absl::StartsWith(it->first, prefix); ++it) {
    Record& r = it->second;
    if (!r.live()) continue;
    ++r.clock;  // the skipped tick (see presence.h)
    const uint64_t g = ++generation_;
    for (auto& [key, reg] : r.fields) {
      reg.stamp = Stamp{++r.clock, writer_};
      reg.generation = g;
    }
    r.changed_generation = g;
    ++reasserted;
  }
  return reasserted;
}

Presence::RecordMap::iterator Presence::DropRecord(RecordMap::iterator it) {
  horizon_ = std::max(horizon_, it->second.removed_generation);
  return records_.erase(it);
}

void Presence::DropOldTombstones(absl::Time now) {
  for (auto it = records_.begin(); it != records_.end();) {
    if (!it->second.live() &&
        now - it->second.removed_at >= limits_.tombstone_ttl) {
      it = DropRecord(it);
    } else {
      ++it;
    }
  }
  size_t excess = tombstones() > limits_.max_tombstones
                      ? tombstones() - limits_.max_tombstones
                      : 0;
  if (excess == 0) return;
  // The oldest removals first (ties: session byte order).
  std::vector<std::pair<uint64_t, std::string>> order;
  for (const auto& [session, r] : records_) {
    if (!r.live()) order.emplace_back(r.removed_generation, session);
  }
  std::sort(order.begin(), order.end());
  for (size_t i = 0; i < excess; ++i) {
    DropRecord(records_.find(order[i].second));
  }
}

bool Presence::Merge(Record& r, const Stamp& removed,
                     std::vector<std::pair<FieldKey, Register>>& fields,
                     absl::Time now) {
  const uint64_t g = generation_ + 1;
  bool changed = false;
  if (r.removed < removed) {
    r.removed = removed;
    r.removed_generation = g;
    r.changed_generation = g;
    r.removed_at = now;
    r.clock = std::max(r.clock, removed.clock);
    for (auto it = r.fields.begin(); it != r.fields.end();) {
      if (it->second.stamp <= r.removed) {
        it = r.fields.erase(it);
      } else {
        ++it;
      }
    }
    changed = true;
  }
  for (auto& [key, in] : fields) {
    if (in.stamp <= r.removed) continue;
    r.clock = std::max(r.clock, in.stamp.clock);
    auto it = r.fields.find(key);
    if (it != r.fields.end() && !Wins(in, it->second)) continue;
    Register& reg = r.fields[key];
    reg.stamp = in.stamp;
    reg.value = std::move(in.value);
    reg.generation = g;
    r.changed_generation = g;
    changed = true;
  }
  if (r.live()) r.last_seen = now;  // heard from, through its writer
  return changed;
}

std::vector<SessionChange> Presence::ChangesSince(uint64_t since) const {
  std::vector<SessionChange> out;
  for (const auto& [session, r] : records_) {
    if (r.changed_generation <= since) continue;
    SessionChange c;
    if (!r.live()) {
      if (r.removed_generation <= since) continue;
      c.session = session;
      c.removed = true;
      out.push_back(std::move(c));
      continue;
    }
    for (const auto& [key, reg] : r.fields) {
      if (reg.generation <= since) continue;
      c.fields |= FieldBit(key.tag);
      if (key.tag == FieldTag::kApp) c.app_keys.push_back(key.app_key);
    }
    if (c.fields == 0) continue;
    c.session = session;
    out.push_back(std::move(c));
  }
  return out;
}

PresenceEntry Presence::ToEntry(const std::string& session,
                                const Record& r) const {
  PresenceEntry e;
  e.session = session;
  e.clock = r.clock;
  for (const auto& [key, reg] : r.fields) {
    if (!reg.value) continue;
    switch (key.tag) {
      case FieldTag::kIdentity:
        e.identity = std::get<Identity>(*reg.value);
        break;
      case FieldTag::kStatus:
        e.status = std::get<PresenceStatus>(*reg.value);
        break;
      case FieldTag::kCursor:
        e.cursor = std::get<Cursor>(*reg.value);
        break;
      case FieldTag::kSelection:
        e.selection = std::get<Selection>(*reg.value);
        break;
      case FieldTag::kTyping:
        e.typing = std::get<Typing>(*reg.value);
        break;
      case FieldTag::kApp:
        e.app.emplace(key.app_key, std::get<Value>(*reg.value));
        break;
    }
  }
  return e;
}

std::optional<PresenceEntry> Presence::Get(absl::string_view session) const {
  auto it = records_.find(session);
  if (it == records_.end() || !it->second.live()) return std::nullopt;
  return ToEntry(it->first, it->second);
}

std::optional<Value> Presence::GetAppField(absl::string_view session,
                                           absl::string_view key) const {
  auto it = records_.find(session);
  if (it == records_.end() || !it->second.live()) return std::nullopt;
  auto field = it->second.fields.find(
      internal::FieldKey{FieldTag::kApp, std::string(key)});
  if (field == it->second.fields.end() || !field->second.value) {
    return std::nullopt;
  }
  return std::get<Value>(*field->second.value);
}

std::vector<PresenceEntry> Presence::Entries() const {
  std::vector<PresenceEntry> out;
  out.reserve(live_);
  for (const auto& [session, r] : records_) {
    if (r.live()) out.push_back(ToEntry(session, r));
  }
  return out;
}

void Presence::CheckInvariants() const {
  size_t live = 0;
  for (const auto& [session, r] : records_) {
    LATTICE_CHECK(internal::CheckSessionId(session, limits_).ok()) << session;
    if (r.live()) {
      ++live;
    } else {
      LATTICE_CHECK(!r.removed.empty()) << session << ": empty record";
      LATTICE_CHECK(r.removed_generation <= generation_) << session;
    }
    LATTICE_CHECK(r.removed.clock <= r.clock) << session;
    LATTICE_CHECK(r.removed_generation <= r.changed_generation) << session;
    LATTICE_CHECK(r.changed_generation <= generation_) << session;
    for (const auto& [key, reg] : r.fields) {
      LATTICE_CHECK(reg.generation <= r.changed_generation) << session;
      LATTICE_CHECK(r.removed < reg.stamp)
          << session << ": field below removal";
      LATTICE_CHECK(reg.stamp.clock <= r.clock) << session;
      LATTICE_CHECK(reg.generation <= generation_) << session;
      LATTICE_CHECK(key.tag == FieldTag::kApp || key.app_key.empty());
      if (reg.value) {
        LATTICE_CHECK(internal::TagOf(*reg.value) == key.tag) << session;
      }
    }
    LATTICE_CHECK(AppRegisters(r) <= limits_.max_app_fields) << session;
  }
  LATTICE_CHECK(live == live_) << live << " live, counted " << live_;
  LATTICE_CHECK(live_ <= limits_.max_entries);
  LATTICE_CHECK(tombstones() <= limits_.max_tombstones);
  LATTICE_CHECK(horizon_ <= generation_);
}

}  // namespace lattice::crdt
