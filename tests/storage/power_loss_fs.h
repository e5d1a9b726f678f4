// PowerLossFileSystem: a rocksdb::FileSystemWrapper that simulates losing
// power (the idea of leveldb's db/fault_injection_test.cc).
//
// It tracks, for every file written through it, how many bytes were appended
// and how many were covered by the last Sync/Fsync, and which files were
// created since their directory was last fsynced. CutPower() makes every
// later mutating call fail, as if nothing more reached the disk; after the DB
// is closed, ApplyLoss() rewrites the directory into what a power loss would
// leave: each tracked file truncated to its synced size, each file whose
// directory entry was never synced deleted.
//
// Not modelled (all benign for RocksDB, which never relies on them): deletes
// and renames are durable at once; renaming over an existing file keeps the
// new contents.
//
// Thread safety: safe for concurrent use (RocksDB's threads call it).
#ifndef LATTICE_TESTS_STORAGE_POWER_LOSS_FS_H_
#define LATTICE_TESTS_STORAGE_POWER_LOSS_FS_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include <rocksdb/file_system.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"

namespace lattice::storage::testing {

class PowerLossFileSystem : public rocksdb::FileSystemWrapper {
 public:
  explicit PowerLossFileSystem(std::shared_ptr<rocksdb::FileSystem> base)
      : FileSystemWrapper(std::move(base)) {}

  const char* Name() const override { return "PowerLossFileSystem"; }

  // From now on every write, sync, create, rename and delete fails.
  void CutPower() ABSL_LOCKS_EXCLUDED(mu_);
  // Applies the loss to the real directory (on the local file system). Returns
  // how many bytes were dropped (truncated or in deleted files) through
  // `dropped_bytes`. REQUIRES: CutPower() was called and the DB using this file
  // system is closed.
  absl::Status ApplyLoss(uint64_t* dropped_bytes = nullptr)
      ABSL_LOCKS_EXCLUDED(mu_);

  rocksdb::IOStatus NewWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& fname, const std::string& old_fname,
      const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewRandomRWFile(
      const std::string& fname, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSRandomRWFile>* result,
      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name,
                                 const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& dst,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus LinkFile(const std::string& src, const std::string& dst,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus Truncate(const std::string& fname, size_t size,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override;

  // Called by the tracked files and directories.
  rocksdb::IOStatus CheckPowerLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  rocksdb::IOStatus OnAppend(const std::string& fname, uint64_t end)
      ABSL_LOCKS_EXCLUDED(mu_);
  rocksdb::IOStatus OnSync(const std::string& fname) ABSL_LOCKS_EXCLUDED(mu_);
  rocksdb::IOStatus OnDirSync(const std::string& dir) ABSL_LOCKS_EXCLUDED(mu_);
  rocksdb::IOStatus CheckPower() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct FileState {
    uint64_t size = 0;          // bytes appended (the file's length)
    uint64_t synced = 0;        // bytes covered by the last sync
    bool entry_synced = false;  // its directory was fsynced since creation
  };
  rocksdb::IOStatus Track(const std::string& fname, bool existed,
                          std::unique_ptr<rocksdb::FSWritableFile>* result)
      ABSL_LOCKS_EXCLUDED(mu_);

  mutable absl::Mutex mu_;
  bool power_cut_ ABSL_GUARDED_BY(mu_) = false;
  std::map<std::string, FileState> files_ ABSL_GUARDED_BY(mu_);
};

}  // namespace lattice::storage::testing

#endif  // LATTICE_TESTS_STORAGE_POWER_LOSS_FS_H_
