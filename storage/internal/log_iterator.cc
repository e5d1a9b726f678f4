#include "storage/internal/log_iterator.h"

#include <utility>

#include "storage/internal/format.h"
#include "storage/internal/rocksdb_status.h"

#include "absl/strings/str_cat.h"

namespace lattice::storage::internal {

LogIterator::LogIterator(rocksdb::DB& db,
                         rocksdb::ColumnFamilyHandle* changes_cf,
                         std::unique_ptr<ReadView> view, absl::string_view room,
                         Seq first, Seq last)
    : room_(room), last_(last), expected_(first), view_(std::move(view)) {
  if (first > last) return;  // empty range
  upper_ = ChangeKey(room, last + 1);
  upper_slice_ = ToSlice(upper_);
  rocksdb::ReadOptions ro = view_->options();
  ro.iterate_upper_bound = &upper_slice_;
  it_.reset(db.NewIterator(ro, changes_cf));
  it_->Seek(ToSlice(ChangeKey(room, first)));
  Load();
}

void LogIterator::Next() {
  if (!valid_) return;  // REQUIRES violated; stay at the end
  valid_ = false;
  it_->Next();
  Load();
}

void LogIterator::Load() {
  valid_ = false;
  if (!it_->Valid()) {
    if (!it_->status().ok()) {
      status_ =
          FromRocksDb(it_->status(), absl::StrCat("read log of room ", room_));
    } else if (expected_ <= last_) {
      status_ = CorruptionError(kChangesCf, room_, ChangeKey(room_, expected_),
                                absl::StrCat("log ends before seq ", expected_,
                                             " (want through ", last_, ")"));
    }
    return;
  }
  const absl::string_view key = ToStringView(it_->key());
  absl::StatusOr<Seq> seq = DecodeChangeKey(room_, key);
  if (!seq.ok()) {
    status_ = seq.status();
    return;
  }
  if (*seq != expected_) {
    status_ = CorruptionError(
        kChangesCf, room_, key,
        absl::StrCat("hole in log: want seq ", expected_, ", found ", *seq));
    return;
  }
  absl::StatusOr<ChangeRecord> record =
      DecodeChangeValue(room_, key, ToStringView(it_->value()));
  if (!record.ok()) {
    status_ = record.status();
    return;
  }
  seq_ = *seq;
  append_micros_ = record->append_micros;
  bytes_ = record->payload;
  ++expected_;
  valid_ = true;
}

}  // namespace lattice::storage::internal
