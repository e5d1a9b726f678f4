#include "crdt/internal/huffman.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <vector>

#include "base/status_macros.h"

namespace lattice::crdt::internal {

namespace {

constexpr uint8_t kPackedRaw = 0;
constexpr uint8_t kPackedHuffman = 1;
// Longest code: keeps the decoder's lookup table at 4096 entries.
constexpr int kMaxCodeLength = 12;
constexpr size_t kBitmapBytes = 32;

using Lengths = std::array<uint8_t, 256>;

// Huffman code lengths for the symbols with a nonzero count. Ties are broken
// by symbol and leaves before internal nodes, so the result depends on the
// counts only. REQUIRES: at least two nonzero counts.
Lengths CodeLengths(const std::array<uint64_t, 256>& counts) {
  std::vector<int> leaves;  // symbols by (count, symbol)
  for (int s = 0; s < 256; ++s) {
    if (counts[s] > 0) leaves.push_back(s);
  }
  std::stable_sort(leaves.begin(), leaves.end(),
                   [&](int a, int b) { return counts[a] < counts[b]; });
  const size_t n = leaves.size();
  // Nodes 0..n-1 are the leaves, n.. the internal nodes in creation order,
  // whose weights never decrease (the two-queue construction).
  std::vector<uint64_t> weight(2 * n - 1);
  std::vector<size_t> parent(2 * n - 1, 0);
  for (size_t i = 0; i < n; ++i) weight[i] = counts[leaves[i]];
  size_t next_leaf = 0;
  size_t next_internal = n;
  auto take = [&](size_t end_internal) {
    if (next_leaf < n && (next_internal == end_internal ||
                          weight[next_leaf] <= weight[next_internal])) {
      return next_leaf++;
    }
    return next_internal++;
  };
  for (size_t made = n; made < 2 * n - 1; ++made) {
    const size_t a = take(made);
    const size_t b = take(made);
    weight[made] = weight[a] + weight[b];
    parent[a] = made;
    parent[b] = made;
  }
  std::vector<uint8_t> depth(2 * n - 1, 0);
  for (size_t i = 2 * n - 2; i-- > 0;) {
    depth[i] = static_cast<uint8_t>(depth[parent[i]] + 1);
  }
  Lengths lengths{};
  for (size_t i = 0; i < n; ++i) lengths[leaves[i]] = depth[i];
  return lengths;
}

// Canonical codes: by (length, symbol), each the previous plus one, shifted
// left when the length grows (as DEFLATE).
std::array<uint16_t, 256> CanonicalCodes(const Lengths& lengths) {
  int count[kMaxCodeLength + 1] = {};
  for (uint8_t len : lengths) ++count[len];
  uint32_t next[kMaxCodeLength + 1] = {};
  uint32_t code = 0;
  for (int len = 1; len <= kMaxCodeLength; ++len) {
    code = (code + static_cast<uint32_t>(len > 1 ? count[len - 1] : 0)) << 1;
    next[len] = code;
  }
  std::array<uint16_t, 256> codes{};
  for (int s = 0; s < 256; ++s) {
    if (lengths[s] != 0) codes[s] = static_cast<uint16_t>(next[lengths[s]]++);
  }
  return codes;
}

// Eight bytes as a big-endian number.
uint64_t LoadBigEndian64(const uint8_t* p) {
#if defined(__GNUC__) && defined(__BYTE_ORDER__) && \
    __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  uint64_t v;
  std::memcpy(&v, p, sizeof v);
  return __builtin_bswap64(v);
#else
  uint64_t v = 0;
  for (int k = 0; k < 8; ++k) v = (v << 8) | p[k];
  return v;
#endif
}

size_t VarintSize(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    ++n;
  }
  return n;
}

using Counts = std::array<uint64_t, 256>;

// Code lengths of at most kMaxCodeLength for `counts`; all zero when no
// symbol occurs. A lone symbol gets a partner that never occurs (a code
// needs two). Counts are flattened until the code fits; all ones give a
// balanced code of depth <= 8, so this ends.
Lengths LimitedLengths(const Counts& counts) {
  Counts coded = counts;
  size_t used = 0;
  int only = 0;
  for (int s = 0; s < 256; ++s) {
    if (counts[s] > 0) {
      ++used;
      only = s;
    }
  }
  if (used == 0) return Lengths{};
  if (used == 1) coded[(only + 1) & 255] = 1;
  Lengths lengths = CodeLengths(coded);
  while (*std::max_element(lengths.begin(), lengths.end()) > kMaxCodeLength) {
    for (uint64_t& c : coded) c = c == 0 ? 0 : (c + 1) / 2;
    lengths = CodeLengths(coded);
  }
  return lengths;
}

size_t UsedSymbols(const Lengths& lengths) {
  size_t used = 0;
  for (uint8_t len : lengths) used += len > 0;
  return used;
}

// A code as written: the bitmap of used symbols, then their lengths.
size_t CodeSize(const Lengths& lengths) {
  return kBitmapBytes + (UsedSymbols(lengths) + 1) / 2;
}

void WriteCode(const Lengths& lengths, Writer& w) {
  uint8_t bitmap[kBitmapBytes] = {};
  for (int s = 0; s < 256; ++s) {
    if (lengths[s] > 0) bitmap[s / 8] |= static_cast<uint8_t>(1 << (s % 8));
  }
  for (uint8_t b : bitmap) w.Byte(b);
  uint8_t pending = 0;
  bool half = false;
  for (int s = 0; s < 256; ++s) {
    if (lengths[s] == 0) continue;
    if (!half) {
      pending = lengths[s];
    } else {
      w.Byte(static_cast<uint8_t>(pending | lengths[s] << 4));
    }
    half = !half;
  }
  if (half) w.Byte(pending);
}

// Reads a code written by WriteCode: empty (no symbol), or complete with at
// least two symbols.
absl::StatusOr<Lengths> ReadCode(Reader& r) {
  LATTICE_ASSIGN_OR_RETURN(absl::string_view bitmap, r.Raw(kBitmapBytes));
  Lengths lengths{};
  size_t used = 0;
  for (int s = 0; s < 256; ++s) {
    if ((static_cast<uint8_t>(bitmap[s / 8]) >> (s % 8)) & 1) {
      lengths[s] = 1;  // marks used; the real length is read below
      ++used;
    }
  }
  if (used == 0) return lengths;
  if (used < 2) return r.Error("huffman code with one symbol");
  LATTICE_ASSIGN_OR_RETURN(absl::string_view nibbles, r.Raw((used + 1) / 2));
  size_t k = 0;
  uint32_t kraft = 0;
  for (int s = 0; s < 256; ++s) {
    if (lengths[s] == 0) continue;
    const uint8_t byte = static_cast<uint8_t>(nibbles[k / 2]);
    const uint8_t len = (k % 2 == 0) ? (byte & 15) : (byte >> 4);
    ++k;
    if (len == 0 || len > kMaxCodeLength)
      return r.Error("bad huffman code length");
    lengths[s] = len;
    kraft += uint32_t{1} << (kMaxCodeLength - len);
  }
  if (used % 2 == 1 && (static_cast<uint8_t>(nibbles.back()) >> 4) != 0)
    return r.Error("bad huffman length padding");
  if (kraft != (uint32_t{1} << kMaxCodeLength))
    return r.Error("huffman code is not complete");
  return lengths;
}

// The context model: the symbol before each byte selects its code. The k
// most frequent bytes (by count, then value) have a code each for what
// follows them; every other byte, and the start, share code k.
struct Model {
  std::array<uint8_t, 256> context{};  // byte -> its context
  std::vector<uint8_t> listed;         // the k bytes with their own, sorted
  std::vector<Lengths> codes;          // k + 1
  uint64_t bits = 0;                   // of the stream
};

Model BuildModel(absl::string_view bytes, const Counts& counts, size_t k) {
  Model m;
  std::vector<int> by_count;
  for (int s = 0; s < 256; ++s) {
    if (counts[s] > 0) by_count.push_back(s);
  }
  std::stable_sort(by_count.begin(), by_count.end(),
                   [&](int a, int b) { return counts[a] > counts[b]; });
  by_count.resize(std::min(by_count.size(), k));
  std::sort(by_count.begin(), by_count.end());
  const size_t other = by_count.size();
  m.context.fill(static_cast<uint8_t>(other));
  for (size_t i = 0; i < other; ++i) {
    m.listed.push_back(static_cast<uint8_t>(by_count[i]));
    m.context[by_count[i]] = static_cast<uint8_t>(i);
  }
  std::vector<Counts> per(other + 1, Counts{});
  std::vector<size_t> seen(other + 1, 0);  // bytes coded in each context
  size_t ctx = other;
  for (char c : bytes) {
    const auto s = static_cast<uint8_t>(c);
    ++per[ctx][s];
    ++seen[ctx];
    ctx = m.context[s];
  }
  for (size_t i = 0; i <= other; ++i) {
    // A context no byte is coded in (the last byte's own) has no code.
    if (seen[i] == 0) {
      m.codes.emplace_back();
      continue;
    }
    m.codes.push_back(LimitedLengths(per[i]));
    for (int s = 0; s < 256; ++s) m.bits += per[i][s] * m.codes.back()[s];
  }
  return m;
}

size_t ModelSize(const Model& m) {
  size_t size = 1 + m.listed.size();
  for (const Lengths& l : m.codes) size += CodeSize(l);
  const uint64_t stream = (m.bits + 7) / 8;
  return size + VarintSize(stream) + stream;
}

}  // namespace

