#include "tests/storage/power_loss_fs.h"

#include <filesystem>
#include <system_error>
#include <utility>

#include "absl/strings/str_cat.h"

namespace lattice::storage::testing {
namespace {

std::string Parent(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string(".") : path.substr(0, slash);
}

std::string StripTrailingSlash(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

rocksdb::IOStatus PowerIsOff() {
  return rocksdb::IOStatus::IOError("simulated power loss");
}

// A writable file that reports appends and syncs to the file system.
class TrackedFile : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  TrackedFile(std::unique_ptr<rocksdb::FSWritableFile> target,
              PowerLossFileSystem& fs, std::string name, uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(target)),
        fs_(fs),
        name_(std::move(name)),
        size_(size) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_.CheckPower();
    if (s.ok()) s = target()->Append(data, options, dbg);
    if (s.ok()) s = fs_.OnAppend(name_, size_ += data.size());
    return s;
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& /*info*/,
                           rocksdb::IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data,
                                     uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_.CheckPower();
    if (s.ok()) s = target()->PositionedAppend(data, offset, options, dbg);
    if (s.ok()) {
      size_ = std::max(size_, offset + data.size());
      s = fs_.OnAppend(name_, size_);
    }
    return s;
  }
  rocksdb::IOStatus PositionedAppend(
      const rocksdb::Slice& data, uint64_t offset,
      const rocksdb::IOOptions& options,
      const rocksdb::DataVerificationInfo& /*info*/,
      rocksdb::IODebugContext* dbg) override {
    return PositionedAppend(data, offset, options, dbg);
  }
  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_.CheckPower();
    if (s.ok()) s = target()->Truncate(size, options, dbg);
    if (s.ok()) s = fs_.OnAppend(name_, size_ = size);
    return s;
  }
  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_.CheckPower();
    if (s.ok()) s = target()->Sync(options, dbg);
    // Re-checked after the sync: if power went while syncing, the sync did
    // not complete as far as anyone may rely on.
    if (s.ok()) s = fs_.OnSync(name_);
    return s;
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_.CheckPower();
    if (s.ok()) s = target()->Fsync(options, dbg);
    if (s.ok()) s = fs_.OnSync(name_);
    return s;
  }
  // RangeSync is only a hint (sync_file_range); never counted as durable.
  rocksdb::IOStatus Close(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->Close(options, dbg);  // release the fd
    rocksdb::IOStatus power = fs_.CheckPower();
    return power.ok() ? s : power;
  }

 private:
  PowerLossFileSystem& fs_;
  const std::string name_;
  uint64_t size_;
};

class TrackedDirectory : public rocksdb::FSDirectoryWrapper {
 public:
  TrackedDirectory(std::unique_ptr<rocksdb::FSDirectory> target,
                   PowerLossFileSystem& fs, std::string name)
      : FSDirectoryWrapper(std::move(target)),
        fs_(fs),
        name_(std::move(name)) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = fs_.CheckPower();
    if (s.ok()) s = FSDirectoryWrapper::Fsync(options, dbg);
    if (s.ok()) s = fs_.OnDirSync(name_);
    return s;
  }
  rocksdb::IOStatus FsyncWithDirOptions(
      const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
      const rocksdb::DirFsyncOptions& dir_options) override {
    rocksdb::IOStatus s = fs_.CheckPower();
    if (s.ok()) {
      s = FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options);
    }
    if (s.ok()) s = fs_.OnDirSync(name_);
    return s;
  }

 private:
  PowerLossFileSystem& fs_;
  const std::string name_;
};

}  // namespace

void PowerLossFileSystem::CutPower() {
  absl::MutexLock lock(&mu_);
  power_cut_ = true;
}

