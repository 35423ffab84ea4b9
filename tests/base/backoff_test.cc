#include "base/backoff.h"

#include <gtest/gtest.h>

namespace tidemark {
namespace {

TEST(BackoffTest, ReconcileDoublesFromFiveMillisToFiveMinutes) {
  const BackoffPolicy policy = BackoffPolicy::Reconcile();
  EXPECT_EQ(BackoffDelay(policy, 0), Millis(0));
  EXPECT_EQ(BackoffDelay(policy, 1), Millis(5));
  EXPECT_EQ(BackoffDelay(policy, 2), Millis(10));
  EXPECT_EQ(BackoffDelay(policy, 10), Millis(2560));
  EXPECT_EQ(BackoffDelay(policy, 17), Millis(300'000));
  EXPECT_EQ(BackoffDelay(policy, 1'000'000), Millis(300'000));  // capped, never gives up
}

TEST(BackoffTest, WatchJitterStaysWithinTwentyPercent) {
  const BackoffPolicy policy = BackoffPolicy::Watch();
  EXPECT_EQ(BackoffDelay(policy, 1, 0.0), Millis(800));
  EXPECT_EQ(BackoffDelay(policy, 1, 0.5), Millis(880));
  EXPECT_EQ(BackoffDelay(policy, 30, 0.999), Millis(35'994));
}

}  // namespace
}  // namespace tidemark
