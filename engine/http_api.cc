#include "engine/http_api.h"

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>
#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "base/logging.h"
#include "base/utf8.h"
#include "engine/json_edit.h"
#include "engine/protocol/frames.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace lattice::engine {
namespace {

using nlohmann::json;

// Deepest JSON nesting accepted in a body. Checked on the raw text before
// parsing, so that nothing recursive (msgpack conversion, value checks)
// meets a body of a million brackets.
constexpr int kMaxJsonDepth = 64;

net::HttpResponse Json(int status, const json& body) {
  return net::HttpResponse{
      status, "application/json",
      body.dump(-1, ' ', false, json::error_handler_t::replace) + "\n"};
}

bool NestsDeeperThan(absl::string_view text, int max) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > max) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

// The body as a JSON object, or the 400 to answer.
absl::StatusOr<json> ParseBody(const std::string& body) {
  if (NestsDeeperThan(body, kMaxJsonDepth)) {
    return absl::InvalidArgumentError(
        absl::StrCat("body nests deeper than ", kMaxJsonDepth));
  }
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    return absl::InvalidArgumentError("body is not valid JSON");
  }
  return j;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Percent-decodes one path segment ("team%2Fred" -> "team/red").
absl::StatusOr<std::string> Unescape(absl::string_view segment) {
  std::string out;
  out.reserve(segment.size());
  for (size_t i = 0; i < segment.size(); ++i) {
    if (segment[i] != '%') {
      out += segment[i];
      continue;
    }
    const bool complete = i + 2 < segment.size();
    const int hi = complete ? HexValue(segment[i + 1]) : -1;
    const int lo = complete ? HexValue(segment[i + 2]) : -1;
    if (hi < 0 || lo < 0) {
      return absl::InvalidArgumentError("bad percent-encoding in the path");
    }
    out += static_cast<char>(hi * 16 + lo);
    i += 2;
  }
  return out;
}

// Room, document, user and event names follow the protocol's name rule.
absl::Status CheckName(absl::string_view what, const std::string& name) {
  const uint64_t max = protocol::DecodeLimits{}.max_name_bytes;
  if (name.empty() || name.size() > max || !IsValidUtf8(name)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " must be 1 to ", max, " bytes of UTF-8"));
  }
  return absl::OkStatus();
}

std::string Digest(absl::string_view s) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

