#include "classify.h"

#include <cctype>
#include <cstdlib>
#include <ctime>

namespace nlws {

int64_t ParseRetryAfter(const std::string& value, int64_t nowMs) {
  size_t b = value.find_first_not_of(" \t");
  if (b == std::string::npos) return -1;
  size_t e = value.find_last_not_of(" \t");
  std::string v = value.substr(b, e - b + 1);
  bool digits = !v.empty();
  for (char ch : v) digits = digits && isdigit(static_cast<unsigned char>(ch));
  if (digits) {
    // Any number of digits: a huge value is a long wait (capped later by
    // maxRetryAfterMs), not a malformed one.
    int64_t ms = 0;
    for (char ch : v) {
      ms = ms * 10 + (ch - '0') * 1000;
      if (ms >= kRetryAfterMaxMs) return kRetryAfterMaxMs;
    }
    return ms;
  }
  struct tm tm = {};
  // IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT" (RFC 9110 5.6.7).
  const char* end = strptime(v.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (end == nullptr || *end != '\0') return -1;
  int64_t at = static_cast<int64_t>(timegm(&tm)) * 1000;
  int64_t delta = at - nowMs;
  if (delta < 0) return 0;
  return delta > kRetryAfterMaxMs ? kRetryAfterMaxMs : delta;
}

Decision Classify(const Failure& f) {
  Decision d;
  switch (f.cause) {
    case Cause::kUser:
      d.action = Action::kGiveUp;
      d.reason = "closed by the application";
      return d;
    case Cause::kHttp:
      if (f.status == 401 || f.status == 403) {
        if (f.refreshedOnce) {
          d.action = Action::kGiveUp;
          d.reason = "HTTP " + std::to_string(f.status) + " again after refreshing credentials";
        } else {
          d.action = Action::kRefreshRetry;
          d.delayMs = 0;
          d.reason = "HTTP " + std::to_string(f.status) + ": refresh credentials and retry once";
        }
        return d;
      }
      if (f.status == 429 || f.status == 503) {
        int64_t after = ParseRetryAfter(f.retryAfter, f.nowMs);
        d.action = after >= 0 ? Action::kRetryAfter : Action::kRetry;
        d.delayMs = after;
        d.reason = "HTTP " + std::to_string(f.status) + (after >= 0 ? ": retry after the server's delay" : ": back off");
        return d;
      }
      if (f.status < 300) {
        // A plain HTTP endpoint answered: the URL is wrong, not the server down.
        d.action = Action::kGiveUp;
        d.reason = "HTTP " + std::to_string(f.status) + ": not a WebSocket endpoint (wrong URL?)";
        return d;
      }
      if (f.status < 500) {
        d.action = Action::kGiveUp;
        d.reason = "HTTP " + std::to_string(f.status) + " will not change by retrying";
        return d;
      }
      d.reason = "HTTP " + std::to_string(f.status) + ": back off";
      return d;
    case Cause::kProxy:
      // The proxy refused the credentials (407; tinyproxy also 401, and a
      // 403 refuses the client or the target): the same ones would be
      // refused again. Only a proxy function can bring others.
      if (f.status == 401 || f.status == 403 || f.status == 407) {
        if (f.proxyRefresh && !f.refreshedOnce) {
          d.action = Action::kRefreshRetry;
          d.delayMs = 0;
          d.reason = "the proxy answered " + std::to_string(f.status) + ": ask the proxy function again and retry once";
        } else {
          d.action = Action::kGiveUp;
          d.reason = "the proxy answered " + std::to_string(f.status) +
                     (f.proxyRefresh ? " again with the proxy function's new credentials"
                                     : ": its credentials will not change by retrying");
        }
        return d;
      }
      if (f.status >= 400 && f.status < 500) {
        d.action = Action::kGiveUp;
        d.reason = "the proxy answered " + std::to_string(f.status) + ": will not change by retrying";
        return d;
      }
      d.reason = "the proxy answered " + std::to_string(f.status) + ": back off";
      return d;
    case Cause::kClose:
    case Cause::kProtocol:
      switch (f.closeCode) {
        case 1002: case 1003: case 1007: case 1008: case 1009: case 1010:
          d.action = Action::kGiveUp;
          d.reason = "close code " + std::to_string(f.closeCode) + " means the same messages would fail again";
          return d;
        case 1000:
          if (!f.reconnectOnNormalClose) {
            d.action = Action::kGiveUp;
            d.reason = "normal closure (reconnectOnNormalClose is off)";
            return d;
          }
          break;
        case 1012:
          d.spread = true;
          d.reason = "close code 1012 (service restart): reconnect spread over the backoff window";
          return d;
        case 1013:
          d.keepClimbing = true;
          d.reason = "close code 1013 (try again later): back off further, as for a 503";
          return d;
        default:
          break;
      }
      d.reason = "close code " + std::to_string(f.closeCode) + ": back off";
      return d;
    default:
      d.reason = std::string(CauseName(f.cause)) + ": back off";
      return d;
  }
}

}  // namespace nlws
