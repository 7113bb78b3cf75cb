// Reconnect policy as plain code: how a failure is classified and what
// happens next. No lws, no threads: the service thread calls it, and tests
// call it through the addon's `classify` hook.
#pragma once
#include <cstdint>
#include <string>

namespace nlws {

// Why a connection (attempt) ended.
enum class Cause : uint8_t {
  kRefused,    // TCP connection refused
  kNetwork,    // reset, unreachable, dropped (1006)
  kDns,        // name resolution failed
  kTimeout,    // opening handshake timed out
  kTls,        // TLS handshake or certificate failure
  kHttp,       // upgrade answered with a non-101 status
  kProxy,      // the proxy answered CONNECT with a non-2xx status
  kHandshake,  // bad 101 (accept key, extensions, subprotocol)
  kHeartbeat,  // no proof of life within the heartbeat bounds
  kStall,      // no application message within stallTimeoutMs
  kClose,      // the server closed with a code
  kProtocol,   // we failed the connection (1002, 1007, 1009)
  kConfig,     // the headers/url function failed or timed out
  kUser,       // close() or terminate()
};

const char* CauseName(Cause c);

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

enum class Action : uint8_t { kRetry, kRetryAfter, kRefreshRetry, kGiveUp };
const char* ActionName(Action a);

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
