// make_fuzz_corpus DIR: writes the seed corpora of the decoder fuzzers,
// DIR/update_decode_fuzzer/ and DIR/snapshot_decode_fuzzer/: the valid
// encodings of decode_checks.h (seed-NN) and, per seed, a few fixed-seed
// mutants (mut-NN-M: bit flips, truncations, byte replacements). Output is
// deterministic; regenerate with
//   build/<dir>/tests/fuzz/make_fuzz_corpus tests/fuzz/corpus
// Crashers found by fuzzing are added by hand beside them (crash-<sha1>).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "tests/fuzz/decode_checks.h"

#include "absl/strings/str_format.h"

namespace lattice::fuzz {
namespace {

namespace fs = std::filesystem;

std::string Mutate(std::string s, std::mt19937_64& rng) {
  if (s.empty()) return s;
  const uint64_t at = rng() % s.size();
  switch (rng() % 3) {
    case 0:
      s[at] = static_cast<char>(s[at] ^ (1 << (rng() % 8)));
      break;
    case 1:
      s.resize(at);
      break;
    default:
      s[at] = static_cast<char>(rng() & 0xff);
      break;
  }
  return s;
}

bool Write(const fs::path& dir, const std::vector<std::string>& seeds) {
  fs::create_directories(dir);
  std::mt19937_64 rng(20261122);
  for (size_t i = 0; i < seeds.size(); ++i) {
    std::ofstream(dir / absl::StrFormat("seed-%02d", i), std::ios::binary)
        << seeds[i];
    for (int m = 0; m < 4; ++m) {
      std::ofstream(dir / absl::StrFormat("mut-%02d-%d", i, m),
                    std::ios::binary)
          << Mutate(seeds[i], rng);
    }
  }
  return true;
}

}  // namespace
}  // namespace lattice::fuzz

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_fuzz_corpus DIR\n");
    return 1;
  }
  namespace fs = std::filesystem;
  const fs::path dir = argv[1];
  lattice::fuzz::Write(dir / "update_decode_fuzzer",
                       lattice::fuzz::SeedUpdates());
  lattice::fuzz::Write(dir / "snapshot_decode_fuzzer",
                       lattice::fuzz::SeedSnapshots());
  return 0;
}
