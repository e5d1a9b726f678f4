// What the decoder fuzzers (update_decode_fuzzer, snapshot_decode_fuzzer)
// and tests/crdt/decode_robustness_test.cc check on arbitrary bytes, and the
// valid encodings that seed them.
//
//   std::string broken = CheckUpdateBytes(bytes);   // "" when all is well
//
// Properties (crdt/doc.h contracts): decoding untrusted bytes returns OK or
// an error Status of the documented codes, never crashes or hangs; a doc
// that accepted the bytes keeps its invariants (CheckInvariants aborts
// otherwise), exports JSON, and its snapshot is stable: load(encode(doc))
// encodes to the same bytes and exports the same JSON; a loaded snapshot
// serves the full history (ChangesSince({})) to a fresh replica, which ends
// with the same JSON.
//
// Thread safety: plain functions.
#ifndef LATTICE_TESTS_FUZZ_DECODE_CHECKS_H_
#define LATTICE_TESTS_FUZZ_DECODE_CHECKS_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace lattice::fuzz {

// Feeds `bytes` to Doc::ApplyUpdate on a fresh Doc and on a Doc with content
// (ContentSnapshot()). Returns "" or a description of the broken property.
std::string CheckUpdateBytes(absl::string_view bytes);

// Feeds `bytes` to Doc::LoadSnapshot. Returns "" or what broke.
std::string CheckSnapshotBytes(absl::string_view bytes);

// Valid encodings from small documents (maps, nested containers, lists,
// text with non-ASCII, counters, concurrent edits of two replicas, map
// shadows, deleted list elements holding containers, runs of backspaces).
// Deterministic: the same bytes on every run.
std::vector<std::string> SeedUpdates();    // Commit()s and ChangesSince()s
std::vector<std::string> SeedSnapshots();  // EncodeSnapshot()s

// The snapshot of the doc with content that CheckUpdateBytes applies to.
const std::string& ContentSnapshot();

}  // namespace lattice::fuzz

#endif  // LATTICE_TESTS_FUZZ_DECODE_CHECKS_H_
