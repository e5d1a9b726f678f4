// Byte-level encoding shared by every crdt/ format: LEB128 varints, zigzag
// signed varints, length-prefixed strings. The Reader never trusts its input:
// every read is bounds-checked and reports the byte offset of a failure, and
// nothing is allocated from a declared length before the bytes are there.
//
// Thread safety: Writer and Reader are single-threaded values.
#ifndef LATTICE_CRDT_INTERNAL_CODEC_H_
#define LATTICE_CRDT_INTERNAL_CODEC_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace lattice::crdt::internal {

class Writer {
 public:
  void Byte(uint8_t b) { out_.push_back(static_cast<char>(b)); }
  void Varint(uint64_t v);
  void SignedVarint(int64_t v) {
    Varint((static_cast<uint64_t>(v) << 1) ^ static_cast<uint64_t>(v >> 63));
  }
  void Fixed64(uint64_t v);          // little-endian
  void Bytes(absl::string_view s) {  // length-prefixed
    Varint(s.size());
    out_.append(s.data(), s.size());
  }
  void Raw(absl::string_view s) { out_.append(s.data(), s.size()); }
  size_t size() const { return out_.size(); }
  std::string& buffer() { return out_; }
  std::string Finish() && { return std::move(out_); }

 private:
  std::string out_;
};

// Reads from a view that must outlive the Reader. `what` names the format in
// error messages ("decode update: truncated varint at byte 17").
class Reader {
 public:
  Reader(absl::string_view data, absl::string_view what)
      : data_(data), what_(what) {}

  absl::StatusOr<uint8_t> Byte() {
    if (pos_ < data_.size()) return static_cast<uint8_t>(data_[pos_++]);
    return Error("truncated input");
  }
  absl::StatusOr<uint64_t> Varint() {
    // Most varints of a snapshot are one byte: that case inline.
    if (pos_ < data_.size() && static_cast<uint8_t>(data_[pos_]) < 0x80)
      return static_cast<uint8_t>(data_[pos_++]);
    return LongVarint();
  }
  absl::StatusOr<int64_t> SignedVarint();
  absl::StatusOr<uint64_t> Fixed64();
  // A varint that must be <= `max` (a count or length checked before use).
  absl::StatusOr<uint64_t> Bounded(uint64_t max, absl::string_view field);
  // A length-prefixed byte string; the view points into the input.
  absl::StatusOr<absl::string_view> Bytes();
  absl::StatusOr<absl::string_view> Raw(size_t n);

  size_t offset() const { return pos_; }
  absl::string_view what() const { return what_; }
  // The bytes not read yet; valid as long as the input.
  absl::string_view rest() const { return data_.substr(pos_); }
  size_t remaining() const { return data_.size() - pos_; }
  bool done() const { return pos_ == data_.size(); }

  // An InvalidArgument error "decode <what>: <message> at byte <offset>".
  absl::Status Error(absl::string_view message) const;

 private:
  absl::StatusOr<uint64_t> LongVarint();
  absl::string_view data_;
  absl::string_view what_;
  size_t pos_ = 0;
};

}  // namespace lattice::crdt::internal

#endif  // LATTICE_CRDT_INTERNAL_CODEC_H_
