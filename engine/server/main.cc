// lattice-server: the composition root. Parses flags (or a --flagfile, one
// flag per line, as the configuration file), starts a Node and serves until
// SIGINT/SIGTERM, then shuts down gracefully (clients get 1001).
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>

#include <openssl/rand.h>

#include "base/logging.h"
#include "engine/admin_api.h"
#include "engine/node.h"

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"

ABSL_FLAG(std::string, listen, "127.0.0.1", "address to listen on");
ABSL_FLAG(uint16_t, port, 7700, "TCP port (0 picks a free one)");
ABSL_FLAG(std::string, data_dir, "./data", "directory for the RocksDB store");
ABSL_FLAG(int, threads, 0,
          "I/O threads, one io_context each (0: one per core but one)");
ABSL_FLAG(std::string, durability, "sync",
          "sync: ack after fsync; process: ack after write(2), survives a "
          "process crash but not a power loss");
ABSL_FLAG(std::string, jwt_secret_file, "",
          "HS256 secret file; default: <data_dir>/dev-secret, created on "
          "first start");
ABSL_FLAG(std::string, jwt_public_key_file, "",
          "PEM public key for --jwt_algorithm RS256 or ES256");
ABSL_FLAG(std::string, jwt_algorithm, "HS256", "HS256, RS256 or ES256");
ABSL_FLAG(std::string, jwt_kid, "", "key id the tokens name (optional)");
ABSL_FLAG(std::string, jwt_issuer, "", "required iss claim (optional)");
ABSL_FLAG(std::string, jwt_audience, "", "required aud claim (optional)");
ABSL_FLAG(bool, anonymous, false,
          "accept clients without tokens, read-write everywhere (local "
          "development only)");
ABSL_FLAG(std::string, api_key_file, "",
          "file holding the backend API key (HTTP /v1/, Authorization: "
          "Bearer <key>); without one the API is off unless --anonymous");
ABSL_FLAG(uint64_t, max_event_payload_bytes, 4 * 1024,
          "largest event payload (client or backend)");
