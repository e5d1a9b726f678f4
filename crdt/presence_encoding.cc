// Presence: deltas, states and their application (format in
// crdt/internal/presence_codec.h and docs/crdt.md, "Presence format 1").
#include <algorithm>
#include <utility>

#include "base/status_macros.h"
#include "crdt/internal/presence_codec.h"
#include "crdt/presence.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::DecodedPresence;
using internal::FieldTag;
using internal::PresenceMessageKind;
using internal::SessionView;

absl::Status Presence::CheckAppCount(const std::string& session,
                                     Record& r) const {
  const size_t over = TrimClearedApp(r, limits_.max_app_fields);
  if (over > 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("presence: session \"", session, "\" would have ",
                     limits_.max_app_fields + over, " app fields, limit ",
                     limits_.max_app_fields));
  }
  return absl::OkStatus();
}

std::string Presence::Encode(bool state, uint64_t since,
                             absl::string_view prefix, size_t* sessions) const {
  std::vector<SessionView> views;
  // Ids are ordered bytewise, so a prefix's sessions are one range.
  for (auto it = records_.lower_bound(prefix);
       it != records_.end() && absl::StartsWith(it->first, prefix); ++it) {
    const Record& r = it->second;
    SessionView v;
    v.session = &it->first;
    if (state || r.removed_generation > since) v.removed = r.removed;
    for (const auto& [key, reg] : r.fields) {
      if (state || reg.generation > since) v.fields.emplace_back(&key, &reg);
    }
    if (v.removed.empty() && v.fields.empty()) continue;
    views.push_back(std::move(v));
  }
  if (sessions != nullptr) *sessions = views.size();
  return internal::EncodePresence(
      state ? PresenceMessageKind::kState : PresenceMessageKind::kDelta, views);
}

std::string Presence::EncodeDelta(uint64_t since) const {
  if (since >= generation_) {
    return internal::EncodePresence(PresenceMessageKind::kDelta, {});
  }
  if (since < horizon_) return EncodeState();
  return Encode(/*state=*/false, since, /*prefix=*/"");
}

std::string Presence::EncodeSessions(uint64_t since,
                                     absl::string_view prefix) const {
  size_t sessions = 0;
  std::string message = Encode(/*state=*/false, since, prefix, &sessions);
  return sessions == 0 ? "" : message;
}

std::string Presence::EncodeState() const {
  return Encode(/*state=*/true, 0, /*prefix=*/"");
}

absl::Status Presence::ApplyDelta(absl::string_view bytes, absl::Time now) {
  LATTICE_ASSIGN_OR_RETURN(DecodedPresence msg,
                           internal::DecodePresence(bytes, limits_));
  // Merge into copies first, so that a limit refuses the whole message.
  absl::btree_map<std::string, Record> staged;
  bool changed = false;
  size_t live_after = live_;
  for (internal::DecodedSession& s : msg.sessions) {
    auto it = records_.find(s.session);
    Record r = it == records_.end() ? Record() : it->second;
    const bool was_live = r.live();
    if (Merge(r, s.removed, s.fields, now)) changed = true;
    LATTICE_RETURN_IF_ERROR(CheckAppCount(s.session, r));
    if (was_live != r.live()) {
      if (r.live()) {
        ++live_after;
      } else {
        --live_after;
      }
    }
    staged.emplace(std::move(s.session), std::move(r));
  }
  // A state names every session its sender keeps.
  std::vector<std::string> unnamed;
  if (msg.kind == PresenceMessageKind::kState) {
    for (const auto& [session, r] : records_) {
      if (r.live() && !staged.contains(session)) unnamed.push_back(session);
    }
    live_after -= unnamed.size();
  }
  if (live_after > limits_.max_entries) {
    return absl::ResourceExhaustedError(
        absl::StrCat("presence: applying would make ", live_after,
                     " sessions, limit ", limits_.max_entries));
  }
  for (auto& [session, r] : staged) records_[session] = std::move(r);
  if (changed) ++generation_;
  live_ = live_after + unnamed.size();
  for (const std::string& session : unnamed) Remove(records_[session], now);
  DropOldTombstones(now);
  return absl::OkStatus();
}

absl::Status Presence::LoadState(absl::string_view bytes, absl::Time now) {
  LATTICE_ASSIGN_OR_RETURN(DecodedPresence msg,
                           internal::DecodePresence(bytes, limits_));
  if (msg.kind != PresenceMessageKind::kState) {
    return absl::InvalidArgumentError(
        "decode presence: expected a state, got a delta at byte 1");
  }
  absl::btree_map<std::string, Record> loaded;
  size_t live = 0;
  for (internal::DecodedSession& s : msg.sessions) {
    Record r;
    Merge(r, s.removed, s.fields, now);
    LATTICE_RETURN_IF_ERROR(CheckAppCount(s.session, r));
    r.removed_at = now;
    r.last_seen = now;
    if (r.live()) ++live;
    loaded.emplace(std::move(s.session), std::move(r));
  }
  if (live > limits_.max_entries) {
    return absl::ResourceExhaustedError(absl::StrCat("presence: state has ",
                                                     live, " sessions, limit ",
                                                     limits_.max_entries));
  }
  records_ = std::move(loaded);
  live_ = live;
  // Every member must start again from this state.
  horizon_ = ++generation_;
  DropOldTombstones(now);
  return absl::OkStatus();
}

}  // namespace lattice::crdt
