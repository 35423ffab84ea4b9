// Capped exponential back-off, as client-go's rate limiters compute it.
//
// Pure arithmetic: the caller keeps the failure count and sleeps; nothing here reads a
// clock, so tests need no waiting.
#pragma once

#include <chrono>
#include <cstdint>

namespace tidemark {

using Millis = std::chrono::milliseconds;

struct BackoffPolicy {
  Millis initial{5};                    // delay after the first failure
  Millis max{std::chrono::minutes(5)};  // the cap; retries never stop, they only slow down
  double factor = 2.0;                  // growth per consecutive failure
  double jitter = 0.0;                  // 0.2 adds up to +20% at random

  // The reconcile retry policy of SPEC 3: 5 ms to 5 min.
  static BackoffPolicy Reconcile() { return {}; }
  // The watch restart policy of client-go's reflector: 800 ms to 30 s with jitter.
  static BackoffPolicy Watch() { return {Millis(800), Millis(30'000), 2.0, 0.2}; }
};

// Delay before retry number `failures` (1 = after the first failure). `unit_random` is a
// number in [0, 1) used for jitter.
Millis BackoffDelay(const BackoffPolicy& policy, uint32_t failures, double unit_random = 0.0);

}  // namespace tidemark
