// Runs the real lattice-server binary: it must come up on an ephemeral port
// with a fresh data directory, answer its health check, and exit cleanly on
// SIGTERM.
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <string>
#include <sys/wait.h>

#include "tests/engine/sync_test_util.h"
#include "tests/testing/child_process.h"
#include "tests/testing/http_test_client.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine {
namespace {

using ::lattice::testing::ChildProcess;
using ::lattice::testing::HttpCall;
using ::lattice::testing::ListeningPort;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(ServerBinary, ServesHealthAndStopsOnSigterm) {
  auto dir = std::filesystem::temp_directory_path() /
             ("lattice-server-test-" + std::to_string(getpid()));
  std::filesystem::remove_all(dir);
  auto child = ChildProcess::Start(
      {LATTICE_SERVER_BINARY, "--port=0", "--data_dir=" + dir.string()});
  ASSERT_TRUE(child.ok()) << child.status();
  auto line = (*child)->ReadLine(std::chrono::seconds(20));
  ASSERT_TRUE(line.has_value()) << "server printed nothing";
  ASSERT_THAT(*line, MatchesRegex(".*listening on 127\\.0\\.0\\.1:[0-9]+ .*"));
  const uint16_t port = ListeningPort(*line);
  ASSERT_NE(port, 0);
  EXPECT_TRUE(std::filesystem::is_directory(dir));

  auto health = HttpCall(port, "GET", "/healthz");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->status, 200);
  EXPECT_THAT(health->body, HasSubstr("\"status\":\"ok\""));
  auto missing = HttpCall(port, "GET", "/nope");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 404);
  EXPECT_THAT(missing->body, HasSubstr("\"code\":\"not_found\""));

  (*child)->Signal(SIGTERM);
  int status = (*child)->Wait(std::chrono::seconds(20));
  ASSERT_NE(status, -1) << "server did not exit on SIGTERM";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::filesystem::remove_all(dir);
}

// Starts the binary on `dir` and returns it with its port.
std::pair<std::unique_ptr<ChildProcess>, uint16_t> StartServer(
    const std::string& dir, const std::string& secret_file) {
  auto child = ChildProcess::Start(
      {LATTICE_SERVER_BINARY, "--port=0", "--data_dir=" + dir,
       "--jwt_secret_file=" + secret_file, "--durability=sync", "--threads=2"});
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return {nullptr, 0};
  auto line = (*child)->ReadLine(std::chrono::seconds(20));
  EXPECT_TRUE(line.has_value()) << "server printed nothing";
  if (!line) return {nullptr, 0};
  const uint16_t port = ListeningPort(*line);
  EXPECT_NE(port, 0) << *line;
  return {*std::move(child), port};
}

// kill -9 in the middle of a burst of changes: every acknowledged change is
// there after a restart, and a client that reconnects converges.
TEST(ServerBinary, KillNineLosesNoAcknowledgedChange) {
  testing::TempDir dir;
  std::filesystem::create_directories(dir.path());
  const std::string secret_file = dir.path() + "-secret";
  {
    std::ofstream out(secret_file);
    out << testing::kSecret << "\n";
  }
  auto [server, port] = StartServer(dir.path() + "/data", secret_file);
  ASSERT_NE(server, nullptr);
  const std::string token = testing::Token("ada", {"board"});
  testing::RawClient a(101);
  ASSERT_TRUE(a.Connect(port, token).ok());
  ASSERT_TRUE(a.Join("board").ok());
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(a.Edit("board", "tasks", [i](crdt::Doc& d) {
                   return d.MapSet(crdt::kRootId, "k" + std::to_string(i),
                                   crdt::Value::Int(i));
                 }).ok());
  }
  ASSERT_TRUE(a.WaitAcked().ok());
  const uint64_t acked = a.resume("board").seq;
  EXPECT_EQ(acked, 40u);
  // More changes in flight when the server dies.
  for (int i = 40; i < 60; ++i) {
    ASSERT_TRUE(a.Edit("board", "tasks", [i](crdt::Doc& d) {
                   return d.MapSet(crdt::kRootId, "k" + std::to_string(i),
                                   crdt::Value::Int(i));
                 }).ok());
  }
  server->Signal(SIGKILL);
  ASSERT_NE(server->Wait(std::chrono::seconds(10)), -1);

  auto [again, port2] = StartServer(dir.path() + "/data", secret_file);
  ASSERT_NE(again, nullptr);
  testing::RawClient c(103);
  ASSERT_TRUE(c.Connect(port2, testing::Token("cy", {"board"})).ok());
  auto joined = c.Join("board");
  ASSERT_TRUE(joined.ok()) << joined.status();
  EXPECT_GE(joined->seq, acked);
  for (int i = 0; i < 40; ++i) {
    EXPECT_TRUE(c.Doc("board", "tasks")
                    .MapGet(crdt::kRootId, "k" + std::to_string(i))
                    .ok())
        << "acknowledged change k" << i << " was lost";
  }
  // a reconnects, resends what the server lacks, and both converge.
  ASSERT_TRUE(a.Connect(port2, token).ok());
  ASSERT_TRUE(a.Join("board").ok());
  ASSERT_TRUE(a.WaitAcked().ok());
  testing::RawClient d(104);
  ASSERT_TRUE(d.Connect(port2, testing::Token("di", {"board"})).ok());
  ASSERT_TRUE(d.Join("board").ok());
  EXPECT_EQ(d.Json("board", "tasks"), a.Json("board", "tasks"));
  again->Signal(SIGTERM);
  EXPECT_NE(again->Wait(std::chrono::seconds(20)), -1);
  std::filesystem::remove(secret_file);
}

}  // namespace
}  // namespace lattice::engine