void EncodePacked(absl::string_view bytes, Writer& w) {
  const size_t raw_size = VarintSize(bytes.size()) + bytes.size();
  if (bytes.size() < kBitmapBytes) {
    w.Byte(kPackedRaw);
    w.Bytes(bytes);
    return;
  }
  Counts counts{};
  for (char c : bytes) ++counts[static_cast<uint8_t>(c)];
  const size_t distinct = static_cast<size_t>(
      256 - std::count(counts.begin(), counts.end(), uint64_t{0}));
  // No context, then ever more: the smallest wins, ties to fewer.
  Model best = BuildModel(bytes, counts, 0);
  for (size_t k : {8, 16, 32, 64}) {
    const size_t listed = std::min(distinct, k);
    if (listed < k / 2) break;  // too few distinct bytes to gain
    // Every code starts with its bitmap: a model whose codes alone are as
    // large as the raw form is never written, nor is one with more contexts.
    // Not building them is most of the cost of a short column.
    if (1 + listed + (listed + 1) * kBitmapBytes >= raw_size) break;
    Model m = BuildModel(bytes, counts, k);
    if (ModelSize(m) < ModelSize(best)) best = std::move(m);
  }
  if (VarintSize(bytes.size()) + ModelSize(best) >= raw_size) {
    w.Byte(kPackedRaw);
    w.Bytes(bytes);
    return;
  }
  w.Byte(kPackedHuffman);
  w.Varint(bytes.size());
  w.Byte(static_cast<uint8_t>(best.listed.size()));
  for (uint8_t b : best.listed) w.Byte(b);
  std::vector<std::array<uint16_t, 256>> codes;
  for (const Lengths& l : best.codes) {
    WriteCode(l, w);
    codes.push_back(CanonicalCodes(l));
  }
  const uint64_t stream_bytes = (best.bits + 7) / 8;
  w.Varint(stream_bytes);
  std::string& out = w.buffer();
  out.reserve(out.size() + stream_bytes);
  uint64_t acc = 0;
  int n_acc = 0;
  size_t ctx = best.listed.size();
  for (char c : bytes) {
    const auto s = static_cast<uint8_t>(c);
    const uint8_t len = best.codes[ctx][s];
    acc = (acc << len) | codes[ctx][s];
    n_acc += len;
    while (n_acc >= 8) {
      n_acc -= 8;
      out.push_back(static_cast<char>(acc >> n_acc));
    }
    ctx = best.context[s];
  }
  if (n_acc > 0) out.push_back(static_cast<char>(acc << (8 - n_acc)));
}

