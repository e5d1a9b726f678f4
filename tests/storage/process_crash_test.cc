// Process crash: a child (storage_crash_writer) appends and snapshots under
// load from several threads and prints each acknowledgement; we kill -9 it
// at a random moment, reopen the store, and check with the crash oracle that
// every acknowledged change is present and intact, no room's log has a hole
// and no snapshot is torn. The same directory carries over between cycles,
// so recovery itself is crashed too. Alternate cycles use kSync and kProcess
// (kProcess must also survive a process crash).
//
// Cycles: LATTICE_STORAGE_CRASH_CYCLES (default 20); seed:
// LATTICE_STORAGE_CRASH_SEED (default 1), printed on failure.
#include <chrono>
#include <cstdlib>
#include <random>
#include <signal.h>
#include <string>
#include <sys/wait.h>

#include "storage/room_store.h"
#include "tests/storage/crash_oracle.h"
#include "tests/storage/crash_workload.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/child_process.h"
#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::storage::testing {
namespace {

using ::lattice::testing::ChildProcess;
using ::lattice::testing::IsOk;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::stoull(v) : fallback;
}

TEST(ProcessCrash, AcknowledgedChangesSurviveKill9) {
  const uint64_t cycles = EnvOr("LATTICE_STORAGE_CRASH_CYCLES", 20);
  const uint64_t seed = EnvOr("LATTICE_STORAGE_CRASH_SEED", 1);
  SCOPED_TRACE(::testing::Message() << "LATTICE_STORAGE_CRASH_SEED=" << seed);
  std::mt19937_64 rng(seed);
  TempDir dir;
  ASSERT_FALSE(dir.path().empty());
  AckedHistory history;
  uint64_t cycles_with_acks = 0;

  for (uint64_t cycle = 0; cycle < cycles; ++cycle) {
    SCOPED_TRACE(::testing::Message() << "cycle " << cycle);
    const bool sync = cycle % 2 == 0;
    auto child = ChildProcess::Start({LATTICE_STORAGE_CRASH_WRITER, dir.path(),
                                      sync ? "sync" : "process",
                                      std::to_string(seed * 10000 + cycle)});
    ASSERT_THAT(child, IsOk());
    // Kill anywhere from during recovery to well into the load.
    const auto kill_at = std::chrono::steady_clock::now() +
                         std::chrono::milliseconds(rng() % 300);
    uint64_t acks = 0;
    auto record = [&](const std::string& line) {
      Ack ack;
      ASSERT_TRUE(ack.Parse(line)) << "bad line: " << line;
      ASSERT_THAT(ack.RecordIn(history), IsOk());
      ++acks;
    };
    while (true) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          kill_at - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      auto line = (*child)->ReadLine(left);
      if (!line.has_value()) continue;  // timeout (or early exit): re-check
      record(*line);
      if (HasFatalFailure()) return;
    }
    (*child)->Signal(SIGKILL);
    // Lines written before the kill are still in the pipe; EOF follows.
    for (int i = 0; i < 1'000'000; ++i) {
      auto line = (*child)->ReadLine(std::chrono::seconds(10));
      if (!line.has_value()) break;
      record(*line);
      if (HasFatalFailure()) return;
    }
    const int status = (*child)->Wait(std::chrono::seconds(30));
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
        << "child exited on its own, status " << status;
    if (acks > 0) ++cycles_with_acks;

    auto store = RoomStore::Open(dir.path(), RoomStoreOptions());
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT(history.Verify(**store), IsOk());
  }
  // The oracle had something to check in most cycles.
  EXPECT_GE(cycles_with_acks, cycles / 2);
  EXPECT_GT(history.appends(), 100u);
}

}  // namespace
}  // namespace lattice::storage::testing
