#include "backoff.h"

#include <algorithm>

namespace nlws {

Delay ReconnectDelay(const DelayInput& in) {
  Delay d;
  double base = 1000;
  if (in.schedule && !in.schedule->empty()) {
    size_t i = in.attempt > 0 ? in.attempt - 1 : 0;
    if (i >= in.schedule->size()) i = in.schedule->size() - 1;
    base = (*in.schedule)[i];
  }
  d.scheduleMs = base;
  double r = in.random < 0 ? 0 : in.random >= 1 ? 0.999999 : in.random;
  bool full = in.spread || in.jitter == Jitter::kFull;
  double floor = full ? 0 : base;
  double window = full ? base : base * std::min<uint32_t>(in.jitterPercent, 100) / 100.0;
  d.floorMs = floor;
  if (in.retryAfterMs >= 0) {
    double capped = std::min<double>(static_cast<double>(in.retryAfterMs), in.maxRetryAfterMs);
    if (capped > floor) {
      d.floorMs = capped;
      d.retryAfterWon = true;
    }
  }
  d.ms = d.floorMs + r * window;
  return d;
}

}  // namespace nlws
