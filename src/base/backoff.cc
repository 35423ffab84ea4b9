#include "base/backoff.h"

#include <algorithm>
#include <cmath>

namespace tidemark {

Millis BackoffDelay(const BackoffPolicy& policy, uint32_t failures, double unit_random) {
  if (failures == 0) return Millis(0);
  const double cap = static_cast<double>(policy.max.count());
  // Clamp the exponent so pow() cannot overflow after many failures.
  const double exponent = std::min<double>(failures - 1, 64.0);
  double delay = static_cast<double>(policy.initial.count()) * std::pow(policy.factor, exponent);
  delay = std::min(delay, cap);
  delay += delay * policy.jitter * std::clamp(unit_random, 0.0, 1.0);
  return Millis(static_cast<int64_t>(std::min(delay, cap * (1.0 + policy.jitter))));
}

}  // namespace tidemark
