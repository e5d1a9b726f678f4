// Replays a fuzz target's committed corpus (tests/fuzz/corpus/<target>/:
// seeds, mutants and every crasher found so far) through the target's
// LLVMFuzzerTestOneInput, under any compiler, as a normal test.
//
// Oracle: the properties of decode_checks.h hold for every file
// (LATTICE_FUZZ_CHECK names the target's check; it returns "" when they do;
// LATTICE_FUZZ_SUITE names the test suite after the target).
// A missing or empty corpus directory fails.
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "tests/fuzz/decode_checks.h"

#include "gtest/gtest.h"

#if !defined(LATTICE_FUZZ_CORPUS_DIR) || !defined(LATTICE_FUZZ_CHECK) || \
    !defined(LATTICE_FUZZ_SUITE)
#error "LATTICE_FUZZ_CORPUS_DIR, LATTICE_FUZZ_CHECK, LATTICE_FUZZ_SUITE needed"
#endif

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace lattice::fuzz {
namespace {

namespace fs = std::filesystem;

TEST(LATTICE_FUZZ_SUITE, EveryFileKeepsTheDecodeProperties) {
  const fs::path dir = LATTICE_FUZZ_CORPUS_DIR;
  ASSERT_TRUE(fs::is_directory(dir)) << dir << " is missing";
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  ASSERT_GE(files.size(), 10u) << "corpus " << dir << " is (nearly) empty";
  for (const fs::path& f : files) {
    std::ifstream in(f, std::ios::binary);
    ASSERT_TRUE(in) << f;
    const std::string bytes((std::istreambuf_iterator<char>(in)),
                            std::istreambuf_iterator<char>());
    const std::string broken = LATTICE_FUZZ_CHECK(bytes);
    EXPECT_EQ(broken, "") << f;
    if (!broken.empty()) continue;  // the entry point would abort on it
    EXPECT_EQ(LLVMFuzzerTestOneInput(
                  reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()),
              0)
        << f;
  }
}

}  // namespace
}  // namespace lattice::fuzz
