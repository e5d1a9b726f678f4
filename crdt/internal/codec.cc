#include "crdt/internal/codec.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace lattice::crdt::internal {

void Writer::Varint(uint64_t v) {
  while (v >= 0x80) {
    out_.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out_.push_back(static_cast<char>(v));
}

void Writer::Fixed64(uint64_t v) {
  for (int i = 0; i < 8; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
}

absl::Status Reader::Error(absl::string_view message) const {
  return absl::InvalidArgumentError(
      absl::StrCat("decode ", what_, ": ", message, " at byte ", pos_));
}

absl::StatusOr<uint64_t> Reader::LongVarint() {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (pos_ >= data_.size()) return Error("truncated varint");
    const uint8_t b = static_cast<uint8_t>(data_[pos_++]);
    if (shift == 63 && b > 1) return Error("varint overflows 64 bits");
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (b < 0x80) return v;
  }
  return Error("varint longer than 10 bytes");
}

absl::StatusOr<int64_t> Reader::SignedVarint() {
  auto v = Varint();
  if (!v.ok()) return v.status();
  return static_cast<int64_t>((*v >> 1) ^ (~(*v & 1) + 1));
}

absl::StatusOr<uint64_t> Reader::Fixed64() {
  if (remaining() < 8) return Error("truncated fixed64");
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) {
    v |= static_cast<uint64_t>(static_cast<uint8_t>(data_[pos_ + i]))
         << (8 * i);
  }
  pos_ += 8;
  return v;
}

absl::StatusOr<uint64_t> Reader::Bounded(uint64_t max,
                                         absl::string_view field) {
  const size_t start = pos_;
  auto v = Varint();
  if (!v.ok()) return v.status();
  if (*v > max) {
    pos_ = start;
    return Error(absl::StrCat(field, " ", *v, " exceeds limit ", max));
  }
  return v;
}

absl::StatusOr<absl::string_view> Reader::Bytes() {
  const size_t start = pos_;
  auto n = Varint();
  if (!n.ok()) return n.status();
  if (*n > remaining()) {
    const size_t left = remaining();
    pos_ = start;
    return Error(
        absl::StrCat("length ", *n, " exceeds the ", left, " bytes left"));
  }
  return Raw(static_cast<size_t>(*n));
}

absl::StatusOr<absl::string_view> Reader::Raw(size_t n) {
  if (n > remaining()) return Error("truncated bytes");
  absl::string_view v = data_.substr(pos_, n);
  pos_ += n;
  return v;
}

}  // namespace lattice::crdt::internal
