// The two clocks, shared by the session and connection layers. Every
// duration (uptime, downtime, idle time, queue age, RTT) is measured on the
// monotonic clock, which a stepped wall clock does not move; the wall clock
// only stamps the times reported to JS (`at`, a gap's `from`/`to`).
#pragma once
#include <string>

namespace nlws {

// The wall clock (ms since the epoch): for timestamps reported to JS only.
double WallMs();
// The monotonic clock (ms, CLOCK_MONOTONIC, the clock process.hrtime()
// reads): for every duration.
double MonoMs();
// A duration or time as JSON: whole milliseconds.
std::string JsonMs(double v);

}  // namespace nlws
