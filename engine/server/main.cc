// lattice-server: the composition root. Parses flags, prepares the data
// directory and serves until SIGINT/SIGTERM.
#include <csignal>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <string>
#include <system_error>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>

#include "base/logging.h"
#include "engine/admin_api.h"
#include "net/http_server.h"

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"

ABSL_FLAG(std::string, listen, "127.0.0.1", "address to listen on");
ABSL_FLAG(uint16_t, port, 7700, "TCP port (0 picks a free one)");
ABSL_FLAG(std::string, data_dir, "./data", "directory for the RocksDB store");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::string data_dir = absl::GetFlag(FLAGS_data_dir);
  std::error_code ec;
  std::filesystem::create_directories(data_dir, ec);
  if (ec) {
    LATTICE_LOG(kError) << "data dir " << data_dir << ": " << ec.message();
    return 1;
  }

  boost::asio::io_context ioc;
  lattice::net::HttpServer http(ioc, lattice::engine::HandleAdminRequest);
  auto port =
      http.Listen(absl::GetFlag(FLAGS_listen), absl::GetFlag(FLAGS_port));
  if (!port.ok()) {
    LATTICE_LOG(kError) << port.status();
    return 1;
  }
  // The first line on stdout names the bound port, so scripts and tests that
  // start the server with --port=0 can find it.
  std::cout << "lattice-server " << lattice::engine::Version()
            << " listening on " << absl::GetFlag(FLAGS_listen) << ":" << *port
            << " data_dir " << data_dir << std::endl;

  boost::asio::signal_set signals(ioc, SIGINT, SIGTERM);
  signals.async_wait([&](const boost::system::error_code&, int sig) {
    LATTICE_LOG(kInfo) << "signal " << sig << ": shutting down";
    http.Stop();
    ioc.stop();
  });
  ioc.run();
  return 0;
}
