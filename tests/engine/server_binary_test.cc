// Runs the real lattice-server binary: it must come up on an ephemeral port
// with a fresh data directory, answer its health check, and exit cleanly on
// SIGTERM.
#include <filesystem>
#include <signal.h>
#include <string>
#include <sys/wait.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "tests/testing/child_process.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::engine {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using ::lattice::testing::ChildProcess;
using ::testing::HasSubstr;
using ::testing::MatchesRegex;

http::response<http::string_body> Get(uint16_t port,
                                      const std::string& target) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  stream.connect(
      asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  http::request<http::string_body> req(http::verb::get, target, 11);
  req.set(http::field::host, "127.0.0.1");
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  return res;
}

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
  const auto colon = line->find(':', line->find("listening on"));
  const uint16_t port =
      static_cast<uint16_t>(std::stoi(line->substr(colon + 1)));
  EXPECT_TRUE(std::filesystem::is_directory(dir));

  auto health = Get(port, "/healthz");
  EXPECT_EQ(health.result_int(), 200u);
  EXPECT_THAT(health.body(), HasSubstr("\"status\":\"ok\""));
  auto missing = Get(port, "/nope");
  EXPECT_EQ(missing.result_int(), 404u);
  EXPECT_THAT(missing.body(), HasSubstr("\"code\":\"not_found\""));

  (*child)->Signal(SIGTERM);
  int status = (*child)->Wait(std::chrono::seconds(20));
  ASSERT_NE(status, -1) << "server did not exit on SIGTERM";
  EXPECT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace lattice::engine
