#include "sdk/backoff.h"

#include <algorithm>

namespace lattice::sdk {

absl::Duration BackoffCeiling(const BackoffPolicy& policy, uint32_t attempt) {
  const absl::Duration min = std::max(policy.min, absl::ZeroDuration());
  const absl::Duration max = std::max(policy.max, min);
  absl::Duration ceiling = min;
  // Doubling stops at max, so this loops at most ~64 times and never
  // overflows.
  for (uint32_t i = 0; i < attempt && ceiling < max; ++i) ceiling *= 2;
  return std::min(ceiling, max);
}

absl::Duration BackoffDelay(const BackoffPolicy& policy, uint32_t attempt,
                            uint64_t random) {
  const int64_t ceiling_ms =
      absl::ToInt64Milliseconds(BackoffCeiling(policy, attempt));
  if (ceiling_ms <= 0) return absl::ZeroDuration();
  // The modulo bias is below 2^-40 for any ceiling under a year.
  return absl::Milliseconds(
      static_cast<int64_t>(random % (static_cast<uint64_t>(ceiling_ms) + 1)));
}

}  // namespace lattice::sdk
