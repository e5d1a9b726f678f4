// Presence::ToJson: the room's presence for the HTTP API.
#include <string>

#include "crdt/internal/json.h"
#include "crdt/presence.h"

#include "absl/strings/str_cat.h"

namespace lattice::crdt {

using internal::AppendJsonDouble;
using internal::AppendJsonString;

namespace {

void AppendId(const OpId& id, std::string* out) {
  AppendJsonString(absl::StrCat(id.replica, ":", id.counter), out);
}

void AppendCursor(const Cursor& c, std::string* out) {
  if (const auto* p = std::get_if<Point>(&c)) {
    *out += "{\"x\":";
    AppendJsonDouble(p->x, out);
    *out += ",\"y\":";
    AppendJsonDouble(p->y, out);
    out->push_back('}');
    return;
  }
  const auto& a = std::get<TextAnchor>(c);
  *out += "{\"doc\":";
  AppendJsonString(a.doc, out);
  *out += ",\"container\":";
  AppendId(a.container, out);
  if (a.element) {
    *out += ",\"element\":";
    AppendId(*a.element, out);
  }
  absl::StrAppend(out, ",\"index\":", a.index, "}");
}

void AppendEntry(const PresenceEntry& e, std::string* out) {
  *out += "{\"user\":";
  AppendJsonString(e.identity.user_id, out);
  *out += ",\"display\":{";
  bool first = true;
  for (const auto& [k, v] : e.identity.display) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(k, out);
    out->push_back(':');
    AppendJsonString(v, out);
  }
  *out += "},\"status\":";
  AppendJsonString(PresenceStatusName(e.status), out);
  if (e.cursor) {
    *out += ",\"cursor\":";
    AppendCursor(*e.cursor, out);
  }
  if (e.selection) {
    *out += ",\"selection\":{\"anchor\":";
    AppendCursor(e.selection->anchor, out);
    *out += ",\"head\":";
    AppendCursor(e.selection->head, out);
    out->push_back('}');
  }
  if (e.typing) {
    *out += ",\"typing\":{\"doc\":";
    AppendJsonString(e.typing->doc, out);
    absl::StrAppend(out, ",\"expires_at_ms\":",
                    absl::ToUnixMillis(e.typing->expires_at), "}");
  }
  *out += ",\"app\":{";
  first = true;
  for (const auto& [k, v] : e.app) {
    if (!first) out->push_back(',');
    first = false;
    AppendJsonString(k, out);
    out->push_back(':');
    internal::AppendJsonScalar(v, out);
  }
  absl::StrAppend(out, "},\"clock\":", e.clock, "}");
}

}  // namespace

absl::string_view PresenceStatusName(PresenceStatus status) {
  switch (status) {
    case PresenceStatus::kOnline:
      return "online";
    case PresenceStatus::kAway:
      return "away";
    case PresenceStatus::kBusy:
      return "busy";
    case PresenceStatus::kOffline:
      return "offline";
  }
  return "unknown";
}

std::string Presence::ToJson() const {
  std::string out = "{";
  bool first = true;
  for (const PresenceEntry& e : Entries()) {
    if (!first) out.push_back(',');
    first = false;
    AppendJsonString(e.session, &out);
    out.push_back(':');
    AppendEntry(e, &out);
  }
  out.push_back('}');
  return out;
}

}  // namespace lattice::crdt
