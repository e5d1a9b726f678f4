#include "engine/admin_api.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace lattice::engine {

std::string Version() { return "0.1.0"; }

net::HttpResponse HandleAdminRequest(const net::HttpRequest& request) {
  absl::string_view path = request.target;
  path = path.substr(0, path.find('?'));
  if (path != "/healthz" && path != "/version") {
    return net::JsonError(404, "not_found", absl::StrCat("no route ", path));
  }
  if (request.method != "GET") {
    return net::JsonError(405, "method_not_allowed",
                          absl::StrCat(path, " takes GET"));
  }
  if (path == "/healthz")
    return {200, "application/json", "{\"status\":\"ok\"}\n"};
  return {200, "application/json",
          absl::StrCat("{\"version\":\"", Version(), "\"}\n")};
}

}  // namespace lattice::engine
