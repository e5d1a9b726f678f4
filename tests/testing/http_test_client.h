// A blocking HTTP/1.1 client for tests: one request per connection to
// 127.0.0.1, with a deadline, so a server that never answers fails the test
// instead of hanging it.
#ifndef LATTICE_TESTS_TESTING_HTTP_TEST_CLIENT_H_
#define LATTICE_TESTS_TESTING_HTTP_TEST_CLIENT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace lattice::testing {

struct HttpResult {
  int status = 0;
  std::string content_type;
  std::string body;
};

// Sends `method target` with `body` and `headers` to 127.0.0.1:`port`.
// Errors: Unavailable when the connection, the write or the read fails or
// `timeout` passes.
absl::StatusOr<HttpResult> HttpCall(
    uint16_t port, absl::string_view method, absl::string_view target,
    absl::string_view body = "",
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    absl::Duration timeout = absl::Seconds(10));

}  // namespace lattice::testing

#endif  // LATTICE_TESTS_TESTING_HTTP_TEST_CLIENT_H_
