#include "tests/testing/redis_server.h"

#include <chrono>
#include <filesystem>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace lattice::testing {
namespace {

constexpr char kRedisServer[] = "/usr/bin/redis-server";

// Whether something accepts connections on the unix socket `path`.
bool Accepts(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return false;
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  path.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
  const bool ok =
      ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

absl::StatusOr<std::unique_ptr<RedisServer>> RedisServer::Start() {
  if (!std::filesystem::exists(kRedisServer)) {
    return absl::NotFoundError(absl::StrCat(
        kRedisServer, " is missing; scripts/setup-debian.sh installs it"));
  }
  static int counter = 0;
  std::string dir = (std::filesystem::temp_directory_path() /
                     absl::StrCat("lattice-redis-", getpid(), "-", counter++))
                        .string();
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::unique_ptr<RedisServer> server(new RedisServer(std::move(dir)));
  absl::Status s = server->Launch();
  if (!s.ok()) return s;
  return server;
}

RedisServer::RedisServer(std::string dir)
    : dir_(std::move(dir)), socket_(dir_ + "/redis.sock") {}

RedisServer::~RedisServer() {
  Stop();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
}

absl::Status RedisServer::Launch() {
  auto child =
      ChildProcess::Start({kRedisServer, "--port", "0", "--unixsocket", socket_,
                           "--unixsocketperm", "700", "--dir", dir_, "--save",
                           "", "--appendonly", "no", "--loglevel", "warning"});
  if (!child.ok()) return child.status();
  child_ = *std::move(child);
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < deadline) {
    if (Accepts(socket_)) return absl::OkStatus();
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Stop();
  return absl::UnavailableError("redis-server did not answer within 10 s");
}

void RedisServer::Stop() {
  if (child_ == nullptr) return;
  child_->Signal(SIGTERM);
  if (child_->Wait(std::chrono::seconds(10)) == -1) {
    child_->Signal(SIGKILL);
    child_->Wait();
  }
  child_.reset();
  std::error_code ec;
  std::filesystem::remove(socket_, ec);
}

absl::Status RedisServer::Restart() {
  Stop();
  return Launch();
}

}  // namespace lattice::testing
