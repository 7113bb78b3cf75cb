// Everything one connection attempt needs, already validated by the façade
// (lib/options/validate.ts): nothing here is checked again before it
// reaches lws. No defaults either: the façade sends every field
// (lib/options/defaults.ts is the only table of them); unset reads as zero.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "wire.h"

namespace nlws {

struct TlsSettings {
  // The trust store: DER certificates (Node's roots by default), named by
  // `caKey`. The façade sends the certificates only the first time a key is
  // used in this environment; the service thread keeps them by key.
  std::string caKey;
  std::vector<std::string> caDer;
  std::string certPem;
  std::string keyPem;
  std::string passphrase;
  bool rejectUnauthorized = false;
  // Each relaxes one check (lws's LCCSCF_ALLOW_* flags); see connection/race.cc.
  bool allowSelfSigned = false;    // DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN
  bool allowUnknownCA = false;     // UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE
  bool allowInvalidDates = false;  // CERT_HAS_EXPIRED, CERT_NOT_YET_VALID
  bool allowHostMismatch = false;  // no host/IP check at all
};

struct ProxySettings {
  std::string host;  // as given; resolved on the resolver thread
  uint16_t port = 0;
  std::string auth;  // "user:pass", or empty
  bool enabled() const { return port != 0; }
};

// What the persistence engine does between and around connections. Times in
// ms; 0 disables the feature it controls.
struct SessionPolicy {
  bool reconnect = false;
  // Upper bounds of the full-jitter draw per attempt; the last repeats.
  std::vector<uint32_t> backoffMs;
  Jitter jitter = Jitter::kFull;
  uint8_t jitterPercent = 0;      // for Jitter::kAdd
  uint32_t maxRetryAfterMs = 0;   // a server's Retry-After is followed up to this
  uint16_t maxAttempts = 0;       // consecutive failed attempts; 0: no limit
  uint32_t resetAfterMs = 0;      // uptime after which the try counter resets
  bool reconnectOnNormalClose = false;
  uint32_t heartbeatIntervalMs = 0;
  uint32_t heartbeatTimeoutMs = 0;
  bool pongOnly = false;          // only PONGs prove life (not any frame)
  uint32_t stallTimeoutMs = 0;
  uint32_t maxConnectionAgeMs = 0;
  uint8_t maxConnectionAgeJitterPercent = 0;
  uint32_t rotationOverlapMs = 0;  // old connection still delivers after a switch
  uint32_t queueMaxMessages = 0;
  uint64_t queueMaxBytes = 0;
  uint32_t queueTtlMs = 0;
  Overflow overflow = Overflow::kReject;  // kReject is enforced by the façade
  bool hookConfig = false;        // ask JS for url/headers before each attempt
  bool hookDecide = false;        // ask JS (shouldReconnect) after each failure
  bool hookOnOpen = false;        // run JS onOpen before flushing the backlog
  bool proxyRefresh = false;      // a proxy function gives each attempt its credentials
  bool hookLookup = false;        // ask JS (the lookup option) for the addresses of each attempt
};

struct ConnectOptions {
  std::string host;        // URL hostname, IPv6 without brackets
  uint16_t port = 0;
  bool ipv6Literal = false;
  std::string path;        // path and query, starts with '/'
  bool secure = false;
  std::string servername;  // SNI and certificate name; empty: host
  std::string origin;
  std::string protocols;   // comma-separated offer
  std::vector<std::pair<std::string, std::string>> headers;
  bool followRedirects = false;
  // Addresses (Node's net options): try every address the name resolves
  // to, families interleaved, the next one attemptTimeoutMs after the
  // previous started or at once when it failed (RFC 8305); false: the
  // first address only. family 4 or 6: that family only.
  bool autoSelectFamily = false;
  uint32_t attemptTimeoutMs = 0;
  uint8_t family = 0;
  bool perMessageDeflate = false;
  bool autoPong = false;   // answer PINGs natively (ws's autoPong)
  uint64_t maxPayload = 0;
  bool skipUtf8Validation = false;  // ws's skipUTF8Validation: text and close reasons unchecked
  uint32_t fragmentSize = 0;
  uint64_t receiveHighWaterMark = 0;  // bytes handed to JS and not yet consumed before reading pauses
  uint32_t closeTimeoutMs = 0;
  uint32_t handshakeTimeoutMs = 0;
  TlsSettings tls;
  ProxySettings proxy;
  SessionPolicy policy;
};

}  // namespace nlws
