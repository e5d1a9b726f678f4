// Starts a program as a child process with its stdout on a pipe, for tests
// that run the real server or crash a writer with kill -9.
//
//   auto child = ChildProcess::Start({binary, "--port=0"});
//   std::string line = child->ReadLine(std::chrono::seconds(10));
//   child->Signal(SIGTERM);
//   int status = child->Wait();
//
// The destructor kills (SIGKILL) and reaps a child that is still running, so a
// failing test never leaves a process behind. Only the PID this object
// started is ever signalled. Not thread-safe.
#ifndef LATTICE_TESTS_TESTING_CHILD_PROCESS_H_
#define LATTICE_TESTS_TESTING_CHILD_PROCESS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "absl/status/statusor.h"

namespace lattice::testing {

class ChildProcess {
 public:
  // Errors: Internal when fork/exec setup fails.
  static absl::StatusOr<std::unique_ptr<ChildProcess>> Start(
      const std::vector<std::string>& argv);
  ~ChildProcess();

  // Returns the next line of the child's stdout (without '\n'), or nullopt at
  // end of output or when `timeout` passes first.
  std::optional<std::string> ReadLine(std::chrono::milliseconds timeout);
  void Signal(int sig);
  // Waits for exit; returns the raw wait status (use WIFEXITED etc.), or -1
  // when `timeout` passes first (the child is then left running).
  int Wait(std::chrono::milliseconds timeout = std::chrono::seconds(30));
  pid_t pid() const { return pid_; }

 private:
  ChildProcess(pid_t pid, int stdout_fd) : pid_(pid), fd_(stdout_fd) {}
  pid_t pid_;
  int fd_;
  bool reaped_ = false;
  std::string buffered_;
};

// The port in lattice-server's startup line ("... listening on
// 127.0.0.1:PORT ..."), or 0 when the line has none.
uint16_t ListeningPort(const std::string& line);

}  // namespace lattice::testing

#endif  // LATTICE_TESTS_TESTING_CHILD_PROCESS_H_
