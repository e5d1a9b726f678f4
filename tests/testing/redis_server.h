// A real redis-server for the scale-out tests, listening on a unix socket in
// a temporary directory (no TCP port to race for), with persistence off.
//
//   auto redis = RedisServer::Start();
//   bus_options.address = (*redis)->address();   // "unix:/tmp/.../redis.sock"
//   (*redis)->Stop();      // the nodes lose their subscriptions
//   (*redis)->Restart();   // same socket; they reconnect
//
// The destructor stops the server (SIGTERM, then SIGKILL) and removes the
// directory; only the PID this object started is ever signalled.
// Not thread-safe.
#ifndef LATTICE_TESTS_TESTING_REDIS_SERVER_H_
#define LATTICE_TESTS_TESTING_REDIS_SERVER_H_

#include <memory>
#include <string>

#include "tests/testing/child_process.h"

#include "absl/status/statusor.h"

namespace lattice::testing {

class RedisServer {
 public:
  // Errors: NotFound when redis-server is not installed; Unavailable when
  // it does not answer within 10 s.
  static absl::StatusOr<std::unique_ptr<RedisServer>> Start();
  ~RedisServer();

  std::string address() const { return "unix:" + socket_; }
  // Stops the server and waits for it to exit.
  void Stop();
  // Starts it again on the same socket. Errors: as Start.
  absl::Status Restart();

 private:
  explicit RedisServer(std::string dir);
  absl::Status Launch();

  std::string dir_;
  std::string socket_;
  std::unique_ptr<ChildProcess> child_;
};

}  // namespace lattice::testing

#endif  // LATTICE_TESTS_TESTING_REDIS_SERVER_H_
