// Runs bench/load/lattice-load against the real lattice-server binary, both
// on 127.0.0.1 with an ephemeral port: every change and cursor move a run
// sends must be counted as delivered, with no decode error or unexpected
// close, and a refused upgrade must be reported with its HTTP status. The
// benchmark figures in BENCHMARKS.md come from this tool.
#include <filesystem>
#include <fstream>
#include <signal.h>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/engine/sync_test_util.h"
#include "tests/testing/child_process.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::load {
namespace {

using ::lattice::engine::testing::kSecret;
using ::lattice::engine::testing::TempDir;
using ::lattice::testing::ChildProcess;
using ::testing::HasSubstr;

class LatticeLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(dir_.path());
    std::ofstream(secret_file_) << kSecret << "\n";
  }
  void TearDown() override {
    if (server_ != nullptr) {
      server_->Signal(SIGTERM);
      EXPECT_NE(server_->Wait(std::chrono::seconds(20)), -1);
    }
  }

  // Starts the server with `flags` and returns its port (0 on failure).
  uint16_t StartServer(std::vector<std::string> flags) {
    std::vector<std::string> argv = {LATTICE_SERVER_BINARY, "--port=0",
                                     "--data_dir=" + dir_.path() + "/data",
                                     "--jwt_secret_file=" + secret_file_,
                                     "--durability=process"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto child = ChildProcess::Start(argv);
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return 0;
    server_ = *std::move(child);
    auto line = server_->ReadLine(std::chrono::seconds(20));
    EXPECT_TRUE(line.has_value()) << "server printed nothing";
    if (!line) return 0;
    const uint16_t port = ::lattice::testing::ListeningPort(*line);
    EXPECT_NE(port, 0) << *line;
    return port;
  }

  // Runs lattice-load with `flags` and returns its JSON report.
  nlohmann::json RunLoad(uint16_t port, std::vector<std::string> flags) {
    std::vector<std::string> argv = {
        LATTICE_LOAD_BINARY, "--port=" + std::to_string(port),
        "--secret_file=" + secret_file_, "--max_total_s=60",
        "--server_pid=" + std::to_string(server_->pid())};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto child = ChildProcess::Start(argv);
    EXPECT_TRUE(child.ok()) << child.status();
    if (!child.ok()) return {};
    std::string out;
    while (auto line = (*child)->ReadLine(std::chrono::seconds(90))) {
      out += *line + "\n";
    }
    const int status = (*child)->Wait(std::chrono::seconds(10));
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << out;
    auto report =
        nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(report.is_discarded()) << out;
    return report.is_discarded() ? nlohmann::json() : report;
  }

  // The checks every sending run must pass.
  static void ExpectEverythingDelivered(const nlohmann::json& r) {
    ASSERT_TRUE(r.is_object());
    EXPECT_EQ(r.value("joined", -1),
              r.value("rooms", 0) * r.value("clients_per_room", 0));
    EXPECT_GT(r.value("expected_deliveries", 0), 0);
    EXPECT_EQ(r.value("deliveries", -1), r.value("expected_deliveries", -2))
        << r.dump();
    EXPECT_EQ(r.value("decode_errors", -1), 0) << r.dump();
    EXPECT_EQ(r.value("unexpected_closes", -1), 0) << r.dump();
    EXPECT_TRUE(r["errors"].empty()) << r.dump();
    EXPECT_EQ(r["delivery"].value("n", -1), r.value("deliveries", -2));
    EXPECT_GE(r["delivery"].value("p50_ms", -1.0), 0.0);
  }

  TempDir dir_;
  const std::string secret_file_ = dir_.path() + "-secret";
  std::unique_ptr<ChildProcess> server_;
};

TEST_F(LatticeLoadTest, CursorMovesWithoutTheTickAreAllDelivered) {
  const uint16_t port = StartServer({"--presence_tick=0s"});
  ASSERT_NE(port, 0);
  // 2 rooms x 3 clients x 10 Hz x 1 s: each move reaches the 2 others.
  for (const char* replica :
       {"--presence_replica=false", "--presence_replica=true"}) {
    SCOPED_TRACE(replica);
    const nlohmann::json r =
        RunLoad(port, {"--mode=cursors", "--rooms=2", "--clients=3", "--hz=10",
                       "--duration_s=1", replica});
    ExpectEverythingDelivered(r);
    EXPECT_EQ(r.value("expected_deliveries", 0), 2 * 3 * 2 * 10);
  }
}

TEST_F(LatticeLoadTest, ChangesAreAckedAndDelivered) {
  const uint16_t port = StartServer({});
  ASSERT_NE(port, 0);
  const nlohmann::json r =
      RunLoad(port, {"--mode=roundtrip", "--rooms=2", "--clients=3", "--hz=10",
                     "--duration_s=1"});
  ExpectEverythingDelivered(r);
  EXPECT_EQ(r.value("acked", -1), r.value("sent", -2));
  EXPECT_EQ(r.value("sent", 0), 2 * 3 * 10);
}

TEST_F(LatticeLoadTest, RefusedUpgradeIsReportedWithItsStatus) {
  const uint16_t port = StartServer({"--max_connections_per_ip=2"});
  ASSERT_NE(port, 0);
  const nlohmann::json r =
      RunLoad(port, {"--mode=connect", "--connections=4", "--concurrency=4"});
  ASSERT_TRUE(r.is_object());
  EXPECT_EQ(r.value("joined", -1), 2);
  ASSERT_EQ(r["errors"].size(), 1u) << r.dump();
  EXPECT_THAT(r["errors"].begin().key(), HasSubstr("handshake: HTTP 429"));
  EXPECT_EQ(r["errors"].begin().value(), 2);
}

}  // namespace
}  // namespace lattice::load
