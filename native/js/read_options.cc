#include "read_options.h"

#include "values.h"

namespace nlws::js {

namespace {

// Bounds of the façade's validation (lib/options/): a raw caller's values are
// clamped to them, so the service thread never sees one the façade refuses.
constexpr double kMaxMs = 2147483647.0;         // 2^31 - 1, Node's timers
constexpr double kMaxBytes = 9007199254740991.0;  // 2^53 - 1

void ReadPolicy(const Napi::Object& pol, SessionPolicy& p) {
  p.reconnect = Bool(pol.Get("reconnect"));
  Napi::Value table = pol.Get("backoffMs");
  for (uint32_t i = 0, n = Length(table); i < n && i < 64; i++)
    p.backoffMs.push_back(Int<uint32_t>(table.As<Napi::Array>().Get(i), 0, kMaxMs));
  // No schedule, no reconnect (the façade always sends one).
  if (p.backoffMs.empty()) p.reconnect = false;
  p.jitter = U32(pol.Get("jitter")) == static_cast<uint32_t>(Jitter::kAdd) ? Jitter::kAdd : Jitter::kFull;
  p.jitterPercent = Int<uint8_t>(pol.Get("jitterPercent"), 0, 100);
  p.maxRetryAfterMs = Int<uint32_t>(pol.Get("maxRetryAfterMs"), 0, kMaxMs);
  p.maxAttempts = Int<uint16_t>(pol.Get("maxAttempts"), 0, 65534);
  p.resetAfterMs = Int<uint32_t>(pol.Get("resetAfterMs"), 0, kMaxMs);
  p.reconnectOnNormalClose = Bool(pol.Get("reconnectOnNormalClose"));
  p.heartbeatIntervalMs = Int<uint32_t>(pol.Get("heartbeatIntervalMs"), 0, kMaxMs);
  p.heartbeatTimeoutMs = Int<uint32_t>(pol.Get("heartbeatTimeoutMs"), 0, kMaxMs);
  p.pongOnly = Bool(pol.Get("pongOnly"));
  p.stallTimeoutMs = Int<uint32_t>(pol.Get("stallTimeoutMs"), 0, kMaxMs);
  p.maxConnectionAgeMs = Int<uint32_t>(pol.Get("maxConnectionAgeMs"), 0, kMaxMs);
  p.maxConnectionAgeJitterPercent = Int<uint8_t>(pol.Get("maxConnectionAgeJitterPercent"), 0, 100);
  p.rotationOverlapMs = Int<uint32_t>(pol.Get("rotationOverlapMs"), 0, kMaxMs);
  p.queueMaxMessages = U32(pol.Get("queueMaxMessages"));
  p.queueMaxBytes = Int<uint64_t>(pol.Get("queueMaxBytes"), 0, kMaxBytes);
  p.queueTtlMs = Int<uint32_t>(pol.Get("queueTtlMs"), 0, kMaxMs);
  p.overflow = static_cast<Overflow>(Int<uint8_t>(pol.Get("overflow"), 0, static_cast<uint8_t>(Overflow::kDropNewest)));
  p.hookConfig = Bool(pol.Get("hookConfig"));
  p.hookDecide = Bool(pol.Get("hookDecide"));
  p.hookOnOpen = Bool(pol.Get("hookOnOpen"));
  p.proxyRefresh = Bool(pol.Get("proxyRefresh"));
  p.hookLookup = Bool(pol.Get("hookLookup"));
}

}  // namespace

std::unique_ptr<ConnectOptions> ReadConnectOptions(const Napi::Object& o) {
  auto opts = std::make_unique<ConnectOptions>();
  opts->host = Str(o.Get("host"));
  opts->port = Int<uint16_t>(o.Get("port"), 0, 65535);
  opts->ipv6Literal = Bool(o.Get("ipv6Literal"));
  opts->path = Str(o.Get("path"));
  opts->secure = Bool(o.Get("secure"));
  opts->servername = Str(o.Get("servername"));
  opts->origin = Str(o.Get("origin"));
  opts->protocols = Str(o.Get("protocols"));
  // [name, value, name, value, ...]
  Napi::Value headers = o.Get("headers");
  for (uint32_t i = 0, n = Length(headers); i + 1 < n; i += 2) {
    Napi::Value k = headers.As<Napi::Array>().Get(i), v = headers.As<Napi::Array>().Get(i + 1);
    if (k.IsString() && v.IsString()) opts->headers.emplace_back(Str(k), Str(v));
  }
  opts->followRedirects = Bool(o.Get("followRedirects"));
  opts->autoSelectFamily = Bool(o.Get("autoSelectFamily"));
  opts->attemptTimeoutMs = Int<uint32_t>(o.Get("autoSelectFamilyAttemptTimeout"), 10, kMaxMs);
  uint8_t family = Int<uint8_t>(o.Get("family"), 0, 6);
  opts->family = family == 4 || family == 6 ? family : 0;
  opts->perMessageDeflate = Bool(o.Get("perMessageDeflate"));
  opts->autoPong = Bool(o.Get("autoPong"));
  opts->maxPayload = Int<uint64_t>(o.Get("maxPayload"), 0, kMaxBytes);
  opts->skipUtf8Validation = Bool(o.Get("skipUtf8Validation"));
  opts->fragmentSize = Int<uint32_t>(o.Get("fragmentSize"), 1, kMaxMs);
  opts->receiveHighWaterMark = Int<uint64_t>(o.Get("receiveHighWaterMark"), 1, kMaxBytes);
  opts->closeTimeoutMs = Int<uint32_t>(o.Get("closeTimeoutMs"), 1, kMaxMs);
  opts->handshakeTimeoutMs = Int<uint32_t>(o.Get("handshakeTimeoutMs"), 1, kMaxMs);
  TlsSettings& tls = opts->tls;
  // The one field read as true unless it says false: a raw record without it
  // must not connect unverified.
  Napi::Value reject = o.Get("rejectUnauthorized");
  tls.rejectUnauthorized = !(reject.IsBoolean() && !reject.As<Napi::Boolean>().Value());
  tls.allowSelfSigned = Bool(o.Get("allowSelfSigned"));
  tls.allowUnknownCA = Bool(o.Get("allowUnknownCA"));
  tls.allowInvalidDates = Bool(o.Get("allowInvalidDates"));
  tls.allowHostMismatch = Bool(o.Get("allowHostMismatch"));
  tls.caKey = Str(o.Get("caKey"));
  Napi::Value ca = o.Get("caDer");
  for (uint32_t i = 0, n = Length(ca); i < n; i++) tls.caDer.push_back(Bytes(ca.As<Napi::Array>().Get(i)));
  tls.certPem = Bytes(o.Get("cert"));
  tls.keyPem = Bytes(o.Get("key"));
  tls.passphrase = Str(o.Get("passphrase"));
  opts->proxy.host = Str(o.Get("proxyHost"));
  opts->proxy.port = Int<uint16_t>(o.Get("proxyPort"), 0, 65535);
  opts->proxy.auth = Str(o.Get("proxyAuth"));
  Napi::Value pol = o.Get("policy");
  if (pol.IsObject()) ReadPolicy(pol.As<Napi::Object>(), opts->policy);
  return opts;
}

}  // namespace nlws::js
