// A blocking WebSocket client for end-to-end tests. Every call waits at most
// its timeout, so a misbehaving server fails the test instead of hanging it.
//
//   WsTestClient client;
//   ASSERT_THAT(client.Connect("127.0.0.1", port), IsOk());
//   ASSERT_THAT(client.Send("hello"), IsOk());
//   EXPECT_THAT(client.Receive(absl::Seconds(5)), IsOkAndHolds("hello"));
//   EXPECT_EQ(client.WaitClosed(absl::Seconds(5)), 1001);
//
// The client reads only inside Receive and WaitClosed (it runs its own
// io_context on the calling thread), so a test models a slow consumer, or a
// peer that never answers pings, simply by not calling them. A Receive that
// times out leaves its read pending; the next Receive continues it.
//
// Thread safety: not thread-safe; use one client from one thread at a time.
#ifndef LATTICE_TESTS_TESTING_WS_TEST_CLIENT_H_
#define LATTICE_TESTS_TESTING_WS_TEST_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace lattice::testing {

class WsTestClient {
 public:
  struct Options {
    // Request target of the upgrade.
    std::string target = "/";
    // Extra handshake headers, e.g. {"Origin", "https://app.example"}.
    std::vector<std::pair<std::string, std::string>> headers;
    // Largest incoming message. Default: 64 MiB.
    uint64_t max_message_bytes = 64 << 20;
    // Offers permessage-deflate.
    bool permessage_deflate = false;
    // Bound on Connect, Send and Close.
    absl::Duration io_timeout = absl::Seconds(10);
  };

  WsTestClient();
  explicit WsTestClient(Options options);
  ~WsTestClient();
  WsTestClient(const WsTestClient&) = delete;
  WsTestClient& operator=(const WsTestClient&) = delete;

  // Connects and completes the handshake. Errors when the server declines
  // the upgrade (handshake_status() then holds the HTTP status):
  // PermissionDenied for 403, ResourceExhausted for 429, Unauthenticated
  // for 401, Unavailable for 5xx, FailedPrecondition otherwise. Also
  // DeadlineExceeded after io_timeout and Unavailable for socket errors.
  [[nodiscard]] absl::Status Connect(absl::string_view host, uint16_t port);

  // Writes one binary (or text) message. Errors: DeadlineExceeded when the
  // write does not finish within io_timeout (the connection is then
  // dropped); FailedPrecondition when closed; Unavailable on a socket error.
  [[nodiscard]] absl::Status Send(absl::string_view bytes);
  [[nodiscard]] absl::Status SendText(absl::string_view text);

  // Returns the next message. Errors: DeadlineExceeded when none arrives in
  // `timeout`; FailedPrecondition once the connection has closed (see
  // closed_code()).
  [[nodiscard]] absl::StatusOr<std::string> Receive(absl::Duration timeout);

  // Reads (discarding messages) until the connection closes or `timeout`
  // passes; returns closed_code().
  std::optional<uint16_t> WaitClosed(absl::Duration timeout);

  // The close code the connection ended with: the server's close code, 1009
  // for an oversize message, 1006 when it dropped without a close frame;
  // nullopt while open.
  std::optional<uint16_t> closed_code() const;
  const std::string& close_reason() const;

  // Sends a close frame and waits (io_timeout) for the server's answer.
  [[nodiscard]] absl::Status Close(uint16_t code = 1000,
                                   absl::string_view reason = "");
  // Closes the TCP connection without a close frame.
  void Drop();

  // The HTTP status and body of the handshake response (101 and empty on
  // success; 0 before Connect).
  int handshake_status() const;
  const std::string& handshake_body() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lattice::testing

#endif  // LATTICE_TESTS_TESTING_WS_TEST_CLIENT_H_
