// libFuzzer target: arbitrary bytes as a wire frame (protocol::DecodeFrame);
// when they decode, EncodeFrame of the frame must decode to an equal frame
// (properties in frame_checks.h). Built with -fsanitize=fuzzer under
// LATTICE_FUZZ (clang); always also linked into frame_decode_fuzzer_replay,
// which replays corpus/frame_decode_fuzzer (seeds written by
// tests/engine/frames_test.cc, see FrameCorpus there).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/fuzz/frame_checks.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string broken = lattice::fuzz::CheckFrameBytes(
      absl::string_view(reinterpret_cast<const char*>(data), size));
  if (!broken.empty()) {
    std::fprintf(stderr, "frame_decode_fuzzer: %s\n", broken.c_str());
    std::abort();
  }
  return 0;
}
