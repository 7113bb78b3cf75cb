// The wire contract: every number and name that crosses the Node-API
// boundary and means the same on both sides. lib/wire.ts holds the same
// lists; the binding's constants() exports these, and test/wire.test.ts
// fails when the two differ. Change a value here and there together.
//
// A list's order is its numbering: the number of a name is its index.
#pragma once
#include <cstddef>
#include <cstdint>
#include <iterator>

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

// Events from the service thread to JS: column kColType of the index. JSON
// payloads of session events carry `at`, the service thread's wall clock in
// ms (timings hold while JS is blocked); open, disconnect and close also
// carry `mono`, its monotonic clock, for durations. lib/wire.ts types them.
enum class EventType : uint8_t {
  kOpen = 1,            // value: attempt; payload: JSON {protocol, extensions, headers, reconnected, attempt, remote, handshake, at, mono}
  kText = 2,            // payload: message bytes
  kBinary = 3,          // payload: message bytes
  kClose = 4,           // value: close code; payload: JSON {code, reason, at, mono}
  kError = 5,           // value: attempt; payload: JSON {code, message, status?, headers?, syscall?, ...}
  kPong = 6,            // value: heartbeat RTT ms (-1: not a heartbeat's); payload: pong bytes
  kSent = 7,            // value: bytes written; kColOffset: messages completed; kColLength: onOpen's among them
  kLog = 8,             // value: lws log level; payload: the line
  kState = 9,           // value: SessionState
  kDisconnect = 10,     // value: close code; payload: JSON {cause, code, reason, status?, uptimeMs, at, mono}
  kReconnecting = 11,   // value: delay ms; payload: JSON {attempt, delayMs, cause, retryAfter?, retryAfterMs?, at}
  kGiveUp = 12,         // payload: JSON {cause, reason, code, status?, at}
  kStall = 13,          // value: idle ms; payload: JSON {idleMs, at}
  kRotate = 14,         // payload: JSON {phase: start|open|switch|done|failed, at}
  kDrop = 15,           // value: DropValue(); payload: the message
  kNeedConfig = 16,     // value: attempt; payload: empty, or a redirect {location, status, from, hop}; JS answers config()
  kDecide = 17,         // payload: JSON failure and proposed decision; JS answers decision()
  kOnOpen = 18,         // value: attempt; JS runs onOpen, answers onOpenDone()
  kGap = 19,            // payload: JSON {from, to}
  kCloseReceived = 20,  // value: attempt; the server's Close waits for JS: answer closeEcho()
  kPing = 21,           // payload: the PING's payload
  kNeedLookup = 22,     // value: attempt; payload: JSON {host, family, all}; JS answers resolved()
};
// Names by number (index 0 unused), as lib/wire.ts's EventType has them.
constexpr const char* kEventTypeNames[] = {
    nullptr,       "Open",  "Text",   "Binary",     "Close",      "Error",  "Pong",          "Sent",
    "Log",         "State", "Disconnect", "Reconnecting", "GiveUp", "Stall", "Rotate",   "Drop",
    "NeedConfig",  "Decide", "OnOpen", "Gap",       "CloseReceived", "Ping", "NeedLookup",
};
static_assert(std::size(kEventTypeNames) == static_cast<size_t>(EventType::kNeedLookup) + 1, "a name per event type");

// The event index: one row of kIndexStride doubles per event, in these
// columns (a kSent row counts completed messages in kColOffset and onOpen's
// among them in kColLength).
enum IndexColumn : int { kColType, kColId, kColValue, kColChunk, kColOffset, kColLength };
constexpr int kIndexStride = 6;

}  // namespace nlws
