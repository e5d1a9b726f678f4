// Converts rocksdb::Status to absl::Status; the only place that does.
//
// Thread safety: stateless, safe from any thread.
#ifndef LATTICE_STORAGE_INTERNAL_ROCKSDB_STATUS_H_
#define LATTICE_STORAGE_INTERNAL_ROCKSDB_STATUS_H_

#include <rocksdb/status.h>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace lattice::storage::internal {

// Maps `s` following absl/status/status.h guidance: Corruption -> DataLoss,
// NotFound -> NotFound, NoSpace -> ResourceExhausted, other I/O errors, Busy,
// TimedOut, TryAgain and ShutdownInProgress -> Unavailable, InvalidArgument ->
// InvalidArgument, NotSupported -> Unimplemented, Aborted -> Aborted,
// anything else -> Internal. The message reads "storage: <what>: <rocksdb>".
absl::Status FromRocksDb(const rocksdb::Status& s, absl::string_view what);

}  // namespace lattice::storage::internal

#endif  // LATTICE_STORAGE_INTERNAL_ROCKSDB_STATUS_H_
