#include "sdk/backoff.h"

#include <cstdint>
#include <random>

#include "gtest/gtest.h"

// Oracle: the policy as docs/sdk-cpp.md states it. The ceiling is
// min(max, min * 2^attempt) and the delay is uniform in [0, ceiling]; the
// random source is an argument, so the extremes (0 and UINT64_MAX) and a
// seeded generator check the bounds and the spread without sleeping.

namespace lattice::sdk {
namespace {

constexpr BackoffPolicy kDefault{};

TEST(Backoff, DefaultsAreOneAndThirtySeconds) {
  EXPECT_EQ(kDefault.min, absl::Seconds(1));
  EXPECT_EQ(kDefault.max, absl::Seconds(30));
}

TEST(Backoff, CeilingDoublesUpToMax) {
  EXPECT_EQ(BackoffCeiling(kDefault, 0), absl::Seconds(1));
  EXPECT_EQ(BackoffCeiling(kDefault, 1), absl::Seconds(2));
  EXPECT_EQ(BackoffCeiling(kDefault, 2), absl::Seconds(4));
  EXPECT_EQ(BackoffCeiling(kDefault, 4), absl::Seconds(16));
  EXPECT_EQ(BackoffCeiling(kDefault, 5), absl::Seconds(30));
  EXPECT_EQ(BackoffCeiling(kDefault, 1000), absl::Seconds(30));
  EXPECT_EQ(BackoffCeiling(kDefault, UINT32_MAX), absl::Seconds(30));
}

TEST(Backoff, DelayIsFullJitterBetweenZeroAndTheCeiling) {
  // random % (ceiling_ms + 1): 0 gives no wait, ceiling_ms the ceiling.
  EXPECT_EQ(BackoffDelay(kDefault, 0, 0), absl::ZeroDuration());
  EXPECT_EQ(BackoffDelay(kDefault, 0, 1000), absl::Seconds(1));
  EXPECT_EQ(BackoffDelay(kDefault, 0, 1001), absl::ZeroDuration());
  EXPECT_EQ(BackoffDelay(kDefault, 3, 5000), absl::Seconds(5));
  EXPECT_EQ(BackoffDelay(kDefault, 9, 30000), absl::Seconds(30));
  EXPECT_LE(BackoffDelay(kDefault, 9, UINT64_MAX), absl::Seconds(30));
}

TEST(Backoff, DelaysSpreadOverTheWholeRange) {
  std::mt19937_64 rng(7);
  for (uint32_t attempt = 0; attempt < 8; ++attempt) {
    const absl::Duration ceiling = BackoffCeiling(kDefault, attempt);
    absl::Duration lo = absl::InfiniteDuration();
    absl::Duration hi = absl::ZeroDuration();
    for (int i = 0; i < 2000; ++i) {
      const absl::Duration d = BackoffDelay(kDefault, attempt, rng());
      ASSERT_GE(d, absl::ZeroDuration());
      ASSERT_LE(d, ceiling);
      lo = std::min(lo, d);
      hi = std::max(hi, d);
    }
    // 2000 uniform draws land within 1% of both ends.
    EXPECT_LT(lo, ceiling / 100) << attempt;
    EXPECT_GT(hi, ceiling * 99 / 100) << attempt;
  }
}

TEST(Backoff, DegeneratePoliciesNeverWait) {
  EXPECT_EQ(BackoffDelay({absl::ZeroDuration(), absl::ZeroDuration()}, 5, 77),
            absl::ZeroDuration());
  // A max below min counts as min.
  BackoffPolicy inverted{absl::Milliseconds(200), absl::Milliseconds(50)};
  EXPECT_EQ(BackoffCeiling(inverted, 3), absl::Milliseconds(200));
}

TEST(Backoff, ShortTestPolicy) {
  BackoffPolicy p{absl::Milliseconds(10), absl::Milliseconds(50)};
  EXPECT_EQ(BackoffCeiling(p, 0), absl::Milliseconds(10));
  EXPECT_EQ(BackoffCeiling(p, 2), absl::Milliseconds(40));
  EXPECT_EQ(BackoffCeiling(p, 3), absl::Milliseconds(50));
  EXPECT_EQ(BackoffDelay(p, 3, 50), absl::Milliseconds(50));
  EXPECT_EQ(BackoffDelay(p, 3, 51), absl::ZeroDuration());
}

}  // namespace
}  // namespace lattice::sdk
