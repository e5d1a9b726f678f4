// Read receipts as per-user high-water marks in a durable document: a
// max-register map built from plain Map entries, so they merge like any
// other change, survive reconnects and appear in replay (docs/crdt.md,
// "Read marks").
//
//   auto receipts = doc.MapSetContainer(kRootId, "receipts", kMap);  // once
//   RETURN_IF_ERROR(SetReadMark(doc, *receipts, "ada", 42));  // then Commit
//   absl::StatusOr<int64_t> mark = ReadMark(doc, *receipts, "ada");  // 42
//
// Layout: key "<user>\x1f<replica>" -> Int. Each replica writes only its
// own key and only raises it, so no two replicas ever write one key and
// last-writer-wins never lowers a mark; a user's mark is the maximum over
// that user's keys (one per device). No nested container per user: two
// devices creating one concurrently would hide each other's writes.
//
// Thread safety: as the Doc (not thread-safe).
#ifndef LATTICE_CRDT_READ_MARKS_H_
#define LATTICE_CRDT_READ_MARKS_H_

#include <cstdint>
#include <map>
#include <string>

#include "crdt/doc.h"

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt {

// Raises `user`'s mark to `mark` as this replica; a lower or equal mark
// changes nothing. Errors: the Doc's (NotFound / FailedPrecondition for a
// `receipts` that is not a Map), InvalidArgument for a user id that is empty,
// not UTF-8 or contains '\x1f'.
[[nodiscard]] absl::Status SetReadMark(Doc& doc, ContainerId receipts,
                                       absl::string_view user, int64_t mark);

// The highest mark of `user` over every replica. Errors: NotFound when the
// user has none; the Doc's for `receipts`.
[[nodiscard]] absl::StatusOr<int64_t> ReadMark(const Doc& doc,
                                               ContainerId receipts,
                                               absl::string_view user);

// Every user's mark, by user id.
[[nodiscard]] absl::StatusOr<std::map<std::string, int64_t>> ReadMarks(
    const Doc& doc, ContainerId receipts);

}  // namespace lattice::crdt

#endif  // LATTICE_CRDT_READ_MARKS_H_