// Compares digests so that the time taken depends on neither the key's
// length nor how much of it matched.
bool KeyMatches(absl::string_view given, const std::string& key) {
  const std::string a = Digest(given);
  const std::string b = Digest(key);
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

const std::vector<HttpApi::Route>& HttpApi::Routes() {
  // A new endpoint is one row here.
  static const std::vector<Route> routes = {
      {"GET", "/v1/rooms", &HttpApi::GetRooms},
      {"GET", "/v1/rooms/{}/presence", &HttpApi::GetPresence},
      {"POST", "/v1/rooms/{}/events", &HttpApi::PostRoomEvent},
      {"GET", "/v1/rooms/{}/docs/{}", &HttpApi::GetDoc},
      {"POST", "/v1/rooms/{}/docs/{}/changes", &HttpApi::PostChanges},
      {"POST", "/v1/users/{}/events", &HttpApi::PostUserEvent},
      {"POST", "/v1/users/{}/revoke", &HttpApi::PostRevoke},
  };
  return routes;
}

HttpApi::HttpApi(SyncServer& sync, HttpApiOptions options)
    : sync_(sync),
      options_(std::move(options)),
      open_(options_.api_key.empty() && sync.engine_options().anonymous) {
  if (open_) {
    LATTICE_LOG(kWarning) << "ANONYMOUS MODE: the backend HTTP API (/v1/) "
                             "is open without an API key";
  }
}

bool HttpApi::Handles(absl::string_view target) {
  return absl::StartsWith(target, "/v1/") || target == "/v1";
}

std::unique_ptr<net::HttpResponse> HttpApi::CheckAuth(
    const net::HttpRequest& request) const {
  if (open_) return nullptr;
  if (options_.api_key.empty()) {
    return std::make_unique<net::HttpResponse>(net::JsonError(
        403, "api_disabled",
        "the backend API needs a key: start the server with --api_key_file"));
  }
  constexpr absl::string_view kBearer = "Bearer ";
  if (!absl::StartsWith(request.authorization, kBearer)) {
    return std::make_unique<net::HttpResponse>(
        net::JsonError(401, "unauthenticated",
                       "send the API key as \"Authorization: Bearer <key>\""));
  }
  if (!KeyMatches(
          absl::string_view(request.authorization).substr(kBearer.size()),
          options_.api_key)) {
    return std::make_unique<net::HttpResponse>(
        net::JsonError(403, "forbidden", "wrong API key"));
  }
  return nullptr;
}

void HttpApi::Handle(net::HttpRequest request, net::HttpRespond respond) const {
  if (auto refused = CheckAuth(request)) return respond(std::move(*refused));
  absl::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  const std::vector<absl::string_view> segments = absl::StrSplit(path, '/');
  bool path_matched = false;
  for (const Route& route : Routes()) {
    const std::vector<absl::string_view> pattern =
        absl::StrSplit(route.pattern, '/');
    if (pattern.size() != segments.size()) continue;
    std::vector<std::string> params;
    bool match = true;
    for (size_t i = 0; i < pattern.size() && match; ++i) {
      if (pattern[i] != "{}") {
        match = pattern[i] == segments[i];
        continue;
      }
      auto param = Unescape(segments[i]);
      if (!param.ok()) {
        return respond(
            net::JsonError(400, "bad_path", param.status().message()));
      }
      params.push_back(*std::move(param));
    }
    if (!match) continue;
    path_matched = true;
    if (request.method != route.method) continue;
    auto call = std::make_shared<Call>(
        Call{std::move(request), std::move(params), std::move(respond)});
    // nlohmann throws only on misuse (a type mismatch we failed to check):
    // answer 500 rather than let it reach the transport.
    try {
      (this->*route.handler)(call);
    } catch (const json::exception& e) {
      LATTICE_LOG(kError) << "http api: " << e.what();
      call->respond(net::JsonError(500, "internal", "internal error"));
    }
    return;
  }
  if (path_matched) {
    return respond(net::JsonError(
        405, "method_not_allowed",
        absl::StrCat(request.method, " is not allowed on ", path)));
  }
  respond(net::JsonError(404, "not_found", absl::StrCat("no route ", path)));
}

namespace {

// The name and payload of an event body {"name": str, "payload": any}: the
// payload travels as its msgpack encoding.
struct EventBody {
  std::string name;
  std::string payload;
};

absl::StatusOr<EventBody> ParseEvent(const std::string& body,
                                     uint64_t max_payload, int* http_status) {
  *http_status = 400;
  auto j = ParseBody(body);
  if (!j.ok()) return j.status();
  if (!j->is_object()) {
    return absl::InvalidArgumentError("body is not a JSON object");
  }
  auto name = j->find("name");
  if (name == j->end() || !name->is_string()) {
    return absl::InvalidArgumentError("\"name\" is missing or not a string");
  }
  EventBody e;
  e.name = name->get<std::string>();
  if (absl::Status s = CheckName("\"name\"", e.name); !s.ok()) return s;
  auto payload = j->find("payload");
  const json value = payload == j->end() ? json() : *payload;
  std::vector<uint8_t> bytes = json::to_msgpack(value);
  if (bytes.size() > max_payload) {
    *http_status = 413;
    return absl::ResourceExhaustedError(
        absl::StrCat("payload is ", bytes.size(),
                     " bytes as msgpack, over the limit of ", max_payload));
  }
  e.payload.assign(bytes.begin(), bytes.end());
  return e;
}

net::HttpResponse EventError(const absl::Status& status, int http_status) {
  return net::JsonError(
      http_status, http_status == 413 ? "payload_too_large" : "bad_request",
      status.message());
}

// The event of an events call whose target (params[0], a `what`) and body
// are valid; otherwise answers the call with the error and returns nullopt.
std::optional<EventBody> EventOf(HttpApi::Call& call, absl::string_view what,
                                 uint64_t max_payload) {
  if (absl::Status s = CheckName(what, call.params[0]); !s.ok()) {
    call.respond(net::JsonError(400, "bad_name", s.message()));
    return std::nullopt;
  }
  int http_status = 0;
  auto event = ParseEvent(call.request.body, max_payload, &http_status);
  if (!event.ok()) {
    call.respond(EventError(event.status(), http_status));
    return std::nullopt;
  }
  return *std::move(event);
}

}  // namespace

void HttpApi::PostRoomEvent(std::shared_ptr<Call> call) const {
  auto event =
      EventOf(*call, "room", sync_.engine_options().max_event_payload_bytes);
  if (!event) return;
  sync_.EmitToRoom(call->params[0], std::move(event->name),
                   std::move(event->payload), [call](uint64_t delivered) {
                     call->respond(Json(200, {{"delivered", delivered}}));
                   });
}

void HttpApi::PostUserEvent(std::shared_ptr<Call> call) const {
  auto event =
      EventOf(*call, "user", sync_.engine_options().max_event_payload_bytes);
  if (!event) return;
  const uint64_t delivered = sync_.EmitToUser(
      call->params[0], std::move(event->name), std::move(event->payload));
  call->respond(Json(200, {{"delivered", delivered}}));
}

namespace {

// One attempt at a server edit; a room that was unloading when the edit
// reached it is looked up again once (the registry then makes a fresh one).
void TryEdit(SyncServer& sync, std::shared_ptr<HttpApi::Call> call,
             std::shared_ptr<const std::vector<EditOp>> ops, int attempt);

}  // namespace

void HttpApi::PostChanges(std::shared_ptr<Call> call) const {
  for (size_t i = 0; i < 2; ++i) {
    if (absl::Status s = CheckName(i == 0 ? "room" : "doc", call->params[i]);
        !s.ok()) {
      return call->respond(net::JsonError(400, "bad_name", s.message()));
    }
  }
  auto body = ParseBody(call->request.body);
  if (!body.ok()) {
    return call->respond(
        net::JsonError(400, "bad_json", body.status().message()));
  }
  // The body is the list of operations, or {"ops": [...]}.
  const json* list = &*body;
  if (body->is_object()) {
    auto it = body->find("ops");
    if (it == body->end()) {
      return call->respond(
          net::JsonError(400, "bad_op", "body has no \"ops\" array"));
    }
    list = &*it;
  }
  auto ops = ParseEditOps(*list);
  if (!ops.ok()) {
    return call->respond(net::JsonError(400, "bad_op", ops.status().message()));
  }
  TryEdit(sync_, std::move(call),
          std::make_shared<const std::vector<EditOp>>(*std::move(ops)), 0);
}

namespace {

void TryEdit(SyncServer& sync, std::shared_ptr<HttpApi::Call> call,
             std::shared_ptr<const std::vector<EditOp>> ops, int attempt) {
  std::shared_ptr<Room> room = sync.rooms().Acquire(call->params[0]);
  auto applied = std::make_shared<size_t>(0);
  room->ApplyServerEdit(
      call->params[1],
      [ops, applied](crdt::Doc& doc) {
        return ApplyEditOps(*ops, doc, applied.get());
      },
      [&sync, call, ops, attempt,
       applied](absl::StatusOr<ServerEditResult> result) {
        if (!result.ok()) {
          const absl::Status& s = result.status();
          if (absl::IsUnavailable(s) && attempt == 0) {
            return TryEdit(sync, call, ops, attempt + 1);
          }
          if (absl::IsResourceExhausted(s)) {
            return call->respond(net::JsonError(413, "too_large", s.message()));
          }
          if (absl::IsUnavailable(s)) {
            return call->respond(
                net::JsonError(503, "unavailable", s.message()));
          }
          return call->respond(net::JsonError(400, "bad_op", s.message()));
        }
        json body = {{"room", call->params[0]},
                     {"doc", call->params[1]},
                     // A decimal string: epochs are random 64-bit values,
                     // beyond the 2^53 that JavaScript numbers hold.
                     {"epoch", absl::StrCat(result->epoch)},
                     {"seq", result->seq},
                     {"applied_ops", *applied}};
        if (!result->edit_status.ok()) {
          // The operations before the failing one are applied and durable.
          body["status"] = 400;
          body["code"] = "bad_op";
          body["message"] = std::string(result->edit_status.message());
          return call->respond(Json(400, body));
        }
        call->respond(Json(200, body));
      });
}

// Reads a room's JSON with `read` (on the room's strand) and answers it. A
// room that was unloading is acquired again, once.
using RoomRead = std::function<void(
    Room&, std::function<void(absl::StatusOr<std::string>)>)>;

void TryRead(SyncServer& sync, std::shared_ptr<HttpApi::Call> call,
             RoomRead read, int attempt) {
  std::shared_ptr<Room> room = sync.rooms().Acquire(call->params[0]);
  read(*room, [&sync, call, read, attempt](absl::StatusOr<std::string> text) {
    if (text.ok()) {
      return call->respond(
          net::HttpResponse{200, "application/json", *std::move(text) + "\n"});
    }
    if (absl::IsUnavailable(text.status()) && attempt == 0) {
      return TryRead(sync, call, read, attempt + 1);
    }
    if (absl::IsNotFound(text.status())) {
      return call->respond(
          net::JsonError(404, "not_found", text.status().message()));
    }
    call->respond(net::JsonError(503, "unavailable", text.status().message()));
  });
}

}  // namespace

void HttpApi::GetDoc(std::shared_ptr<Call> call) const {
  for (size_t i = 0; i < 2; ++i) {
    if (absl::Status s = CheckName(i == 0 ? "room" : "doc", call->params[i]);
        !s.ok()) {
      return call->respond(net::JsonError(400, "bad_name", s.message()));
    }
  }
  const std::string doc = call->params[1];
  TryRead(
      sync_, std::move(call),
      [doc](Room& room, auto done) { room.ReadDocJson(doc, std::move(done)); },
      0);
}

void HttpApi::GetPresence(std::shared_ptr<Call> call) const {
  if (absl::Status s = CheckName("room", call->params[0]); !s.ok()) {
    return call->respond(net::JsonError(400, "bad_name", s.message()));
  }
  TryRead(
      sync_, std::move(call),
      [](Room& room, auto done) { room.ReadPresenceJson(std::move(done)); }, 0);
}

void HttpApi::GetRooms(std::shared_ptr<Call> call) const {
  json rooms = json::array();
  for (const auto& [name, sample] : sync_.rooms().List()) {
    rooms.push_back({{"name", name}, {"members", sample.members}});
  }
  call->respond(Json(200, {{"rooms", std::move(rooms)}}));
}

void HttpApi::PostRevoke(std::shared_ptr<Call> call) const {
  const std::string& user = call->params[0];
  if (absl::Status s = CheckName("user", user); !s.ok()) {
    return call->respond(net::JsonError(400, "bad_name", s.message()));
  }
  call->respond(Json(200, {{"closed", sync_.RevokeUser(user)}}));
}

}  // namespace lattice::engine