absl::StatusOr<std::string> DecodePacked(Reader& r) {
  LATTICE_ASSIGN_OR_RETURN(uint8_t mode, r.Byte());
  if (mode == kPackedRaw) {
    LATTICE_ASSIGN_OR_RETURN(absl::string_view raw, r.Bytes());
    return std::string(raw);
  }
  if (mode != kPackedHuffman) return r.Error("unknown packed block mode");
  LATTICE_ASSIGN_OR_RETURN(uint64_t n, r.Varint());
  LATTICE_ASSIGN_OR_RETURN(uint8_t k, r.Byte());
  LATTICE_ASSIGN_OR_RETURN(absl::string_view listed, r.Raw(k));
  std::array<uint8_t, 256> context;
  context.fill(k);
  for (size_t i = 0; i < k; ++i) {
    if (i > 0 &&
        static_cast<uint8_t>(listed[i]) <= static_cast<uint8_t>(listed[i - 1]))
      return r.Error("huffman contexts not in order");
    context[static_cast<uint8_t>(listed[i])] = static_cast<uint8_t>(i);
  }
  // One lookup table per context, indexed by the next `max_len` bits of
  // that context's code: symbol | length << 8 (length 0: no code). Sized
  // per context, since building is most of the cost for short columns.
  struct Table {
    size_t offset;
    int shift;  // 64 - max_len
  };
  std::vector<Lengths> all(size_t{k} + 1);
  std::vector<Table> index(size_t{k} + 1);
  size_t total = 0;
  for (size_t c = 0; c <= k; ++c) {
    LATTICE_ASSIGN_OR_RETURN(all[c], ReadCode(r));
    const int max_len =
        std::max<int>(1, *std::max_element(all[c].begin(), all[c].end()));
    index[c] = {total, 64 - max_len};
    total += size_t{1} << max_len;
  }
  std::vector<uint16_t> tables(total, 0);
  for (size_t c = 0; c <= k; ++c) {
    const std::array<uint16_t, 256> codes = CanonicalCodes(all[c]);
    uint16_t* table = tables.data() + index[c].offset;
    const int max_len = 64 - index[c].shift;
    for (int s = 0; s < 256; ++s) {
      if (all[c][s] == 0) continue;
      const int shift = max_len - all[c][s];
      std::fill_n(table + (size_t{codes[s]} << shift), size_t{1} << shift,
                  static_cast<uint16_t>(s | all[c][s] << 8));
    }
  }
  LATTICE_ASSIGN_OR_RETURN(absl::string_view stream, r.Bytes());
  // Every symbol takes at least one bit: bounds the output before allocating.
  if (n == 0 || n > stream.size() * 8)
    return r.Error("huffman output size does not match its stream");

  std::string out(n, '\0');
  // Locals rather than members: the stores into `out` may alias anything,
  // which would reload every member per symbol.
  char* const o = out.data();
  const uint16_t* const tab = tables.data();
  const Table* const idx = index.data();
  const auto* in = reinterpret_cast<const uint8_t*>(stream.data());
  const size_t m = stream.size();
  size_t pos = 0;
  uint64_t buf = 0;  // next bits, MSB first; below them, bits of in[pos..]
  int bits = 0;      // valid bits at the top of buf
  // The table of the context each byte starts, by byte.
  std::array<Table, 256> next_of;
  for (size_t b = 0; b < 256; ++b) next_of[b] = idx[context[b]];
  size_t offset = idx[k].offset;
  int shift = idx[k].shift;
  size_t i = 0;
  while (i < n) {
    if (m - pos >= 8) {
      // Whole bytes up to 63 bits with one load; re-reading a partly
      // buffered byte ORs in the bits already there.
      buf |= LoadBigEndian64(in + pos) >> bits;
      const int take = (63 - bits) >> 3;
      pos += static_cast<size_t>(take);
      bits += 8 * take;
      while (bits >= kMaxCodeLength && i < n) {
        const uint16_t entry = tab[offset + (buf >> shift)];
        const int len = entry >> 8;
        if (len == 0) return r.Error("huffman symbol in an empty context");
        const auto s = static_cast<uint8_t>(entry);
        o[i++] = static_cast<char>(s);
        buf <<= len;
        bits -= len;
        offset = next_of[s].offset;
        shift = next_of[s].shift;
      }
      continue;
    }
    while (bits <= 56 && pos < m) {
      buf |= uint64_t{in[pos++]} << (56 - bits);
      bits += 8;
    }
    const uint16_t entry = tab[offset + (buf >> shift)];
    const int len = entry >> 8;
    if (len == 0) return r.Error("huffman symbol in an empty context");
    if (len > bits) return r.Error("truncated huffman stream");
    const auto s = static_cast<uint8_t>(entry);
    o[i++] = static_cast<char>(s);
    buf <<= len;
    bits -= len;
    offset = next_of[s].offset;
    shift = next_of[s].shift;
  }
  if (pos != m || bits >= 8 || buf != 0)
    return r.Error("huffman stream has trailing bits");
  return out;
}

}  // namespace lattice::crdt::internal