rocksdb::IOStatus PowerLossFileSystem::CheckPowerLocked() const {
  return power_cut_ ? PowerIsOff() : rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerLossFileSystem::CheckPower() const {
  absl::ReaderMutexLock lock(&mu_);
  return CheckPowerLocked();
}

rocksdb::IOStatus PowerLossFileSystem::OnAppend(const std::string& fname,
                                                uint64_t end) {
  absl::MutexLock lock(&mu_);
  if (power_cut_) return PowerIsOff();
  FileState& f = files_[fname];
  f.size = end;
  f.synced = std::min(f.synced, end);
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerLossFileSystem::OnSync(const std::string& fname) {
  absl::MutexLock lock(&mu_);
  if (power_cut_) return PowerIsOff();
  FileState& f = files_[fname];
  f.synced = f.size;
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerLossFileSystem::OnDirSync(const std::string& dir) {
  absl::MutexLock lock(&mu_);
  if (power_cut_) return PowerIsOff();
  const std::string d = StripTrailingSlash(dir);
  for (auto& [name, f] : files_) {
    if (Parent(name) == d) f.entry_synced = true;
  }
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerLossFileSystem::Track(
    const std::string& fname, bool existed,
    std::unique_ptr<rocksdb::FSWritableFile>* result) {
  uint64_t size = 0;
  {
    absl::MutexLock lock(&mu_);
    if (power_cut_) return PowerIsOff();
    FileState& f = files_[fname];
    f = FileState();
    f.entry_synced = existed;
  }
  *result =
      std::make_unique<TrackedFile>(std::move(*result), *this, fname, size);
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerLossFileSystem::NewWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = CheckPower();
  if (!s.ok()) return s;
  const bool existed = target()->FileExists(fname, {}, dbg).ok();
  s = target()->NewWritableFile(fname, options, result, dbg);
  return s.ok() ? Track(fname, existed, result) : s;
}

rocksdb::IOStatus PowerLossFileSystem::ReopenWritableFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = CheckPower();
  if (!s.ok()) return s;
  uint64_t size = 0;
  const bool existed = target()->GetFileSize(fname, {}, &size, dbg).ok();
  s = target()->ReopenWritableFile(fname, options, result, dbg);
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    if (power_cut_) return PowerIsOff();
    FileState& f = files_[fname];
    f.size = size;
    f.synced = size;  // what was there before is durable
    f.entry_synced = existed;
  }
  *result =
      std::make_unique<TrackedFile>(std::move(*result), *this, fname, size);
  return rocksdb::IOStatus::OK();
}

rocksdb::IOStatus PowerLossFileSystem::ReuseWritableFile(
    const std::string& fname, const std::string& old_fname,
    const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSWritableFile>* result,
    rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = CheckPower();
  if (!s.ok()) return s;
  s = target()->ReuseWritableFile(fname, old_fname, options, result, dbg);
  if (!s.ok()) return s;
  {
    absl::MutexLock lock(&mu_);
    files_.erase(old_fname);
  }
  return Track(fname, /*existed=*/false, result);
}

rocksdb::IOStatus PowerLossFileSystem::NewRandomRWFile(
    const std::string& fname, const rocksdb::FileOptions& options,
    std::unique_ptr<rocksdb::FSRandomRWFile>* result,
    rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = CheckPower();
  return s.ok() ? target()->NewRandomRWFile(fname, options, result, dbg) : s;
}

rocksdb::IOStatus PowerLossFileSystem::NewDirectory(
    const std::string& name, const rocksdb::IOOptions& options,
    std::unique_ptr<rocksdb::FSDirectory>* result,
    rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = target()->NewDirectory(name, options, result, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<TrackedDirectory>(std::move(*result), *this, name);
  return s;
}

rocksdb::IOStatus PowerLossFileSystem::DeleteFile(
    const std::string& fname, const rocksdb::IOOptions& options,
    rocksdb::IODebugContext* dbg) {
  absl::MutexLock lock(&mu_);
  if (power_cut_) return PowerIsOff();
  rocksdb::IOStatus s = target()->DeleteFile(fname, options, dbg);
  if (s.ok()) files_.erase(fname);
  return s;
}

rocksdb::IOStatus PowerLossFileSystem::RenameFile(
    const std::string& src, const std::string& dst,
    const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  absl::MutexLock lock(&mu_);
  if (power_cut_) return PowerIsOff();
  const bool dst_existed = target()->FileExists(dst, options, dbg).ok();
  rocksdb::IOStatus s = target()->RenameFile(src, dst, options, dbg);
  if (!s.ok()) return s;
  auto it = files_.find(src);
  if (it != files_.end()) {
    FileState moved = it->second;
    files_.erase(it);
    // Replacing an existing name is treated as durable (see header).
    moved.entry_synced = moved.entry_synced || dst_existed;
    files_[dst] = moved;
  } else {
    files_.erase(dst);
  }
  return s;
}

rocksdb::IOStatus PowerLossFileSystem::LinkFile(
    const std::string& src, const std::string& dst,
    const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = CheckPower();
  return s.ok() ? target()->LinkFile(src, dst, options, dbg) : s;
}

rocksdb::IOStatus PowerLossFileSystem::Truncate(
    const std::string& fname, size_t size, const rocksdb::IOOptions& options,
    rocksdb::IODebugContext* dbg) {
  rocksdb::IOStatus s = CheckPower();
  if (s.ok()) s = target()->Truncate(fname, size, options, dbg);
  if (s.ok()) {
    absl::MutexLock lock(&mu_);
    auto it = files_.find(fname);
    if (it != files_.end()) {
      it->second.size = size;
      it->second.synced = std::min<uint64_t>(it->second.synced, size);
    }
  }
  return s;
}

absl::Status PowerLossFileSystem::ApplyLoss(uint64_t* dropped_bytes) {
  absl::MutexLock lock(&mu_);
  if (!power_cut_) return absl::FailedPreconditionError("power not cut");
  uint64_t dropped = 0;
  for (const auto& [name, f] : files_) {
    uint64_t actual = 0;
    if (!target()->GetFileSize(name, {}, &actual, nullptr).ok()) continue;
    // The posix FileSystem has no Truncate: edit the real file directly.
    std::error_code ec;
    if (!f.entry_synced) {
      std::filesystem::remove(name, ec);
      dropped += actual;
    } else if (actual > f.synced) {
      std::filesystem::resize_file(name, f.synced, ec);
      dropped += actual - f.synced;
    }
    if (ec) {
      return absl::InternalError(
          absl::StrCat("apply power loss to ", name, ": ", ec.message()));
    }
  }
  files_.clear();
  if (dropped_bytes != nullptr) *dropped_bytes = dropped;
  return absl::OkStatus();
}

}  // namespace lattice::storage::testing
