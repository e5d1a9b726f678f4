// libFuzzer target: arbitrary bytes as a snapshot (Doc::LoadSnapshot);
// properties in decode_checks.h. Built with -fsanitize=fuzzer under
// LATTICE_FUZZ (clang); always also linked into snapshot_decode_fuzzer_replay,
// which replays corpus/snapshot_decode_fuzzer.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fuzz/decode_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = lattice::fuzz::CheckSnapshotBytes(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "snapshot_decode_fuzzer: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
