// The failure classifier, as plain code: what an attempt's end means for
// reconnecting (retry, retry after the server's delay, refresh credentials
// and retry once, give up) and why. No lws, no threads: reconnect.cc calls
// it, and tests call it through the addon's `testing.classify` hook
// (native/js/test_hooks.cc).
#pragma once
#include <cstdint>
#include <string>

#include "../wire.h"

namespace nlws {

struct Failure {
  Cause cause = Cause::kNetwork;
  int status = 0;          // HTTP status for kHttp
  int closeCode = 0;       // close code for kClose / kProtocol
  std::string retryAfter;  // Retry-After header value, if any
  bool refreshedOnce = false;  // a 401/403 already got its refresh-and-retry
  bool proxyRefresh = false;   // a proxy function gives each attempt its credentials
  bool reconnectOnNormalClose = true;
  int64_t nowMs = 0;       // wall clock, for Retry-After dates
};

struct Decision {
  Action action = Action::kRetry;
  int64_t delayMs = -1;  // for kRetryAfter (and kRefreshRetry: 0); -1: use backoff
  std::string reason;
  // A planned restart (close 1012): every client of the server lost its
  // connection at once, so the delay is spread over the whole window.
  bool spread = false;
  // "Try again later" (close 1013): the attempt counter goes on from where
  // the connection found it, as consecutive 503s climb the schedule, even
  // when the connection stayed up long enough to reset it.
  bool keepClimbing = false;
};

Decision Classify(const Failure& f);

// Retry-After: delta-seconds or an HTTP date. Returns ms from now (0 for a
// date in the past; very large values saturate at kRetryAfterMaxMs), or -1
// when the value is neither.
int64_t ParseRetryAfter(const std::string& value, int64_t nowMs);
constexpr int64_t kRetryAfterMaxMs = 1000ll * 3600 * 24 * 365 * 100;  // a century

}  // namespace nlws
