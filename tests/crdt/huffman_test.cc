#include "crdt/internal/huffman.h"

#include <cstdint>
#include <random>
#include <string>

#include "tests/testing/status_matchers.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Oracle: DecodePacked(EncodePacked(x)) == x for any bytes, the encoding is
// a function of the bytes (canonical) and never larger than a raw copy plus
// its header, and a decoder fed malformed blocks fails with InvalidArgument
// instead of crashing or allocating what the input cannot back.
namespace lattice::crdt::internal {
namespace {

using ::lattice::testing::IsOkAndHolds;
using ::lattice::testing::StatusIs;
using ::testing::HasSubstr;

std::string Pack(const std::string& bytes) {
  Writer w;
  EncodePacked(bytes, w);
  return std::move(w).Finish();
}

// Skewed bytes like a snapshot column: a few symbols dominate.
std::string Skewed(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t r = rng() % 100;
    s.push_back(r < 60 ? 'e' : r < 85 ? 't' : static_cast<char>(rng() % 256));
  }
  return s;
}

TEST(Huffman, RoundTripsAndIsCanonical) {
  std::string all_symbols;
  for (int i = 0; i < 256 * 4; ++i) all_symbols.push_back(static_cast<char>(i));
  const std::string inputs[] = {
      "",         "a", std::string(1000, 'x'), Skewed(5000, 1), Skewed(40, 2),
      all_symbols};
  for (const std::string& in : inputs) {
    const std::string packed = Pack(in);
    EXPECT_EQ(packed, Pack(in));
    EXPECT_LE(packed.size(), in.size() + 11);
    Reader r(packed, "test");
    EXPECT_THAT(DecodePacked(r), IsOkAndHolds(in));
    EXPECT_TRUE(r.done());
  }
  EXPECT_LT(Pack(Skewed(5000, 1)).size(), 5000u * 6 / 10);
  EXPECT_LT(Pack(std::string(1000, 'x')).size(), 200u);
}

TEST(Huffman, LongCodesAreLimited) {
  // Fibonacci-like counts give a degenerate tree deeper than 12 bits.
  std::string in;
  uint64_t a = 1, b = 1;
  for (int s = 0; s < 20; ++s) {
    in.append(a, static_cast<char>('a' + s));
    const uint64_t c = a + b;
    a = b;
    b = c;
  }
  const std::string packed = Pack(in);
  Reader r(packed, "test");
  EXPECT_THAT(DecodePacked(r), IsOkAndHolds(in));
}

TEST(Huffman, MalformedBlocksAreRejected) {
  const std::string good = Pack(Skewed(2000, 3));
  ASSERT_EQ(good[0], '\x01');  // the Huffman form
  auto decode = [](const std::string& bytes) {
    Reader r(bytes, "test");
    return DecodePacked(r).status();
  };
  EXPECT_THAT(decode("\x07"), StatusIs(absl::StatusCode::kInvalidArgument,
                                       HasSubstr("unknown packed block mode")));
  EXPECT_THAT(
      decode(good.substr(0, good.size() - 1)),
      StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("decode test")));
  // An output size the stream cannot hold is refused before allocating.
  std::string huge = good;
  huge.replace(1, 2, "\xff\xff\xff\xff\xff\x0f");
  EXPECT_THAT(decode(huge), StatusIs(absl::StatusCode::kInvalidArgument,
                                     HasSubstr("decode test")));
  // Every single-byte corruption fails cleanly or decodes to some bytes.
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    Reader r(bad, "test");
    auto out = DecodePacked(r);
    if (!out.ok()) {
      EXPECT_THAT(out.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                         HasSubstr("decode test")));
    }
  }
}

}  // namespace
}  // namespace lattice::crdt::internal
