// libFuzzer target: arbitrary bytes as a presence delta (ApplyDelta into an
// empty and a populated crdt::Presence) and as a checkpoint (LoadState);
// properties in presence_checks.h. Built with -fsanitize=fuzzer under
// LATTICE_FUZZ (clang); always also linked into
// presence_decode_fuzzer_replay, which replays corpus/presence_decode_fuzzer
// (seeds written by tests/crdt/presence_test.cc, PresenceSeedCorpus).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fuzz/presence_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = lattice::fuzz::CheckPresenceBytes(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "presence_decode_fuzzer: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
