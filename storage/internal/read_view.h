// ReadView: a consistent point-in-time view of the store (a RocksDB snapshot)
// for reads that must agree with each other, e.g. a room's metadata and its
// log tail.
//
// Thread safety: const methods are safe to call concurrently.
#ifndef LATTICE_STORAGE_INTERNAL_READ_VIEW_H_
#define LATTICE_STORAGE_INTERNAL_READ_VIEW_H_

#include <memory>
#include <optional>
#include <string>

#include <rocksdb/db.h>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::storage::internal {

// REQUIRES: `db` outlives the view.
class ReadView {
 public:
  explicit ReadView(rocksdb::DB& db);
  ReadView(const ReadView&) = delete;
  ReadView& operator=(const ReadView&) = delete;
  ~ReadView();

  // Reads options pinned to the view's snapshot.
  rocksdb::ReadOptions options() const;

  // Returns the value of `key` in `cf`, or nullopt when absent.
  // Errors: as internal::FromRocksDb, with `what` in the message.
  absl::StatusOr<std::optional<std::string>> Get(
      rocksdb::ColumnFamilyHandle* cf, absl::string_view key,
      absl::string_view what) const;

 private:
  rocksdb::DB& db_;
  const rocksdb::Snapshot* const snapshot_;
};

// Converts between the two string view types (absl::string_view is not
// std::string_view in this Abseil build).
inline rocksdb::Slice ToSlice(absl::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}
inline absl::string_view ToStringView(const rocksdb::Slice& s) {
  return absl::string_view(s.data(), s.size());
}

}  // namespace lattice::storage::internal

#endif  // LATTICE_STORAGE_INTERNAL_READ_VIEW_H_
