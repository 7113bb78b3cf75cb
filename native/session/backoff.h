// The reconnect delay as plain code: how long an attempt waits, from the
// backoff schedule, its jitter and a server's Retry-After. One place decides
// it; no lws, no clock, no randomness of its own (the caller passes the
// random draw), so tests call it through the addon's `testing.reconnectDelay` hook
// with chosen draws.
#pragma once
#include <cstdint>
#include <vector>

#include "../wire.h"

namespace nlws {

struct DelayInput {
  const std::vector<uint32_t>* schedule = nullptr;  // ms per attempt; the last repeats
  uint32_t attempt = 1;            // 1 for the first retry after a loss
  Jitter jitter = Jitter::kFull;
  uint32_t jitterPercent = 0;      // kAdd only
  int64_t retryAfterMs = -1;       // the server's Retry-After, ms from now; -1: none
  uint32_t maxRetryAfterMs = 0;
  bool spread = false;             // a planned restart (close 1012): full jitter whatever `jitter` says
  double random = 0;               // a uniform draw in [0, 1)
};

struct Delay {
  double ms = 0;          // the delay to wait
  double scheduleMs = 0;  // the schedule's value for this attempt
  double floorMs = 0;     // the part before jitter: the schedule's floor, or the capped Retry-After when larger
  bool retryAfterWon = false;
};

// delay = max(floor, min(Retry-After, maxRetryAfterMs)) + jitter, where the
// floor is 0 (full jitter) or the schedule's value (kAdd) and the jitter is
// the random part of the schedule's delay for this attempt. So the delay is
// never shorter than the schedule's delay with the same draw (a Retry-After
// of 0 or a date in the past cannot make a client retry faster), a longer
// Retry-After wins up to the cap, and clients told the same Retry-After
// still come back spread over the jitter window.
Delay ReconnectDelay(const DelayInput& in);

}  // namespace nlws
