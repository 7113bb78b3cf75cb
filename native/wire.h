// The wire contract: every number and name that crosses the Node-API
// boundary and means the same on both sides. lib/wire.ts holds the same
// lists; the binding's constants() exports these, and test/wire.test.ts
// fails when the two differ. Change a value here and there together.
//
// A list's order is its numbering: the number of a name is its index.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nlws {

template <typename E, size_t N>
constexpr const char* WireName(const char* const (&names)[N], E value, const char* otherwise) {
  return static_cast<size_t>(value) < N ? names[static_cast<size_t>(value)] : otherwise;
}

// A session's state: the value of a kState event.
enum class SessionState : uint8_t { kConnecting, kOpen, kReconnecting, kClosing, kClosed };
constexpr const char* kSessionStateNames[] = {"connecting", "open", "reconnecting", "closing", "closed"};

// Why a connection (attempt) ended; JSON payloads carry its name.
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
constexpr const char* kCauseNames[] = {"refused",   "network",   "dns",   "timeout", "tls",      "http",   "proxy",
                                       "handshake", "heartbeat", "stall", "close",   "protocol", "config", "user"};
inline const char* CauseName(Cause c) { return WireName(kCauseNames, c, "network"); }

// What the failure classifier proposes (kDecide's `action`, by name).
enum class Action : uint8_t { kRetry, kRetryAfter, kRefreshRetry, kGiveUp };
constexpr const char* kActionNames[] = {"retry", "retry-after", "refresh-then-retry", "give-up"};
inline const char* ActionName(Action a) { return WireName(kActionNames, a, "retry"); }

// Why a message was not sent. A kDrop event's value packs it with two flags.
enum class DropReason : uint8_t { kOverflow, kExpired, kClosed };
constexpr const char* kDropReasonNames[] = {"overflow", "expired", "closed"};
constexpr int kDropBinary = 1;        // bit 0: a binary message
constexpr int kDropReasonShift = 1;   // bits 1-2: the DropReason
constexpr int kDropReasonMask = 3;
constexpr int kDropPriority = 8;      // bit 3: one of onOpen's sends (not the queue's)
constexpr double DropValue(DropReason r, bool binary, bool priority) {
  return (priority ? kDropPriority : 0) + (static_cast<int>(r) << kDropReasonShift) + (binary ? kDropBinary : 0);
}

// What a send() beyond the queue's bounds does (policy.overflow).
enum class Overflow : uint8_t { kReject, kDropOldest, kDropNewest };
constexpr const char* kOverflowNames[] = {"reject", "drop-oldest", "drop-newest"};

// How the backoff's delay is randomised (policy.jitter).
enum class Jitter : uint8_t {
  // "Full jitter": uniform in [0, schedule value]. A mass drop (a server
  // restart) then comes back spread over the whole first window instead of
  // in one burst at the schedule's first value.
  kFull,
  // lws's retry helper: the schedule value plus 0..jitterPercent % of it.
  kAdd,
};
constexpr const char* kJitterNames[] = {"full", "add"};

// Columns of a row of the event index (kIndexStride doubles per event,
// event_batch.h): a kSent row counts completed messages in kColOffset and
// onOpen's among them in kColLength.
enum IndexColumn : int { kColType, kColId, kColValue, kColChunk, kColOffset, kColLength };

}  // namespace nlws
