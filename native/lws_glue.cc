#include "lws_glue.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>

#include "connection_errors.h"
#include "event_batch.h"
#include "frame_writer.h"
#include "json.h"
#include "log_sink.h"
#include "thread/resolver.h"
#include "server_limits.h"
#include "thread/service_thread.h"
#include "session/session.h"

namespace nlws {

using namespace conn;

namespace {

constexpr const char* kProtocolName = "nlws-client";
// lws's own keepalive ("validity": a PING after secs_since_valid_ping, a
// hang-up after secs_since_valid_hangup) is off for every connection. Its
// default (300 s / 310 s) applied to connections with `heartbeat: false`
// too, and each connection's validity timer sat in lws's sorted timer list,
// which every insertion walks (opening 10,000 connections was quadratic).
// Our heartbeat (timer queue, millisecond timers) is the only keepalive.
const lws_retry_bo_t kNoLwsKeepalive = {};
// Heartbeat PINGs carry this tag and the send time, so the PONG gives the RTT.
constexpr char kHeartbeatTag[4] = {'n', 'l', 'h', 'b'};
constexpr size_t kHeartbeatLen = sizeof(kHeartbeatTag) + sizeof(double);
// Bounds on one WRITEABLE callback, so one busy connection cannot starve the
// others of the service thread.
constexpr int kWritesPerCallback = 64;
constexpr size_t kBytesPerCallback = 256 * 1024;
// A message's announced length is reserved up to this much at once; beyond
// it the buffer grows as the bytes arrive (an announcement costs nothing
// to make).
constexpr uint64_t kRxReserveMax = 16 * 1024 * 1024;
// Coalesced writes (WriteCoalesced): messages up to this size, up to this
// many bytes of frames per write.
constexpr size_t kCoalesceMessageMax = 8 * 1024;
constexpr size_t kCoalesceBytes = 64 * 1024;
constexpr int kCoalesceMessages = 1024;
// OpenSSL's read buffer with read-ahead (see HandleCallback).
constexpr size_t kTlsReadBuffer = 64 * 1024;

Connection* ConnOf(struct lws* wsi) {
  return wsi ? static_cast<Connection*>(lws_get_opaque_user_data(wsi)) : nullptr;
}

void StopTimers(Connection& c) {
  TimerQueue& q = c.service.timers();
  q.Cancel(c.closeTimer.timer);
  q.Cancel(c.echoTimer.timer);
  q.Cancel(c.handshakeTimer.timer);
  q.Cancel(c.heartbeatTimer.timer);
  q.Cancel(c.raceTimer.timer);
}

// Reports the end of the attempt (once) to its session, which frees it
// after the current service iteration.
void End(Connection& c, Cause cause, int code, const std::string& reason) {
  if (c.phase == Connection::Phase::kDone) return;
  c.phase = Connection::Phase::kDone;
  StopTimers(c);
  ConnectionDropRacers(c);
  if (c.wsi) lws_set_opaque_user_data(c.wsi, nullptr);
  c.wsi = nullptr;
  AttemptEnd end;
  end.cause = cause;
  end.code = code;
  end.reason = reason;
  end.errorJson = std::move(c.errorJson);
  end.status = c.httpStatus;
  end.retryAfter = c.retryAfter;
  end.location = std::move(c.location);
  c.session.AttemptEnded(c, std::move(end));
}

void StartTimer(Connection& c, ConnectionTimer& t, double ms, TimerFn cb) {
  t.owner = &c;
  c.service.timers().Schedule(t.timer, static_cast<int64_t>(ms * LWS_US_PER_MS), cb);
}

void StopTimer(Connection& c, ConnectionTimer& t) { c.service.timers().Cancel(t.timer); }

// Drops the connection without a closing handshake. lws may replace the
// timeout with one of its own as the connection progresses (connect done,
// handshake sent), so every later callback of this wsi also fails it.
void Kill(Connection& c) {
  c.killed = true;
  if (c.wsi) lws_set_timeout(c.wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

// Timer callbacks run just before the service thread sleeps in poll():
// whatever they emitted is published at once.
void FlushEvents() {
  if (EventBatch* events = ThreadEventBatch()) events->Flush();
}

// The close handshake did not complete in time: drop TCP.
void OnCloseTimeout(Timer* t) {
  Kill(*reinterpret_cast<ConnectionTimer*>(t)->owner);
}

void OnHandshakeTimeout(Timer* t) {
  Connection* c = reinterpret_cast<ConnectionTimer*>(t)->owner;
  if (c->phase != Connection::Phase::kConnecting && c->phase != Connection::Phase::kResolving) return;
  Fail(*c, "ETIMEDOUT", "opening handshake timed out after " +
                            std::to_string(c->opts->handshakeTimeoutMs) + " ms");
  c->killCause = Cause::kTimeout;
  if (c->wsi) {
    Kill(*c);
  } else {
    End(*c, Cause::kTimeout, 1006, "");
  }
  FlushEvents();
}

// Keepalive (RFC 6455 5.5.2): a PING every intervalMs (carrying its send
// time, so the PONG gives the RTT); when nothing proves life within
// timeoutMs of a PING, the link is dead.
void OnHeartbeat(Timer* t) {
  Connection* c = reinterpret_cast<ConnectionTimer*>(t)->owner;
  if (c->phase != Connection::Phase::kOpen || c->killed) return;
  const SessionPolicy& p = c->opts->policy;
  double now = MonoMs();
  if (c->pingSentMs > 0) {
    if (now - c->pingSentMs >= p.heartbeatTimeoutMs) {
      Fail(*c, "ERR_HEARTBEAT_TIMEOUT", "nothing received within " + std::to_string(p.heartbeatTimeoutMs) + " ms of a ping");
      // A dead link: close abortively (SO_LINGER 0), so the kernel discards
      // what it still holds unacknowledged instead of retransmitting it
      // after the close. Else, when the link returns, those messages reach
      // the server on the old connection after the ones the replacement
      // carried (out of order, and twice if the application resent them).
      if (c->wsi) {
        struct linger hardClose = {1, 0};
        setsockopt(lws_get_socket_fd(c->wsi), SOL_SOCKET, SO_LINGER, &hardClose, sizeof hardClose);
      }
      ConnectionKill(*c, Cause::kHeartbeat, false);
      FlushEvents();
      return;
    }
    StartTimer(*c, c->heartbeatTimer, c->pingSentMs + p.heartbeatTimeoutMs - now, OnHeartbeat);
    return;
  }
  double due = c->lastPingMs + p.heartbeatIntervalMs;
  if (now >= due) {
    c->heartbeatPing = true;
    c->pingSentMs = now;
    c->lastPingMs = now;
    if (c->wsi) lws_callback_on_writable(c->wsi);
    StartTimer(*c, c->heartbeatTimer, p.heartbeatTimeoutMs, OnHeartbeat);
  } else {
    StartTimer(*c, c->heartbeatTimer, due - now, OnHeartbeat);
  }
}

// Life proven (a frame, or with pongOnly only a PONG). A PING waiting for
// proof is answered: the timer moves to the next PING. It is moved only
// then (once per interval), not on every frame.
void ProvenAlive(Connection& c) {
  c.lastLifeMs = MonoMs();
  if (c.pingSentMs > 0) {
    c.pingSentMs = 0;
    double next = c.lastPingMs + c.opts->policy.heartbeatIntervalMs - c.lastLifeMs;
    StartTimer(c, c.heartbeatTimer, next, OnHeartbeat);
  }
}

void ProofOfLife(Connection& c) {
  if (c.opts->policy.pongOnly || !c.opts->policy.heartbeatIntervalMs) return;
  ProvenAlive(c);
}


void OnRaceTimer(Timer* t);

// The attempt failed on every address: it reports the first address's
// error (the preferred one).
void FailRace(Connection& c) {
  for (auto& r : c.racers) {
    if (!r->failed) continue;
    c.errorJson = r->errorJson;
    End(c, r->cause, 1006, "");
    return;
  }
  Fail(c, "ECONNREFUSED", "no address to connect to");
  End(c, Cause::kRefused, 1006, "");
}

bool RaceOver(const Connection& c) {
  if (c.nextAddress < c.addresses.size()) return false;
  for (auto& r : c.racers)
    if (!r->failed) return false;
  return true;
}

// A racer failed (refused, unreachable, lws could not start it): the next
// address starts at once, without waiting for the attempt delay.
void RacerFailed(Connection& c, Racer& r, Cause cause, std::string errorJson) {
  if (r.failed) return;
  r.failed = true;
  r.wsi = nullptr;
  r.cause = cause;
  r.errorJson = std::move(errorJson);
  if (c.phase != Connection::Phase::kConnecting || c.wsi || c.launching) return;
  if (c.nextAddress < c.addresses.size()) {
    StartTimer(c, c.raceTimer, 0, OnRaceTimer);
  } else if (RaceOver(c)) {
    FailRace(c);
  }
}

Racer* RacerOf(Connection& c, struct lws* wsi) {
  for (auto& r : c.racers)
    if (r->wsi == wsi) return r.get();
  return nullptr;
}

// Starts lws on one address. False when it failed at once.
bool LaunchRacer(Connection& c, const std::string& address) {
  const ConnectOptions& o = *c.opts;
  c.racers.push_back(std::make_unique<Racer>());
  Racer& r = *c.racers.back();
  r.address = address;
  struct lws_client_connect_info i;
  memset(&i, 0, sizeof i);
  i.context = c.service.context();
  i.vhost = c.vhost;
  // Through a proxy, lws sends CONNECT <address>:<port> to the proxy.
  i.address = o.proxy.enabled() ? o.host.c_str() : r.address.c_str();
  i.port = o.port;
  i.path = o.path.c_str();
  i.host = c.hostHeader.c_str();
  i.origin = o.origin.empty() ? nullptr : o.origin.c_str();
  i.protocol = o.protocols.empty() ? nullptr : o.protocols.c_str();
  i.local_protocol_name = kProtocolName;
  i.opaque_user_data = &c;
  i.pwsi = &r.wsi;
  i.retry_and_idle_policy = &kNoLwsKeepalive;
  c.session.log->Refresh();
  i.log_cx = &c.session.log->cx;
  int flags = 0;
  if (o.secure) {
    flags |= LCCSCF_USE_SSL;
    // lws's verify callback (openssl-client.c) accepts, per flag:
    // ALLOW_SELFSIGNED: DEPTH_ZERO_SELF_SIGNED_CERT, SELF_SIGNED_CERT_IN_CHAIN;
    // ALLOW_INSECURE: UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE;
    // ALLOW_EXPIRED: CERT_HAS_EXPIRED and CERT_NOT_YET_VALID;
    // SKIP_SERVER_CERT_HOSTNAME_CHECK: no host or IP is given to OpenSSL.
    // Anything else (rejectUnauthorized: false) is accepted in our callback.
    const TlsSettings& t = o.tls;
    bool all = !t.rejectUnauthorized;
    if (all || t.allowSelfSigned) flags |= LCCSCF_ALLOW_SELFSIGNED;
    if (all || t.allowUnknownCA) flags |= LCCSCF_ALLOW_INSECURE;
    if (all || t.allowInvalidDates) flags |= LCCSCF_ALLOW_EXPIRED;
    if (all || t.allowHostMismatch) flags |= LCCSCF_SKIP_SERVER_CERT_HOSTNAME_CHECK;
  }
  // lws never follows a redirect itself: its redirect (lws_client_reset)
  // reuses the wsi for the new target and, when that fails (unresolvable
  // host, a Location it cannot parse), frees it without a callback while
  // this attempt still points at it, and keeps the first hop's headers and
  // TLS settings. The session follows redirects as fresh attempts instead.
  flags |= LCCSCF_HTTP_NO_FOLLOW_REDIRECT;
  i.ssl_connection = flags;
  c.launching = true;
  struct lws* w = lws_client_connect_via_info(&i);
  c.launching = false;
  if (!w) {
    // No CONNECTION_ERROR callback follows a NULL return.
    r.wsi = nullptr;
    RacerFailed(c, r, Cause::kRefused,
                ErrorJson("ECONNREFUSED", "could not start the connection to " + address));
    return false;
  }
  return !r.failed;
}

// Starts the next address; once all have started, the attempt fails when
// the last racer does.
void LaunchNext(Connection& c) {
  while (c.phase == Connection::Phase::kConnecting && !c.wsi && !c.killed &&
         c.nextAddress < c.addresses.size()) {
    const std::string& address = c.addresses[c.nextAddress++];
    if (LaunchRacer(c, address)) {
      if (c.phase == Connection::Phase::kConnecting && !c.wsi && c.nextAddress < c.addresses.size())
        StartTimer(c, c.raceTimer, std::max<uint32_t>(c.opts->attemptTimeoutMs, 10), OnRaceTimer);
      return;
    }
  }
  if (c.phase == Connection::Phase::kConnecting && !c.wsi && RaceOver(c)) FailRace(c);
}

void OnRaceTimer(Timer* t) {
  LaunchNext(*reinterpret_cast<ConnectionTimer*>(t)->owner);
  FlushEvents();
}

// A racer connected at TCP level (LWS_CALLBACK_WSI_CREATE, before TLS and
// before the upgrade request): the first one wins; the rest are closed.
// Non-zero closes this one before it sends anything.
int RacerConnected(Connection& c, Racer& r, struct lws* wsi) {
  if (c.phase != Connection::Phase::kConnecting || c.wsi || c.killed) return -1;
  c.wsi = wsi;
  c.address = c.opts->proxy.enabled() ? c.proxyAddress : r.address;
  c.tcpAtMs = MonoMs();
  r.wsi = nullptr;  // the attempt's now, not a racer's
  ConnectionDropRacers(c);
  return 0;
}

int RacerCallback(Connection& c, struct lws* wsi, enum lws_callback_reasons reason, void* in) {
  Racer* r = RacerOf(c, wsi);
  if (!r) return reason == LWS_CALLBACK_WSI_CREATE ? -1 : 0;
  switch (reason) {
    case LWS_CALLBACK_WSI_CREATE:
      return RacerConnected(c, *r, wsi);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR: {
      // Classified as the attempt's own error would be, then kept aside:
      // the attempt reports it only if every address fails.
      // (It names the address connected to: this racer's.)
      std::string kept = std::move(c.errorJson);
      Cause keptCause = c.cause;
      std::string keptAddress = std::move(c.address);
      c.errorJson.clear();
      c.address = r->address;
      const char* text = static_cast<const char*>(in);
      ClassifyConnectError(c, text, text ? strlen(text) : 0, wsi);
      std::string err = std::move(c.errorJson);
      Cause cause = c.cause;
      c.errorJson = std::move(kept);
      c.cause = keptCause;
      c.address = std::move(keptAddress);
      lws_set_opaque_user_data(wsi, nullptr);
      RacerFailed(c, *r, cause, std::move(err));
      return 0;
    }
    case LWS_CALLBACK_WSI_DESTROY:
      lws_set_opaque_user_data(wsi, nullptr);
      RacerFailed(c, *r, Cause::kNetwork, ErrorJson("ECONNRESET", "connection to " + r->address + " failed"));
      return 0;
    default:
      return 0;
  }
}

void StartLwsConnect(Connection& c) {
  const ConnectOptions& o = *c.opts;
  // lws copies URI, Host, Origin and the subprotocol offer into the header
  // table before connecting. When they do not fit, lws 4.3.5 returns NULL
  // but leaks the new wsi with our opaque pointer in it: its validity timer
  // later calls back into this freed Connection. The façade bounds each of
  // them (lib/options.ts); this refuses the rest before lws sees them.
  size_t head = o.path.size() + c.hostHeader.size() + o.origin.size() + o.protocols.size() + 64;
  if (head >= kHeaderTableBytes) {
    Fail(c, "ERR_REQUEST_TOO_LARGE", "the request URI, Host, Origin and subprotocols take " +
                                         std::to_string(head) + " bytes; lws holds at most " +
                                         std::to_string(kHeaderTableBytes));
    End(c, Cause::kConfig, 1006, "");
    return;
  }
  c.vhost = c.service.VhostFor(c);
  if (!c.vhost) {
    Fail(c, "ERR_TLS_CONFIG", "could not set up TLS for this connection (bad ca, cert or key?)");
    End(c, Cause::kTls, 1006, "");
    return;
  }
  c.phase = Connection::Phase::kConnecting;
  LaunchNext(c);
}

// Codes a Close frame may carry (RFC 6455 7.4.1, 7.4.2).
bool IsValidCloseCode(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

// The connection is failed (RFC 6455 7.1.7) with Close `code`, already set
// on the wsi: nothing more is processed or answered (lws parses nothing
// more, deps/patch-lws.py), the Close is the next frame lws writes, TCP is
// dropped if the server does not answer within closeTimeout (lws would wait
// its fixed 5 s), and the error reaches JS now, not when the handshake ends.
void MarkFailed(Connection& c, int code, const char* errCode, const std::string& message) {
  Fail(c, errCode, message);
  c.failed = true;
  c.closeCode = code;
  c.closeReason.clear();
  c.closeSent = true;  // CLIENT_CLOSED reports closeCode, also if TCP drops first
  c.killCause = Cause::kProtocol;
  c.phase = Connection::Phase::kClosing;
  c.rx = std::vector<uint8_t>();
  c.pongs.clear();
  StopTimer(c, c.echoTimer);
  StartTimer(c, c.closeTimer, c.opts->closeTimeoutMs, OnCloseTimeout);
  c.session.AttemptFailed(c);
}

// Fails the connection from one of its callbacks: the non-zero return makes
// lws close it, sending the Close set here (lws 4.3.5 left its rx buffer
// full and kept filling it past its end after such a return from RECEIVE;
// patched).
int FailOpenConnection(Connection& c, struct lws* wsi, int code, const char* errCode,
                       const std::string& message) {
  lws_close_reason(wsi, static_cast<enum lws_close_status>(code), nullptr, 0);
  MarkFailed(c, code, errCode, message);
  return -1;
}

// The server's Close was held (see Connection::echoHeld): JS did not
// confirm within closeTimeout, or the queue did not drain. Echo now.
void OnEchoTimeout(Timer* t) {
  Connection* c = reinterpret_cast<ConnectionTimer*>(t)->owner;
  if (!c->echoHeld || c->closeSent) return;
  c->echoWaitJs = false;
  c->echoForced = true;
  // Should the echo not get out either (a socket that stays full), TCP goes.
  StartTimer(*c, c->closeTimer, c->opts->closeTimeoutMs, OnCloseTimeout);
  if (c->wsi) lws_callback_on_writable(c->wsi);
}

int OnReceive(Connection& c, struct lws* wsi, const uint8_t* in, size_t len) {
  if (c.phase != Connection::Phase::kOpen && c.phase != Connection::Phase::kClosing) return 0;
  if (c.failed || c.echoHeld) return 0;  // lws parses nothing more then; in case
  ProofOfLife(c);
  // A message starts with the first chunk after the previous message's
  // last. lws's first-fragment flag misses that start when a compressed
  // message's first frame inflated to nothing: the first output then comes
  // with a continuation frame (and lws_frame_is_binary still holds).
  bool first = !c.rxInMessage;
  bool final = lws_is_final_fragment(wsi);
  c.rxInMessage = !final;
  if (first) {
    c.rxBinary = lws_frame_is_binary(wsi);
    c.rxCompressed = (lws_get_reserved_bits(wsi) & 0x40) != 0 || !lws_is_first_fragment(wsi);
    c.rx.clear();
    c.rxSize = 0;
    c.utf8 = Utf8State();
  }
  c.rxSize += len;
  // An uncompressed frame's declared length counts too: one that announces
  // more than maxPayload fails at its first bytes, not after maxPayload was
  // buffered. (Compressed messages count as they inflate.)
  if (c.rxSize > c.opts->maxPayload ||
      (!c.rxCompressed && lws_remaining_packet_payload(wsi) > c.opts->maxPayload - c.rxSize))
    return FailOpenConnection(c, wsi, 1009, "ERR_MESSAGE_TOO_BIG",
                              "message exceeds maxPayload (" + std::to_string(c.opts->maxPayload) +
                                  " bytes)");
  if (!c.rxBinary && !c.opts->skipUtf8Validation &&
      (!Utf8Feed(c.utf8, in, len) || (final && !c.utf8.complete())))
    return FailOpenConnection(c, wsi, 1007, "ERR_INVALID_UTF8", "text message is not valid UTF-8");
  EventType type = c.rxBinary ? EventType::kBinary : EventType::kText;
  if (first && final) {
    // `in` points into lws's read buffer (deps/patch-lws.py, 15): this is
    // the one copy, into the chunk JS gets.
    c.session.AttemptMessage(c, type, in, len);
  } else {
    // A message in pieces (a frame across reads, fragments, inflated
    // output) is gathered here and handed over as its own chunk when large
    // (EventBatch::AddMessage). Its frame's announced length is reserved
    // at once, so the vector does not copy itself as it grows.
    if (!c.rxCompressed) {
      uint64_t want = c.rx.size() + len + lws_remaining_packet_payload(wsi);
      if (want > c.rx.capacity() && want <= kRxReserveMax) c.rx.reserve(static_cast<size_t>(want));
    }
    c.rx.insert(c.rx.end(), in, in + len);
    if (!final) return 0;
    c.session.AttemptMessageOwned(c, type, std::move(c.rx));
    c.rx = std::vector<uint8_t>();
  }
  // Account the whole message: JS acknowledges messages, not chunks; each
  // also costs its index row and bookkeeping, counted as kMessageOverhead.
  c.session.RxAdded(c, c.rxSize + kMessageOverhead);
  return 0;
}

// A PING or PONG (payload at most 125 bytes: the façade checks what JS
// gives, PINGs received are checked by lws).
int WriteControl(struct lws* wsi, enum lws_write_protocol type, const void* payload, size_t len) {
  uint8_t buf[LWS_PRE + 125];
  if (len > 125) len = 125;
  if (len) memcpy(buf + LWS_PRE, payload, len);
  return lws_write(wsi, buf + LWS_PRE, len, type);
}

// Sends the server's Close back (RFC 6455 5.5.1), the same code and reason
// (1000 for a Close without code: 1005 must not be on the wire).
int SendEcho(Connection& c, struct lws* wsi) {
  c.closeSent = true;
  c.phase = Connection::Phase::kClosing;
  StopTimer(c, c.echoTimer);
  int code = c.peerCode == 1005 ? 1000 : c.peerCode;
  std::string reason = c.peerCode == 1005 ? std::string() : c.peerReason;
  lws_close_reason(wsi, static_cast<enum lws_close_status>(code),
                   reinterpret_cast<unsigned char*>(&reason[0]), reason.size());
  StartTimer(c, c.closeTimer, c.opts->closeTimeoutMs, OnCloseTimeout);
  return -1;
}

// Small whole messages queued together go out as one write: we frame and
// mask them ourselves (frame_writer.h) into a per-thread buffer and hand
// lws the bytes raw (it copies what the socket does not take, and the next
// write waits for that: lws_send_pipe_choked()). Returns the number of
// messages written, 0 when fewer than two qualify (lws frames the next one,
// without a copy), -1 when the write failed. Messages count as written only
// after the write: on a failure they stay queued for the next connection.
int WriteCoalesced(Connection& c, struct lws* wsi, int maxMessages, size_t* bytes) {
  size_t count = 0;
  size_t total = 0;
  for (OutMessage* m; static_cast<int>(count) < maxMessages &&
                      (m = c.session.PeekToWrite(c, count)) != nullptr;
       count++) {
    size_t len = m->size();
    if (m->sent != 0 || len > kCoalesceMessageMax || len > c.opts->fragmentSize) break;
    if (total + ClientFrameSize(len) > kCoalesceBytes) break;
    total += ClientFrameSize(len);
  }
  if (count < 2) return 0;
  static thread_local std::vector<uint8_t> buf;
  if (buf.size() < kCoalesceBytes) buf.resize(kCoalesceBytes);
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    OutMessage* m = c.session.PeekToWrite(c, i);
    if (!WriteMaskedFrame(buf.data() + at, m->binary, m->payload(), m->size())) {
      if (i < 2) return 0;  // no random keys: lws frames them
      count = i;
      break;
    }
    at += ClientFrameSize(m->size());
  }
  if (lws_write(wsi, buf.data(), at, LWS_WRITE_RAW) < 0) return -1;
  *bytes += at;
  for (size_t i = 0; i < count; i++) {
    OutMessage* m = c.session.NextToWrite(c);
    size_t len = m->size();
    m->sent = len;
    c.session.Written(c, m, len, true);  // frees m
  }
  return static_cast<int>(count);
}

int OnWritable(Connection& c, struct lws* wsi) {
  if (c.phase != Connection::Phase::kOpen && c.phase != Connection::Phase::kClosing) return 0;
  if (c.closeSent) return 0;  // our Close is out (or set): no frame may follow it
  // Several frames per callback while the socket takes them: a service
  // iteration per frame would cost a poll() and a callback each. lws
  // allows back-to-back writes when lws_send_pipe_choked() was asked.
  // Control frames first: PONGs owed, in order, then our PINGs.
  int writes = 0;
  size_t bytes = 0;
  auto room = [&]() {
    return writes == 0 ||
           (writes < kWritesPerCallback && bytes < kBytesPerCallback && !lws_send_pipe_choked(wsi));
  };
  while (!c.pongs.empty() && room()) {
    std::string payload = std::move(c.pongs.front());
    c.pongs.pop_front();
    if (WriteControl(wsi, LWS_WRITE_PONG, payload.data(), payload.size()) < 0) return -1;
    writes++;
    bytes += payload.size();
  }
  if (c.heartbeatPing && room()) {
    c.heartbeatPing = false;
    uint8_t hb[kHeartbeatLen];
    memcpy(hb, kHeartbeatTag, sizeof kHeartbeatTag);
    double sent = c.pingSentMs;
    memcpy(hb + sizeof kHeartbeatTag, &sent, sizeof sent);
    if (WriteControl(wsi, LWS_WRITE_PING, hb, sizeof hb) < 0) return -1;
    writes++;
  }
  if (c.pingPending && room()) {
    c.pingPending = false;
    if (WriteControl(wsi, LWS_WRITE_PING, c.pingPayload.data(), c.pingPayload.size()) < 0) return -1;
    writes++;
  }
  while (OutMessage* m = c.echoForced ? nullptr : c.session.NextToWrite(c)) {
    if (!room()) break;
    if (!c.deflating && m->sent == 0) {
      int n = WriteCoalesced(c, wsi, kCoalesceMessages, &bytes);
      if (n < 0) return -1;
      if (n > 0) {
        writes++;
        continue;
      }
    }
    size_t remaining = m->size() - m->sent;
    size_t n = remaining < c.opts->fragmentSize ? remaining : c.opts->fragmentSize;
    bool start = m->sent == 0;
    bool end = m->sent + n == m->size();
    int flags = lws_write_ws_flags(m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT, start, end);
    uint8_t* p;
    if (start && end && !c.deflating) {
      // One frame: lws writes the header into the headroom and masks the
      // payload in place; the message is done with after this write.
      p = m->payload();
    } else {
      // A fragment: copy it, so the message stays intact for a resend if
      // this connection dies before its last fragment. With
      // permessage-deflate every write is a copy: lws deflates 1 KiB per
      // writeable round, so zlib still points into the input after
      // lws_write() returns, and the message may be freed below. The copy
      // lives until the next write, which waits for that drain
      // (lws_send_pipe_choked() says so).
      c.scratch.resize(LWS_PRE + n);
      memcpy(c.scratch.data() + LWS_PRE, m->payload() + m->sent, n);
      p = c.scratch.data() + LWS_PRE;
    }
    int w = lws_write(wsi, p, n, static_cast<enum lws_write_protocol>(flags));
    if (w < 0) return -1;
    m->sent += n;
    c.session.Written(c, m, n, end);  // may free m
    writes++;
    bytes += n;
  }
  if (writes > 0) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (c.echoHeld) {
    if (c.echoWaitJs) return 0;  // ConnectionEchoReady or the timer asks again
    return SendEcho(c, wsi);
  }
  if (c.closeRequested && !c.closeSent) {
    c.closeSent = true;
    c.phase = Connection::Phase::kClosing;
    if (c.closeCode == LWS_CLOSE_STATUS_NO_STATUS) {
      // 1005: a Close frame without a body (ws's close() with no code; patch-lws.py, fix 12).
      lws_close_reason(wsi, LWS_CLOSE_STATUS_NO_STATUS, nullptr, 0);
    } else {
      lws_close_reason(wsi, static_cast<enum lws_close_status>(c.closeCode),
                       reinterpret_cast<unsigned char*>(&c.closeReason[0]), c.closeReason.size());
    }
    StartTimer(c, c.closeTimer, c.opts->closeTimeoutMs, OnCloseTimeout);
    return -1;
  }
  return 0;
}

int HandleCallback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in,
                   size_t len) {
  switch (reason) {
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION: {
      // user: the X509_STORE_CTX; len: OpenSSL's preverify_ok. lws calls
      // this only for errors its flags did not accept (the allow* options).
      // rejectUnauthorized: false accepts the rest too (a purpose or CA
      // constraint no flag covers): clearing the error makes lws go on.
      // Otherwise the first error is noted: it names the failure.
      Connection* c = ConnOf(wsi);
      if (!c || len != 0 || !user) return 0;
      auto* store = static_cast<X509_STORE_CTX*>(user);
      if (c->opts && !c->opts->tls.rejectUnauthorized) {
        X509_STORE_CTX_set_error(store, X509_V_OK);
        return 0;
      }
      if (c->tlsVerifyError == 0) c->tlsVerifyError = X509_STORE_CTX_get_error(store);
      return 0;
    }
    case LWS_CALLBACK_SSL_INFO: {
      // Alerts only (the vhost's ssl_info_event_mask). A fatal alert read
      // from the server says why it refused the handshake.
      Connection* c = ConnOf(wsi);
      auto* si = static_cast<const struct lws_ssl_info*>(in);
      if (c && si && (si->where & SSL_CB_READ) && ((si->ret >> 8) & 0xff) == SSL3_AL_FATAL &&
          c->tlsAlert < 0)
        c->tlsAlert = si->ret & 0xff;
      return 0;
    }
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS: {
      // user: a TLS vhost's new client SSL_CTX (wsi is a stand-in). With
      // read-ahead one read() takes as many records as a 64 KiB buffer
      // holds, instead of a header read and a body read per record (lws
      // sees the records buffered so: deps/patch-lws.py, 16); OpenSSL's
      // buffers are freed while a connection has nothing buffered, so an
      // idle connection holds neither.
      auto* ctx = static_cast<SSL_CTX*>(user);
      if (ctx) {
        SSL_CTX_set_read_ahead(ctx, 1);
        SSL_CTX_set_default_read_buffer_len(ctx, kTlsReadBuffer);
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
      }
      return 0;
    }
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED: {
      // Also delivered to each vhost's protocols: the drain is idempotent.
      struct lws_context* ctx = lws_get_context(wsi);
      auto* svc = static_cast<ServiceThread*>(lws_context_user(ctx));
      if (svc) svc->DrainCommands();
      return 0;
    }
    default:
      break;
  }
  Connection* c = ConnOf(wsi);
  if (!c || c->killed) {
    // An attempt the session gave up on (Session::Abandon: close() or
    // terminate() during a rotation or a connect) is detached from its wsi
    // and asked to die, but lws replaces that timeout with its own as the
    // connection progresses: fail every further step, or it completes the
    // handshake and stays open with no owner (found by the fast-check
    // properties: close() while rotating left the server a live socket).
    // A killed attempt likewise takes no further step.
    switch (reason) {
      case LWS_CALLBACK_WSI_CREATE:  // connected at TCP level: close before sending anything
      case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
      case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
      case LWS_CALLBACK_CLIENT_ESTABLISHED:
      case LWS_CALLBACK_CLIENT_RECEIVE:
      case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
      case LWS_CALLBACK_NLWS_RECEIVE_PING:
      case LWS_CALLBACK_CLIENT_WRITEABLE:
        return -1;
      default:
        if (!c) return 0;
        break;
    }
  }
  if (c->wsi != wsi) return RacerCallback(*c, wsi, reason, in);
  switch (reason) {
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER: {
      // TLS (if any) is done: the request is being written.
      if (c->opts->secure && c->tlsAtMs == 0) {
        c->tlsAtMs = MonoMs();
        SSL* ssl = lws_get_ssl(wsi);
        c->tlsResumed = ssl && SSL_session_reused(ssl);
      }
      auto** p = static_cast<unsigned char**>(in);
      unsigned char* end = *p + len;
      for (auto& h : c->opts->headers) {
        std::string name = h.first + ":";
        if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name.c_str()),
                                        reinterpret_cast<const unsigned char*>(h.second.data()),
                                        static_cast<int>(h.second.size()), p, end)) {
          Fail(*c, "ERR_HEADERS_TOO_LARGE", "the request headers do not fit the handshake buffer");
          c->killCause = Cause::kConfig;
          return -1;
        }
      }
      return 0;
    }
    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH: {
      std::string j = "{\"protocol\":";
      AppendJsonString(j, CopyToken(wsi, WSI_TOKEN_PROTOCOL));
      j += ",\"extensions\":";
      std::string extensions = CopyToken(wsi, WSI_TOKEN_EXTENSIONS);
      c->deflating = extensions.find("permessage-deflate") != std::string::npos;
      AppendJsonString(j, extensions);
      j += ",\"headers\":" + HeadersJson(wsi);
      c->openInfo = std::move(j);  // the session completes the object
      return 0;
    }
    case LWS_CALLBACK_CLIENT_ESTABLISHED: {
      StopTimer(*c, c->handshakeTimer);
      c->phase = Connection::Phase::kOpen;
      c->lastLifeMs = MonoMs();
      c->lastPingMs = c->lastLifeMs;  // the first PING is due intervalMs after the open
      const SessionPolicy& p = c->opts->policy;
      if (p.heartbeatIntervalMs) StartTimer(*c, c->heartbeatTimer, p.heartbeatIntervalMs, OnHeartbeat);
      c->session.AttemptOpened(*c);
      if (c->phase == Connection::Phase::kOpen) lws_callback_on_writable(wsi);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_RECEIVE:
      return OnReceive(*c, wsi, static_cast<const uint8_t*>(in), len);
    case LWS_CALLBACK_NLWS_RECEIVE_PING: {
      // lws hands every PING over (deps/patch-lws.py) instead of keeping
      // one PONG and dropping the PINGs that arrive while it is pending.
      if (c->phase != Connection::Phase::kOpen || c->failed || c->echoHeld) return 0;
      ProofOfLife(*c);
      std::string payload(static_cast<const char*>(in), len);
      if (c->opts->autoPong) ConnectionPong(*c, payload);
      c->session.AttemptPing(*c, static_cast<const uint8_t*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_NLWS_PROTOCOL_ERROR: {
      // lws failed the connection itself (reserved bits or opcodes, bad
      // control frames, ...) and has set Close 1002.
      if (c->failed || c->closeSent) return 0;  // already closing: that code stands
      MarkFailed(*c, 1002, "ERR_PROTOCOL",
                 "protocol error: " + std::string(static_cast<const char*>(in), len));
      return 0;
    }
    case LWS_CALLBACK_NLWS_INFLATE_FAILED:
      // The server's compressed data does not inflate (deps/patch-lws.py,
      // 10): Close 1007 and ERR_INFLATE, as ws does. lws sends the Close
      // and parses nothing more.
      if (c->failed || c->closeSent || c->peerClosed) return 0;
      FailOpenConnection(*c, wsi, 1007, "ERR_INFLATE",
                         "permessage-deflate: the server's compressed data does not inflate (zlib: " +
                             std::string(static_cast<const char*>(in), len) + ")");
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG: {
      if (c->opts->policy.heartbeatIntervalMs) ProvenAlive(*c);
      c->session.AttemptPong(*c, static_cast<const uint8_t*>(in), len);
      return 0;
    }
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return OnWritable(*c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE: {
      // lws echoes this payload after we return 0 (unless held, below).
      // RFC 6455 7.4 / 5.5.1 is checked here (lws no longer rewrites invalid
      // codes to 1002 before we see them), failing the connection instead
      // of echoing a bad frame. lws parses nothing after the first Close
      // (deps/patch-lws.py), so a second Close in the same segment is never
      // seen.
      const uint8_t* p = static_cast<const uint8_t*>(in);
      if (c->failed || c->peerClosed) return -1;
      if (len == 1)
        return FailOpenConnection(*c, wsi, 1002, "ERR_PROTOCOL", "Close frame with a 1-byte payload");
      if (len >= 2) {
        int code = (p[0] << 8) | p[1];
        if (!IsValidCloseCode(code))
          return FailOpenConnection(*c, wsi, 1002, "ERR_PROTOCOL",
                                    "invalid close code " + std::to_string(code));
        Utf8State s;
        if (!c->opts->skipUtf8Validation && (!Utf8Feed(s, p + 2, len - 2) || !s.complete()))
          return FailOpenConnection(*c, wsi, 1007, "ERR_INVALID_UTF8", "close reason is not valid UTF-8");
        c->peerCode = code;
        c->peerReason.assign(reinterpret_cast<const char*>(p) + 2, len - 2);
      } else {
        c->peerCode = 1005;
        c->peerReason.clear();
      }
      c->peerClosed = true;
      // Our Close is out or set (simultaneous close): lws answers as usual.
      if (c->closeSent) return 0;
      // Hold the echo while JS handles what arrived before the Close (its
      // replies and what was queued go first), bounded by closeTimeout.
      if (!c->session.HoldsCloseEcho(*c)) return 0;
      c->echoHeld = true;
      c->echoWaitJs = true;
      c->phase = Connection::Phase::kClosing;
      StartTimer(*c, c->echoTimer, c->opts->closeTimeoutMs, OnEchoTimeout);
      lws_callback_on_writable(wsi);  // what is queued goes out meanwhile
      return LWS_NLWS_HOLD_CLOSE_ECHO;
    }
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      StopTimer(*c, c->handshakeTimer);
      if (c->killed) {
        End(*c, c->killCause, 1006, "");
      } else {
        ClassifyConnectError(*c, static_cast<const char*>(in), in ? strlen(static_cast<const char*>(in)) : 0, wsi);
        End(*c, c->cause, 1006, "");
      }
      return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
      if (c->peerClosed) {
        End(*c, Cause::kClose, c->peerCode, c->peerReason);
      } else if (c->failed) {
        End(*c, Cause::kProtocol, c->closeCode, "");
      } else if (c->closeSent && c->closeRequested) {
        End(*c, Cause::kUser, c->closeCode, c->closeReason);
      } else {
        End(*c, c->killed ? c->killCause : Cause::kNetwork, 1006, "");
      }
      return 0;
    case LWS_CALLBACK_WSI_DESTROY:
      // Last callback for this wsi. An attempt still attached never got
      // CLOSED or CONNECTION_ERROR: report it as dropped.
      c->wsi = nullptr;
      lws_set_opaque_user_data(wsi, nullptr);
      End(*c, c->killed ? c->killCause : Cause::kNetwork, 1006, "");
      return 0;
    default:
      return 0;
  }
}

int Callback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in,
             size_t len) {
  int rc = HandleCallback(wsi, reason, user, in, len);
  switch (reason) {
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
    case LWS_CALLBACK_CLIENT_CLOSED:
    case LWS_CALLBACK_WSI_DESTROY:
    case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
      // These also run from lws's timers (timeouts, kills), just before the
      // service thread sleeps in poll(): publish now, or the events would
      // wait for the next socket event. Socket-driven callbacks (receive,
      // writeable) are published once per service iteration, in batches.
      FlushEvents();
      break;
    default:
      break;
  }
  return rc;
}

// rx_buffer_size: lws allocates this much per connection (rx_ubuf) and
// hands received payload over in pieces of it. Measured with callgrind
// against 4 KiB: 2 KiB saves 2 KB per idle connection for +0.5 %
// instructions per byte with 64 KiB messages, +4.5 % with 1 KiB ones (1 KiB
// buffers: 3 KB and +10 %). tx_packet_size: lws writes at most this much
// per lws_write() to the socket and copies the rest to drain one piece per
// service round (0 would mean rx_buffer_size); larger than fragmentSize's
// default, a frame goes out in one write.
const struct lws_protocols kProtocols[] = {
    {kProtocolName, Callback, 0, 2048, 0, nullptr, 256 * 1024},
    LWS_PROTOCOL_LIST_TERM,
};

const struct lws_extension kExtensions[] = {
    {"permessage-deflate", lws_extension_callback_pm_deflate,
     "permessage-deflate; client_max_window_bits"},
    {nullptr, nullptr, nullptr},
};

}  // namespace

const struct lws_protocols* ClientProtocols() { return kProtocols; }
const struct lws_extension* ClientExtensions() { return kExtensions; }

std::string ErrorJson(const char* code, const std::string& message, int status,
                      const std::string& headersJson, const std::string& detail) {
  std::string j = "{\"code\":";
  AppendJsonString(j, code, strlen(code));
  j += ",\"message\":";
  AppendJsonString(j, message);
  if (status) j += ",\"status\":" + std::to_string(status);
  if (!headersJson.empty()) j += ",\"headers\":" + headersJson;
  if (!detail.empty()) {
    j += ",\"detail\":";
    AppendJsonString(j, detail);
  }
  j += "}";
  return j;
}

bool IsHeartbeatPong(const uint8_t* data, size_t len, double* sentMs) {
  if (len != kHeartbeatLen || memcmp(data, kHeartbeatTag, sizeof kHeartbeatTag) != 0) return false;
  memcpy(sentMs, data + sizeof kHeartbeatTag, sizeof *sentMs);
  return true;
}

Connection::Connection(Session& s, uint32_t g, std::shared_ptr<const ConnectOptions> o)
    : session(s), service(s.service), generation(g), opts(std::move(o)) {}

Connection::~Connection() {
  StopTimers(*this);
  ConnectionDropRacers(*this);
}

void ConnectionStart(Connection& c) {
  const ConnectOptions& o = *c.opts;
  std::string name = o.servername.empty() ? o.host : o.servername;
  bool defaultPort = (o.secure && o.port == 443) || (!o.secure && o.port == 80);
  if (o.ipv6Literal && o.servername.empty()) {
    // lws cuts the Host value at the first ':' for SNI: an IPv6 literal goes
    // without port (the certificate check then needs `servername`).
    c.hostHeader = "[" + o.host + "]";
  } else {
    c.hostHeader = defaultPort ? name : name + ":" + std::to_string(o.port);
  }
  c.startedAtMs = MonoMs();
  StartTimer(c, c.handshakeTimer, o.handshakeTimeoutMs, OnHandshakeTimeout);
  // The address to resolve: the proxy's when proxied (it resolves the target).
  const std::string& target = o.proxy.enabled() ? o.proxy.host : o.host;
  c.phase = Connection::Phase::kResolving;
  if (IsNumericHost(target)) {
    ConnectionResolved(c, target, "");
    return;
  }
  if (o.policy.hookLookup) {
    // The lookup option: JS resolves, and answers with resolved().
    std::string j = "{\"host\":";
    AppendJsonString(j, target);
    j += ",\"family\":" + std::to_string(o.family) + ",\"all\":" + (o.autoSelectFamily ? "true" : "false") + "}";
    c.service.events().Add(EventType::kNeedLookup, c.session.id, c.generation, j);
    return;
  }
  std::shared_ptr<Mailbox> mailbox = c.service.mailbox();
  uint32_t id = c.session.id;
  uint32_t generation = c.generation;
  ResolveAsync(target, o.proxy.enabled() ? 0 : o.family,
               [mailbox, id, generation](std::vector<std::string> addresses, std::string error) {
    Command cmd;
    cmd.type = CommandType::kResolved;
    cmd.id = id;
    cmd.generation = generation;
    if (error.empty()) {
      for (auto& a : addresses) {
        if (!cmd.text.empty()) cmd.text += ',';
        cmd.text += a;
      }
    } else {
      cmd.code = 1;
      cmd.text = std::move(error);
    }
    mailbox->Post(std::move(cmd));
  });
}

// At most this many addresses of one name are tried per attempt.
constexpr size_t kMaxAddresses = 32;

void ConnectionResolved(Connection& c, const std::string& addresses, const std::string& error) {
  if (c.phase != Connection::Phase::kResolving) return;
  const ConnectOptions& o = *c.opts;
  const std::string& target = o.proxy.enabled() ? o.proxy.host : o.host;
  c.resolvedAtMs = MonoMs();
  if (!error.empty()) {
    size_t nl = error.find('\n');
    if (nl == std::string::npos) {
      FailSystem(c, error.c_str(), "getaddrinfo", target, 0, "");
    } else {
      // The lookup option's error: "code\nmessage".
      Fail(c, error.substr(0, nl).c_str(), error.substr(nl + 1));
    }
    End(c, Cause::kDns, 1006, "");
    return;
  }
  std::vector<std::string> list;
  for (size_t b = 0; b <= addresses.size();) {
    size_t e = addresses.find(',', b);
    if (e == std::string::npos) e = addresses.size();
    if (e > b) list.push_back(addresses.substr(b, e - b));
    b = e + 1;
  }
  // An IP literal in the URL is used whatever `family` says, as net.connect does.
  int family = o.proxy.enabled() || IsNumericHost(target) ? 0 : o.family;
  list = OrderForRacing(list, family);
  if (list.empty()) {
    Fail(c, "ENOTFOUND", "no IPv" + std::to_string(o.family) + " address for " + target);
    End(c, Cause::kDns, 1006, "");
    return;
  }
  // Through a proxy, or with autoSelectFamily off: the first address only.
  if (o.proxy.enabled() || !o.autoSelectFamily) list.resize(1);
  if (list.size() > kMaxAddresses) list.resize(kMaxAddresses);
  if (o.proxy.enabled()) {
    c.proxyAddress = list[0];
  }
  c.addresses = std::move(list);
  StartLwsConnect(c);
}

void ConnectionFailEarly(Connection& c, Cause cause, const char* code, const std::string& message) {
  Fail(c, code, message);
  End(c, cause, 1006, "");
}

void ConnectionWantWrite(Connection& c) {
  if (c.wsi && (c.phase == Connection::Phase::kOpen || c.phase == Connection::Phase::kClosing))
    lws_callback_on_writable(c.wsi);
}

void ConnectionClose(Connection& c, int code, const std::string& reason) {
  if (c.closeRequested || c.phase == Connection::Phase::kDone) return;
  if (c.echoHeld || c.failed) {
    // The server's Close is being answered, or we failed the connection:
    // that Close ends it.
    c.closeRequested = true;
    ConnectionWantWrite(c);
    return;
  }
  if (c.phase != Connection::Phase::kOpen) {
    ConnectionKill(c, Cause::kUser, true);
    return;
  }
  c.closeRequested = true;
  c.closeCode = code;
  c.closeReason = reason;
  ConnectionWantWrite(c);
}

void ConnectionKill(Connection& c, Cause cause, bool quiet) {
  if (c.phase == Connection::Phase::kDone) return;
  c.killCause = cause;
  if (quiet) c.errorJson.clear();
  if (c.wsi) {
    Kill(c);
  } else {
    End(c, cause, 1006, "");
  }
}

void ConnectionPing(Connection& c, const std::string& payload) {
  c.pingPayload = payload;
  c.pingPending = true;
  ConnectionWantWrite(c);
}

void ConnectionPong(Connection& c, const std::string& payload) {
  if (c.phase != Connection::Phase::kOpen || c.failed) return;
  if (c.pongs.size() >= kMaxPendingPongs) c.pongs.pop_front();
  c.pongs.push_back(payload);
  ConnectionWantWrite(c);
}

void ConnectionEchoReady(Connection& c) {
  if (!c.echoHeld || !c.echoWaitJs) return;
  c.echoWaitJs = false;
  ConnectionWantWrite(c);
}

void ConnectionPauseRx(Connection& c) {
  if (c.rxPaused || !c.wsi) return;
  c.rxPaused = true;
  lws_rx_flow_control(c.wsi, 0);
}

void ConnectionResumeRx(Connection& c) {
  if (!c.rxPaused || !c.wsi) return;
  c.rxPaused = false;
  lws_rx_flow_control(c.wsi, 1);
}

void ConnectionDetach(Connection& c) {
  StopTimers(c);
  for (auto& r : c.racers) {
    if (r->wsi) lws_set_opaque_user_data(r->wsi, nullptr);
    r->wsi = nullptr;
  }
  if (c.wsi) lws_set_opaque_user_data(c.wsi, nullptr);
  c.wsi = nullptr;
}

void ConnectionDropRacers(Connection& c) {
  StopTimer(c, c.raceTimer);
  for (auto& r : c.racers) {
    if (!r->wsi) continue;
    // Detached first: the callbacks of its closing reach nobody, and one
    // that connects meanwhile is closed before it sends anything.
    lws_set_opaque_user_data(r->wsi, nullptr);
    lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    r->wsi = nullptr;
  }
}

std::string ConnectionOpenDetails(const Connection& c) {
  const ConnectOptions& o = *c.opts;
  std::string j = ",\"remote\":{\"address\":";
  AppendJsonString(j, c.address);
  j += ",\"family\":";
  j += AddressFamily(c.address) == 6 ? "\"IPv6\"" : "\"IPv4\"";
  j += ",\"port\":" + std::to_string(o.proxy.enabled() ? o.proxy.port : o.port) + "}";
  auto ms = [](double from, double to) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.0f", from > 0 && to >= from ? to - from : 0.0);  // whole ms, as every duration
    return std::string(buf);
  };
  double now = MonoMs();
  j += ",\"handshake\":{\"totalMs\":" + ms(c.startedAtMs, now) + ",\"dnsMs\":" + ms(c.startedAtMs, c.resolvedAtMs) +
       ",\"tcpMs\":" + ms(c.resolvedAtMs, c.tcpAtMs);
  if (o.secure) {
    j += ",\"tlsMs\":" + ms(c.tcpAtMs, c.tlsAtMs);
    j += std::string(",\"tlsResumed\":") + (c.tlsResumed ? "true" : "false");
  }
  j += "}";
  return j;
}

}  // namespace nlws
