// The reconnect delay of sdk::Client: exponential backoff with full jitter,
// as a pure function of the attempt and a random draw, so that tests check
// the policy without sleeping.
//
//   BackoffPolicy policy{absl::Seconds(1), absl::Seconds(30)};
//   absl::Duration wait = BackoffDelay(policy, attempt, rng());
//
// Thread safety: pure functions on values; safe from any thread.
#ifndef LATTICE_SDK_BACKOFF_H_
#define LATTICE_SDK_BACKOFF_H_

#include <cstdint>

#include "absl/time/time.h"

namespace lattice::sdk {

struct BackoffPolicy {
  // Ceiling of the first retry's delay; the ceiling doubles with every
  // failed attempt. Default: 1 s.
  absl::Duration min = absl::Seconds(1);
  // Largest ceiling. Default: 30 s.
  absl::Duration max = absl::Seconds(30);
};

// Returns the ceiling of the delay before reconnect attempt `attempt`
// (0 for the first retry after a connection was lost):
// min(max, min * 2^attempt). A max below min counts as min.
absl::Duration BackoffCeiling(const BackoffPolicy& policy, uint32_t attempt);

// Returns the delay before attempt `attempt`: uniform in
// [0, BackoffCeiling(policy, attempt)] in whole milliseconds, drawn from
// `random` (any 64-bit value, e.g. from std::mt19937_64). Full jitter, so
// that clients which lost the same server do not come back in step (AWS
// Architecture Blog, "Exponential Backoff And Jitter").
absl::Duration BackoffDelay(const BackoffPolicy& policy, uint32_t attempt,
                            uint64_t random);

}  // namespace lattice::sdk

#endif  // LATTICE_SDK_BACKOFF_H_
