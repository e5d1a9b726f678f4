// Byte blocks packed with canonical Huffman codes, the entropy coder of the
// snapshot format (docs/crdt.md, "Snapshot (format 2)"). Written here rather
// than taken from zlib/lz4/zstd because crdt/ depends on std and Abseil only
// (it must compile to WebAssembly). The code of each byte depends on the
// byte before it (a code per frequent previous byte, one shared by the
// rest): for text that is most of what an order-1 model gains (automerge-
// paper's text: 105 KB raw, 65 KB order-0, 51 KB here), and the snapshot's
// flag columns repeat patterns of neighbouring runs the same way.
//
//   Writer w;
//   EncodePacked(column, w);                  // raw or Huffman, the smaller
//   Reader r(w.buffer(), "snapshot");
//   absl::StatusOr<std::string> back = DecodePacked(r);
//
// The encoding is a function of the input bytes only (canonical), so equal
// snapshots stay byte-equal. The decoder never trusts its input: the output
// size is bounded by the input before allocating, the code must be complete,
// and the bit stream must end exactly, with zero padding.
//
// Thread safety: free functions on caller-owned values.
#ifndef LATTICE_CRDT_INTERNAL_HUFFMAN_H_
#define LATTICE_CRDT_INTERNAL_HUFFMAN_H_

#include <string>

#include "crdt/internal/codec.h"

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt::internal {

// Appends `bytes` as a packed block: u8 0 and a length-prefixed copy, or u8 1
// and Huffman codes with 0, 8, 16, 32 or 64 contexts, whichever is smallest
// (ties to the raw form, then to fewer contexts).
void EncodePacked(absl::string_view bytes, Writer& w);

// Reads a block written by EncodePacked. InvalidArgument (naming the offset
// in `r`) on malformed input.
absl::StatusOr<std::string> DecodePacked(Reader& r);

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_HUFFMAN_H_
