// A client process killed (SIGKILL) while offline, with edits in its local
// store, and started again once the server is back: the edits arrive once.
// The client process is the taskboard example (examples/taskboard), run by
// tests/testing/child_process.h; the server is an in-process Node.
// Oracle: a fresh in-process client reads the board the server holds.
#include <csignal>
#include <memory>
#include <optional>
#include <string>

#include "sdk/client.h"
#include "tests/engine/sync_test_util.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine::testing {
namespace {

using ::lattice::testing::ChildProcess;
using ::lattice::testing::IsOk;

// Runs the taskboard with `commands` on `data_dir`; returns the child once
// it printed `until` (or nullptr).
std::unique_ptr<ChildProcess> RunTaskboard(uint16_t port,
                                           const std::string& data_dir,
                                           const std::string& commands,
                                           const std::string& until) {
  auto child = ChildProcess::Start(
      {LATTICE_TASKBOARD_BINARY, absl::StrCat("--port=", port),
       absl::StrCat("--token=", Token("ada", {"board"})),
       absl::StrCat("--data_dir=", data_dir), absl::StrCat("--run=", commands),
       "--sync_timeout_s=10"});
  EXPECT_TRUE(child.ok()) << child.status();
  if (!child.ok()) return nullptr;
  while (true) {
    std::optional<std::string> line =
        (*child)->ReadLine(std::chrono::seconds(10));
    if (!line.has_value()) {
      ADD_FAILURE() << "taskboard ended before printing " << until;
      return nullptr;
    }
    if (*line == until) return *std::move(child);
  }
}

TEST(SdkProcessTest, KilledOfflineProcessDeliversItsStoredEditsOnce) {
  TempDir server_dir;
  TempDir client_dir;
  uint16_t port = 0;
  {
    auto node = Node::Start(TestNodeOptions(server_dir.path()));
    ASSERT_TRUE(node.ok()) << node.status();
    port = (*node)->port();
  }  // down: the first process works offline

  auto first =
      RunTaskboard(port, client_dir.path(),
                   "add t1 Write spec; add t2 Review; move t1 doing", "stored");
  ASSERT_TRUE(first);
  first->Signal(SIGKILL);
  first->Wait();

  NodeOptions o = TestNodeOptions(server_dir.path());
  o.port = port;
  auto node = Node::Start(o);
  ASSERT_TRUE(node.ok()) << node.status();
  // The second process adds one edit and waits until everything is acked.
  auto second =
      RunTaskboard(port, client_dir.path(), "assign t1 ada", "synced");
  ASSERT_TRUE(second);
  EXPECT_EQ(second->Wait(), 0);

  sdk::ClientOptions co;
  co.port = port;
  co.token = Token("bob", {"board"});
  auto reader = sdk::Client::Create(co);
  ASSERT_TRUE(reader.ok()) << reader.status();
  sdk::Room room = *(*reader)->Join("board");
  const std::string want =
      R"({"t1":{"assignee":"ada","column":"doing","title":"Write spec"},)"
      R"("t2":{"column":"todo","title":"Review"}})";
  EXPECT_THAT((*reader)->WaitUntil(
                  [&] { return room.Json("tasks").value_or("") == want; },
                  absl::Seconds(5)),
              IsOk())
      << room.Json("tasks").value_or("no tasks");
  // Nothing was appended twice: at most one logged change per process.
  EXPECT_LE(room.status().resume.seq, 2u);
}

}  // namespace
}  // namespace lattice::engine::testing
