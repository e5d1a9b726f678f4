// storage_crash_writer: the child of the kill -9 test (process_crash_test.cc).
//
//   storage_crash_writer <dir> <sync|process> <seed>
//
// Opens the store in <dir> and applies the crash workload until killed (or
// for at most 60 s), printing one line per acknowledgement to stdout with a
// single write(2) after the call returned, so the parent knows exactly what
// was acknowledged before the kill.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>
#include <thread>
#include <unistd.h>

#include "storage/room_store.h"
#include "tests/storage/crash_workload.h"

int main(int argc, char** argv) {
  using namespace lattice::storage;
  if (argc != 4) {
    std::fprintf(stderr, "usage: %s <dir> <sync|process> <seed>\n", argv[0]);
    return 2;
  }
  RoomStoreOptions options;
  options.durability = std::string(argv[2]) == "process" ? Durability::kProcess
                                                         : Durability::kSync;
  // Small memtables so flushes (new WALs, SSTs, MANIFEST edits) happen under
  // the kill too; a short window so snapshots trim.
  options.write_buffer_bytes = 64 << 10;
  options.replay_window_changes = 20;
  options.replay_window_age = absl::ZeroDuration();
  auto store = RoomStore::Open(argv[1], options);
  if (!store.ok()) {
    std::fprintf(stderr, "open: %s\n", store.status().ToString().c_str());
    return 1;
  }
  testing::WorkloadOptions load;
  load.seed = std::stoull(argv[3]);
  std::atomic<bool> stop{false};
  std::thread timer([&stop] {
    for (int i = 0; i < 600 && !stop.load(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    stop = true;
  });
  testing::RunWorkload(**store, load, stop, [](const testing::Ack& ack) {
    const std::string line = ack.ToLine();
    // One write per line: lines from concurrent threads never interleave.
    if (write(STDOUT_FILENO, line.data(), line.size()) < 0) std::_Exit(3);
  });
  stop = true;
  timer.join();
  return 0;
}
