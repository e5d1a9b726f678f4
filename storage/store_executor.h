// StoreExecutor: a small fixed thread pool that runs blocking RoomStore calls
// off the caller's thread and hands each result to a completion callback.
//
//   StoreExecutor executor({.threads = 8});
//   absl::Status s = executor.Run(
//       [store, room, bytes] { return store->Append(room, {bytes}); },
//       [strand, self](absl::StatusOr<AppendResult> r) {
//         asio::post(strand, [self, r = std::move(r)] { self->OnAppended(r);
//         });
//       });
//   if (!s.ok()) { /* queue full or shut down: shed load, tell the client */ }
//
// The completion runs on the pool thread that ran the work, right after it;
// it should only post the result to where it belongs (the room's strand) and
// must not block. Backpressure is explicit: Submit never blocks and fails with
// ResourceExhausted when `max_queued` tasks already wait for a thread.
//
// Sizing: in kSync mode a store call occupies its thread until the fsync of
// its group returns, and only calls in flight can share that fsync, so
// `threads` bounds the group-commit width (see docs/storage.md).
//
// Thread safety: safe for concurrent use by any number of threads.
#ifndef LATTICE_STORAGE_STORE_EXECUTOR_H_
#define LATTICE_STORAGE_STORE_EXECUTOR_H_

#include <cstddef>
#include <deque>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace lattice::storage {

struct StoreExecutorOptions {
  // Worker threads.
  // Default: 8
  int threads = 8;
  // Tasks that may wait for a worker; Submit fails beyond this.
  // Default: 4096
  size_t max_queued = 4096;
};

class StoreExecutor {
 public:
  // Starts the workers.
  // REQUIRES: options.threads >= 1, options.max_queued >= 1.
  explicit StoreExecutor(const StoreExecutorOptions& options);
  StoreExecutor(const StoreExecutor&) = delete;
  StoreExecutor& operator=(const StoreExecutor&) = delete;
  // Shutdown().
  ~StoreExecutor();

  // Queues `task` to run once on a worker.
  // Errors: ResourceExhausted when max_queued tasks are waiting;
  // FailedPrecondition after Shutdown() began. `task` is dropped on error.
  [[nodiscard]] absl::Status Submit(absl::AnyInvocable<void()> task)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Runs `done(work())` on a worker. Errors: as Submit (then neither runs).
  template <typename Work, typename Done>
  [[nodiscard]] absl::Status Run(Work work, Done done) {
    return Submit([work = std::move(work), done = std::move(done)]() mutable {
      done(work());
    });
  }

  // Stops accepting tasks, runs every task already queued, and joins the
  // workers. Idempotent.
  // REQUIRES: not called from a task.
  void Shutdown() ABSL_LOCKS_EXCLUDED(mu_);

  // Tasks waiting for a worker (not counting running ones).
  size_t queued() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void WorkerLoop() ABSL_LOCKS_EXCLUDED(mu_);

  // Immutable after construction.
  const size_t max_queued_;

  mutable absl::Mutex mu_;
  absl::CondVar work_available_;
  std::deque<absl::AnyInvocable<void()>> tasks_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;

  // Touched only by the constructor and Shutdown (under shutdown_mu_).
  absl::Mutex shutdown_mu_;
  std::vector<std::thread> workers_ ABSL_GUARDED_BY(shutdown_mu_);
};

}  // namespace lattice::storage

#endif  // LATTICE_STORAGE_STORE_EXECUTOR_H_
