#include "storage/internal/read_view.h"

#include "storage/internal/rocksdb_status.h"

namespace lattice::storage::internal {

ReadView::ReadView(rocksdb::DB& db) : db_(db), snapshot_(db.GetSnapshot()) {}

ReadView::~ReadView() { db_.ReleaseSnapshot(snapshot_); }

rocksdb::ReadOptions ReadView::options() const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot_;
  return ro;
}

absl::StatusOr<std::optional<std::string>> ReadView::Get(
    rocksdb::ColumnFamilyHandle* cf, absl::string_view key,
    absl::string_view what) const {
  std::string value;
  rocksdb::Status s = db_.Get(options(), cf, ToSlice(key), &value);
  if (s.IsNotFound()) return std::nullopt;
  if (!s.ok()) return FromRocksDb(s, what);
  return value;
}

}  // namespace lattice::storage::internal
