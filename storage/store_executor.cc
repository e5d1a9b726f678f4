#include "storage/store_executor.h"

#include "base/logging.h"

#include "absl/strings/str_cat.h"

namespace lattice::storage {

StoreExecutor::StoreExecutor(const StoreExecutorOptions& options)
    : max_queued_(options.max_queued) {
  LATTICE_CHECK(options.threads >= 1) << "threads=" << options.threads;
  LATTICE_CHECK(options.max_queued >= 1);
  absl::MutexLock lock(&shutdown_mu_);
  workers_.reserve(static_cast<size_t>(options.threads));
  for (int i = 0; i < options.threads; ++i) {
    workers_.emplace_back([this] { WorkerLoop(); });
  }
}

StoreExecutor::~StoreExecutor() { Shutdown(); }

absl::Status StoreExecutor::Submit(absl::AnyInvocable<void()> task) {
  absl::MutexLock lock(&mu_);
  if (stopping_) {
    return absl::FailedPreconditionError(
        "storage executor: shut down; task rejected");
  }
  if (tasks_.size() >= max_queued_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("storage executor: ", tasks_.size(),
                     " tasks queued (limit ", max_queued_, ")"));
  }
  tasks_.push_back(std::move(task));
  work_available_.Signal();
  return absl::OkStatus();
}

void StoreExecutor::Shutdown() {
  absl::MutexLock shutdown_lock(&shutdown_mu_);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    work_available_.SignalAll();
  }
  for (std::thread& t : workers_) t.join();
  workers_.clear();
}

size_t StoreExecutor::queued() const {
  absl::MutexLock lock(&mu_);
  return tasks_.size();
}

void StoreExecutor::WorkerLoop() {
  while (true) {
    absl::AnyInvocable<void()> task;
    {
      absl::MutexLock lock(&mu_);
      while (tasks_.empty() && !stopping_) work_available_.Wait(&mu_);
      if (tasks_.empty()) return;  // stopping and drained
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();
  }
}

}  // namespace lattice::storage
