// The HTTP API for backends (docs/http-api.md): JSON over HTTP under /v1/,
// authenticated by a server API key, to emit events to rooms and users,
// edit documents as the server's replica, read documents, list rooms and
// revoke a user's connections.
//
//   HttpApi api(sync_server, {.api_key = key});
//   if (HttpApi::Handles(request.target)) api.Handle(request, respond);
//
// Routes live in one table (http_api.cc, Routes()): a new endpoint is one
// row and one method. Every answer is JSON; errors are
// {"status":..,"code":..,"message":..} with the HTTP status.
//
// Thread safety: Handle may be called from any thread, concurrently; it
// never blocks (answers that wait for a room or a durable write are given
// to `respond` later, from the room's strand).
#ifndef LATTICE_ENGINE_HTTP_API_H_
#define LATTICE_ENGINE_HTTP_API_H_

#include <memory>
#include <string>
#include <vector>

#include "engine/sync_server.h"
#include "net/http_server.h"

#include "absl/strings/string_view.h"

namespace lattice::engine {

struct HttpApiOptions {
  // The key backends send as "Authorization: Bearer <key>". Empty: no key,
  // and the API answers 403 api_disabled, except in anonymous mode
  // (EngineOptions::anonymous), where it is open to anyone who can reach
  // the port. Default: empty.
  std::string api_key;
};

class HttpApi {
 public:
  // REQUIRES: `sync` outlives the API and every answer still pending.
  HttpApi(SyncServer& sync, HttpApiOptions options);

  // True for the targets this API owns (paths under /v1/).
  static bool Handles(absl::string_view target);

  // Answers `request` through `respond`, now or later (exactly once).
  void Handle(net::HttpRequest request, net::HttpRespond respond) const;

  // One routed request, shared by the callbacks that finish it.
  struct Call {
    net::HttpRequest request;
    std::vector<std::string> params;  // the pattern's {} segments, decoded
    net::HttpRespond respond;
  };

 private:
  using Method = void (HttpApi::*)(std::shared_ptr<Call>) const;
  struct Route {
    const char* method;
    const char* pattern;  // "/v1/rooms/{}/events": {} is one path segment
    Method handler;
  };
  static const std::vector<Route>& Routes();

  // Null when the request may proceed, else the refusal.
  std::unique_ptr<net::HttpResponse> CheckAuth(
      const net::HttpRequest& request) const;

  void PostRoomEvent(std::shared_ptr<Call> call) const;
  void PostUserEvent(std::shared_ptr<Call> call) const;
  void PostChanges(std::shared_ptr<Call> call) const;
  void GetDoc(std::shared_ptr<Call> call) const;
  void GetRooms(std::shared_ptr<Call> call) const;
  void GetPresence(std::shared_ptr<Call> call) const;
  void PostRevoke(std::shared_ptr<Call> call) const;

  // Immutable after construction.
  SyncServer& sync_;
  const HttpApiOptions options_;
  const bool open_;  // anonymous mode without a key
};

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_HTTP_API_H_
