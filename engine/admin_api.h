// The operational HTTP endpoints of a Lattice node (health, version).
//
// Thread safety: the returned handler is stateless and safe to call from any
// thread, as net::HttpServer requires.
#ifndef LATTICE_ENGINE_ADMIN_API_H_
#define LATTICE_ENGINE_ADMIN_API_H_

#include <string>

#include "net/http_server.h"

namespace lattice::engine {

// Answers GET /healthz with {"status":"ok"} and GET /version with the build
// version; any other path gets a JSON 404 and a wrong method a JSON 405.
net::HttpResponse HandleAdminRequest(const net::HttpRequest& request);

// The version string of this build, e.g. "0.1.0".
std::string Version();

}  // namespace lattice::engine

#endif  // LATTICE_ENGINE_ADMIN_API_H_
