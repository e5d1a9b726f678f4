// StoreExecutor: runs work off the caller's thread, delivers each result to
// its completion, pushes back when its queue is full, and drains on shutdown.
#include "storage/store_executor.h"

#include <atomic>
#include <string>
#include <vector>

#include "storage/room_store.h"
#include "tests/storage/storage_test_util.h"
#include "tests/testing/status_matchers.h"

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace lattice::storage::testing {
namespace {

using ::lattice::testing::IsOk;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;

TEST(StoreExecutor, RunsStoreCallsAndDeliversResults) {
  TempDir dir;
  auto store = RoomStore::Open(dir.path(), RoomStoreOptions());
  ASSERT_THAT(store, IsOk());
  RoomStore* s = store->get();
  constexpr int kCalls = 64;
  absl::Mutex mu;
  std::vector<Seq> seqs;
  int failures = 0;
  const std::thread::id caller = std::this_thread::get_id();
  bool ran_on_caller = false;
  {
    StoreExecutor executor(
        StoreExecutorOptions{.threads = 4, .max_queued = 128});
    for (int i = 0; i < kCalls; ++i) {
      ASSERT_THAT(executor.Run(
                      [s, i] {
                        const std::string c = "change-" + std::to_string(i);
                        const absl::string_view one[] = {c};
                        return s->Append("room", one);
                      },
                      [&](absl::StatusOr<AppendResult> r) {
                        absl::MutexLock lock(&mu);
                        if (std::this_thread::get_id() == caller) {
                          ran_on_caller = true;
                        }
                        if (r.ok()) {
                          seqs.push_back(r->first_seq);
                        } else {
                          ++failures;
                        }
                      }),
                  IsOk());
    }
  }  // Shutdown drains
  absl::MutexLock lock(&mu);
  EXPECT_EQ(failures, 0);
  EXPECT_FALSE(ran_on_caller);
  std::sort(seqs.begin(), seqs.end());
  EXPECT_EQ(seqs, Range(1, kCalls));
}

TEST(StoreExecutor, RejectsWhenTheQueueIsFull) {
  StoreExecutor executor(StoreExecutorOptions{.threads = 1, .max_queued = 2});
  absl::Notification started, release;
  std::atomic<int> ran{0};
  ASSERT_THAT(executor.Submit([&] {
    started.Notify();
    release.WaitForNotificationWithTimeout(absl::Seconds(30));
    ++ran;
  }),
              IsOk());
  ASSERT_TRUE(started.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_THAT(executor.Submit([&] { ++ran; }), IsOk());
  EXPECT_THAT(executor.Submit([&] { ++ran; }), IsOk());
  EXPECT_EQ(executor.queued(), 2u);
  EXPECT_THAT(
      executor.Submit([&] { ++ran; }),
      StatusIs(absl::StatusCode::kResourceExhausted, HasSubstr("limit 2")));
  release.Notify();
  executor.Shutdown();
  EXPECT_EQ(ran.load(), 3);
}

TEST(StoreExecutor, ShutdownDrainsQueuedTasksThenRejects) {
  StoreExecutor executor(
      StoreExecutorOptions{.threads = 2, .max_queued = 1000});
  std::atomic<int> ran{0};
  for (int i = 0; i < 500; ++i) {
    ASSERT_THAT(executor.Submit([&] { ++ran; }), IsOk());
  }
  executor.Shutdown();
  EXPECT_EQ(ran.load(), 500);
  EXPECT_THAT(
      executor.Submit([&] { ++ran; }),
      StatusIs(absl::StatusCode::kFailedPrecondition, HasSubstr("shut down")));
  executor.Shutdown();  // idempotent
  EXPECT_EQ(ran.load(), 500);
}

}  // namespace
}  // namespace lattice::storage::testing
