// The update wire format (docs/crdt.md, "Update format"): ops grouped into
// per-replica blocks of consecutive ids, replica ids interned in a table.
//
// EncodeUpdate REQUIRES ops sorted by (replica, counter) with no overlap;
// consecutive ops of one replica share a block. DecodeUpdate never trusts its
// input: every count is bounded by the bytes that remain before anything is
// allocated, and every failure says what and at which byte.
#ifndef LATTICE_CRDT_INTERNAL_UPDATE_CODEC_H_
#define LATTICE_CRDT_INTERNAL_UPDATE_CODEC_H_

#include <string>
#include <vector>

#include "crdt/internal/codec.h"
#include "crdt/internal/op.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt::internal {

inline constexpr uint8_t kUpdateFormatVersion = 1;

std::string EncodeUpdate(const std::vector<Op>& ops);
absl::StatusOr<std::vector<Op>> DecodeUpdate(absl::string_view bytes);

// Value encoding shared with the snapshot format.
void EncodeValue(const Value& v, Writer& w);
absl::StatusOr<Value> DecodeValue(Reader& r);

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_UPDATE_CODEC_H_
