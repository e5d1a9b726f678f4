// LogIterator: the ChangeIterator over one room's change records in RocksDB.
// It checks every record it yields: the keys must be exactly first, first+1,
// ..., last of the room (a missing or extra key is a hole, DataLoss) and every
// value must decode.
//
// Thread safety: as ChangeIterator (one thread at a time).
#ifndef LATTICE_STORAGE_INTERNAL_LOG_ITERATOR_H_
#define LATTICE_STORAGE_INTERNAL_LOG_ITERATOR_H_

#include <cstdint>
#include <memory>
#include <string>

#include <rocksdb/db.h>

#include "storage/change_iterator.h"
#include "storage/internal/read_view.h"
#include "storage/types.h"

namespace lattice::storage::internal {

class LogIterator final : public ChangeIterator {
 public:
  // Streams changes first..last of `room` as seen by `view` (empty when
  // first > last).
  // REQUIRES: `db` and `changes_cf` outlive the iterator; `view` is of `db`.
  LogIterator(rocksdb::DB& db, rocksdb::ColumnFamilyHandle* changes_cf,
              std::unique_ptr<ReadView> view, absl::string_view room, Seq first,
              Seq last);

  bool Valid() const override { return valid_; }
  void Next() override;
  Seq seq() const override { return seq_; }
  absl::Time append_time() const override {
    return absl::FromUnixMicros(append_micros_);
  }
  absl::string_view bytes() const override { return bytes_; }
  absl::Status status() const override { return status_; }

 private:
  // Validates and decodes the record under it_; sets valid_ or status_.
  void Load();

  const std::string room_;
  const Seq last_;
  Seq expected_;  // seq the next record must have
  // Declared before it_: the upper bound and the snapshot must outlive it.
  std::unique_ptr<ReadView> view_;
  std::string upper_;
  rocksdb::Slice upper_slice_;
  std::unique_ptr<rocksdb::Iterator> it_;

  bool valid_ = false;
  absl::Status status_;
  Seq seq_ = 0;
  int64_t append_micros_ = 0;
  absl::string_view bytes_;
};

}  // namespace lattice::storage::internal

#endif  // LATTICE_STORAGE_INTERNAL_LOG_ITERATOR_H_
