// The connect race (happy eyeballs, RFC 8305): one lws connection per
// address, started one attempt delay apart; the first to connect at TCP
// level becomes the attempt's wsi (see Racer). Also the connect flags lws
// gets (TLS relaxations, no redirects, no lws keepalive).
#include <cstring>
#include <memory>
#include <string>

#include "../log_sink.h"
#include "../server_limits.h"
#include "../session/session.h"
#include "../thread/service_thread.h"
#include "internal.h"

namespace nlws {

namespace conn {

namespace {

// lws's own keepalive ("validity": a PING after secs_since_valid_ping, a
// hang-up after secs_since_valid_hangup) is off for every connection. Its
// default (300 s / 310 s) applied to connections with `heartbeat: false`
// too, and each connection's validity timer sat in lws's sorted timer list,
// which every insertion walks (opening 10,000 connections was quadratic).
// Our heartbeat (timer queue, millisecond timers) is the only keepalive.
const lws_retry_bo_t kNoLwsKeepalive = {};

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
  i.address = o.proxy.enabled() ? c.proxyTarget.c_str() : r.address.c_str();
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
  LaunchNext(OwnerOf(t));
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

}  // namespace

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
  // them (lib/options/validate.ts); this refuses the rest before lws sees them.
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

}  // namespace conn

void ConnectionDropRacers(Connection& c) {
  conn::StopTimer(c, c.raceTimer);
  for (auto& r : c.racers) {
    if (!r->wsi) continue;
    // Detached first: the callbacks of its closing reach nobody, and one
    // that connects meanwhile is closed before it sends anything.
    lws_set_opaque_user_data(r->wsi, nullptr);
    lws_set_timeout(r->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    r->wsi = nullptr;
  }
}

}  // namespace nlws