ABSL_FLAG(double, max_events_per_second, 50, "event frames per connection");
ABSL_FLAG(uint64_t, max_message_bytes, 1 << 20, "largest WebSocket message");
ABSL_FLAG(uint64_t, max_members_per_room, 10'000, "members of one room");
ABSL_FLAG(uint64_t, max_rooms_per_connection, 64, "rooms one connection joins");
ABSL_FLAG(double, max_changes_per_second, 200, "change frames per connection");
ABSL_FLAG(uint64_t, snapshot_every, 1000, "changes between room snapshots");
ABSL_FLAG(absl::Duration, presence_tick, absl::Milliseconds(33),
          "at most one presence frame per member per tick");
ABSL_FLAG(absl::Duration, presence_ttl, absl::Seconds(30),
          "presence entries without a heartbeat for this long are removed");
ABSL_FLAG(double, max_presence_per_second, 120,
          "presence frames per connection");
ABSL_FLAG(std::string, allowed_origins, "",
          "comma-separated Origin values accepted (empty: any)");
ABSL_FLAG(std::string, redis, "",
          "Redis for fan-out between nodes: host:port or unix:/path "
          "(empty: one node)");
ABSL_FLAG(bool, reuse_port, false,
          "SO_REUSEPORT: several nodes on one machine share the port");
ABSL_FLAG(uint32_t, max_connections_per_ip, 1024, "WebSockets per client IP");
ABSL_FLAG(std::string, trusted_proxies, "",
          "comma-separated proxy IPs whose X-Forwarded-For is believed");

namespace lattice::engine {
namespace {

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot read " + path);
  std::string data((std::istreambuf_iterator<char>(in)),
                   std::istreambuf_iterator<char>());
  while (!data.empty() && (data.back() == '\n' || data.back() == '\r')) {
    data.pop_back();
  }
  return data;
}

// The development secret: created once per data directory (mode 0600), so a
// fresh server is secure by default and `lattice token` can mint for it.
absl::StatusOr<std::string> DevSecret(const std::string& data_dir) {
  const std::string path = data_dir + "/dev-secret";
  if (std::filesystem::exists(path)) return ReadFile(path);
  unsigned char raw[32];
  if (RAND_bytes(raw, sizeof raw) != 1) {
    return absl::InternalError("RAND_bytes failed");
  }
  std::string secret = absl::WebSafeBase64Escape(
      absl::string_view(reinterpret_cast<const char*>(raw), sizeof raw));
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << secret << "\n";
    if (!out) return absl::UnavailableError("cannot write " + path);
  }
  std::filesystem::permissions(path, std::filesystem::perms::owner_read |
                                         std::filesystem::perms::owner_write);
  return secret;
}

absl::StatusOr<NodeOptions> OptionsFromFlags() {
  NodeOptions o;
  o.listen_address = absl::GetFlag(FLAGS_listen);
  o.port = absl::GetFlag(FLAGS_port);
  o.data_dir = absl::GetFlag(FLAGS_data_dir);
  o.threads = absl::GetFlag(FLAGS_threads);
  const std::string durability = absl::GetFlag(FLAGS_durability);
  if (durability == "sync") {
    o.store.durability = storage::Durability::kSync;
  } else if (durability == "process") {
    o.store.durability = storage::Durability::kProcess;
  } else {
    return absl::InvalidArgumentError("--durability must be sync or process");
  }
  EngineOptions& e = o.sync.engine;
  e.anonymous = absl::GetFlag(FLAGS_anonymous);
  e.max_members_per_room = absl::GetFlag(FLAGS_max_members_per_room);
  e.max_rooms_per_connection = absl::GetFlag(FLAGS_max_rooms_per_connection);
  e.max_changes_per_second = absl::GetFlag(FLAGS_max_changes_per_second);
  e.presence_tick = absl::GetFlag(FLAGS_presence_tick);
  e.presence_ttl = absl::GetFlag(FLAGS_presence_ttl);
  e.max_presence_per_second = absl::GetFlag(FLAGS_max_presence_per_second);
  e.snapshot_every_changes = absl::GetFlag(FLAGS_snapshot_every);
  net::WebSocketOptions& ws = o.http.websocket;
  ws.max_message_bytes = absl::GetFlag(FLAGS_max_message_bytes);
  ws.max_connections_per_ip = absl::GetFlag(FLAGS_max_connections_per_ip);
  for (absl::string_view s : absl::StrSplit(
           absl::GetFlag(FLAGS_allowed_origins), ',', absl::SkipEmpty())) {
    ws.allowed_origins.emplace_back(s);
  }
  for (absl::string_view s : absl::StrSplit(
           absl::GetFlag(FLAGS_trusted_proxies), ',', absl::SkipEmpty())) {
    ws.trusted_proxies.emplace_back(s);
  }
  o.sync.cluster.redis_address = absl::GetFlag(FLAGS_redis);
  o.http.reuse_port = absl::GetFlag(FLAGS_reuse_port);
  e.max_event_payload_bytes = absl::GetFlag(FLAGS_max_event_payload_bytes);
  e.max_events_per_second = absl::GetFlag(FLAGS_max_events_per_second);
  if (const std::string file = absl::GetFlag(FLAGS_api_key_file);
      !file.empty()) {
    auto key = ReadFile(file);
    if (!key.ok()) return key.status();
    if (key->empty()) {
      return absl::InvalidArgumentError("--api_key_file " + file + " is empty");
    }
    o.api.api_key = *std::move(key);
  }
  if (e.anonymous) return o;

  JwtKey key;
  if (!absl::GetFlag(FLAGS_jwt_kid).empty())
    key.kid = absl::GetFlag(FLAGS_jwt_kid);
  const std::string alg = absl::GetFlag(FLAGS_jwt_algorithm);
  if (alg == "HS256") {
    key.algorithm = JwtAlgorithm::kHs256;
    const std::string file = absl::GetFlag(FLAGS_jwt_secret_file);
    std::error_code ec;
    std::filesystem::create_directories(o.data_dir, ec);
    auto secret = file.empty() ? DevSecret(o.data_dir) : ReadFile(file);
    if (!secret.ok()) return secret.status();
    key.material = *std::move(secret);
    if (file.empty()) {
      LATTICE_LOG(kInfo) << "JWT: HS256 with the development secret in "
                         << o.data_dir << "/dev-secret (mint tokens with "
                         << "`lattice token --secret_file=" << o.data_dir
                         << "/dev-secret --sub=me --rooms='*'`)";
    }
  } else if (alg == "RS256" || alg == "ES256") {
    key.algorithm =
        alg == "RS256" ? JwtAlgorithm::kRs256 : JwtAlgorithm::kEs256;
    auto pem = ReadFile(absl::GetFlag(FLAGS_jwt_public_key_file));
    if (!pem.ok()) return pem.status();
    key.material = *std::move(pem);
  } else {
    return absl::InvalidArgumentError(
        "--jwt_algorithm must be HS256, RS256 or ES256");
  }
  o.sync.jwt.keys.push_back(std::move(key));
  if (!absl::GetFlag(FLAGS_jwt_issuer).empty()) {
    o.sync.jwt.issuer = absl::GetFlag(FLAGS_jwt_issuer);
  }
  if (!absl::GetFlag(FLAGS_jwt_audience).empty()) {
    o.sync.jwt.audience = absl::GetFlag(FLAGS_jwt_audience);
  }
  return o;
}

}  // namespace
}  // namespace lattice::engine

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "lattice-server [--flags] [--flagfile=config]: the Lattice sync server");
  absl::ParseCommandLine(argc, argv);
  // Debian's Abseil is built without NDEBUG, which turns on absl::Mutex's
  // deadlock detection: a lock-graph update on every lock, visible in perf
  // profiles of presence fan-out. The tests keep it on; the server does not
  // need it.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // Block the signals in every thread; one waits for them below.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  auto options = lattice::engine::OptionsFromFlags();
  if (!options.ok()) {
    LATTICE_LOG(kError) << options.status();
    return 1;
  }
  const std::string data_dir = options->data_dir;
  const std::string listen = options->listen_address;
  auto node = lattice::engine::Node::Start(*std::move(options));
  if (!node.ok()) {
    LATTICE_LOG(kError) << node.status();
    return 1;
  }
  // The first line on stdout names the bound port, so scripts and tests that
  // start the server with --port=0 can find it.
  std::cout << "lattice-server " << lattice::engine::Version()
            << " listening on " << listen << ":" << (*node)->port()
            << " data_dir " << data_dir << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  LATTICE_LOG(kInfo) << "signal " << sig << ": shutting down";
  (*node)->Shutdown();
  return 0;
}
