// ChangeIterator streams a range of one room's change log, oldest first, one
// record at a time (bounded memory however long the range).
//
//   LATTICE_ASSIGN_OR_RETURN(auto it, store.ReadAfter(room, epoch, seq));
//   for (; it->Valid(); it->Next()) Send(it->seq(), it->bytes());
//   LATTICE_RETURN_IF_ERROR(it->status());
//
// An iterator reads a consistent point-in-time view of the store taken when
// it was created: later appends, trims and deletions are not visible to it.
//
// Thread safety: an iterator is not thread-safe (one thread at a time);
// distinct iterators may be used concurrently.
#ifndef LATTICE_STORAGE_CHANGE_ITERATOR_H_
#define LATTICE_STORAGE_CHANGE_ITERATOR_H_

#include "storage/types.h"

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace lattice::storage {

// REQUIRES: the RoomStore that created an iterator outlives it.
class ChangeIterator {
 public:
  ChangeIterator() = default;
  ChangeIterator(const ChangeIterator&) = delete;
  ChangeIterator& operator=(const ChangeIterator&) = delete;
  virtual ~ChangeIterator() = default;

  // True while positioned at a change. False at the end of the range or after
  // an error; then status() tells which.
  virtual bool Valid() const = 0;
  // Moves to the next change (seq() + 1).
  // REQUIRES: Valid().
  virtual void Next() = 0;

  // The current change. bytes() is the payload given to Append; the view is
  // valid until the next call to Next() or the iterator's destruction.
  // REQUIRES: Valid().
  virtual Seq seq() const = 0;
  virtual absl::Time append_time() const = 0;
  virtual absl::string_view bytes() const = 0;

  // OK while Valid() or after reaching the end of the range. Otherwise:
  // DataLoss when a record is corrupt or the log has a hole (the message
  // names the room and key); Unavailable on an I/O error.
  virtual absl::Status status() const = 0;
};

}  // namespace lattice::storage

#endif  // LATTICE_STORAGE_CHANGE_ITERATOR_H_
