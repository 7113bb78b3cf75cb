// The attempt's life: start, resolve, open, close, kill and end, and the
// timers that bound each step. The work of each phase is in the files
// beside this one (internal.h).
#include "connection.h"

#include <cstring>
#include <string>
#include <utility>

#include "../event_batch.h"
#include "../json.h"
#include "../session/session.h"
#include "../thread/resolver.h"
#include "../thread/service_thread.h"
#include "internal.h"

namespace nlws {

namespace conn {

Connection* ConnOf(struct lws* wsi) {
  return wsi ? static_cast<Connection*>(lws_get_opaque_user_data(wsi)) : nullptr;
}

namespace {

void StopTimers(Connection& c) {
  TimerQueue& q = c.service.timers();
  q.Cancel(c.closeTimer.timer);
  q.Cancel(c.echoTimer.timer);
  q.Cancel(c.handshakeTimer.timer);
  q.Cancel(c.heartbeatTimer.timer);
  q.Cancel(c.raceTimer.timer);
}

void OnHandshakeTimeout(Timer* t) {
  Connection* c = &OwnerOf(t);
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

}  // namespace

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
void OnCloseTimeout(Timer* t) { Kill(OwnerOf(t)); }

// The server's Close was held (see Connection::echoHeld): JS did not
// confirm within closeTimeout, or the queue did not drain. Echo now.
void OnEchoTimeout(Timer* t) {
  Connection* c = &OwnerOf(t);
  if (!c->echoHeld || c->closeSent) return;
  c->echoWaitJs = false;
  c->echoForced = true;
  // Should the echo not get out either (a socket that stays full), TCP goes.
  StartTimer(*c, c->closeTimer, c->opts->closeTimeoutMs, OnCloseTimeout);
  if (c->wsi) lws_callback_on_writable(c->wsi);
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

// LWS_CALLBACK_CLIENT_CONNECTION_ERROR: the attempt failed before it
// opened; `in` is lws's text for it (never followed by CLIENT_CLOSED).
void OnConnectError(Connection& c, struct lws* wsi, const char* in) {
  StopTimer(c, c.handshakeTimer);
  if (c.killed) {
    End(c, c.killCause, 1006, "");
  } else {
    ClassifyConnectError(c, in, in ? strlen(in) : 0, wsi);
    End(c, c.cause, 1006, "");
  }
}

// LWS_CALLBACK_CLIENT_CLOSED: how the open connection ended.
void OnClosed(Connection& c) {
  if (c.peerClosed) {
    End(c, Cause::kClose, c.peerCode, c.peerReason);
  } else if (c.failed) {
    End(c, Cause::kProtocol, c.closeCode, "");
  } else if (c.closeSent && c.closeRequested) {
    End(c, Cause::kUser, c.closeCode, c.closeReason);
  } else {
    End(c, c.killed ? c.killCause : Cause::kNetwork, 1006, "");
  }
}

// LWS_CALLBACK_WSI_DESTROY: the last callback for this wsi. An attempt
// still attached never got CLOSED or CONNECTION_ERROR: report it as dropped.
void OnDestroyed(Connection& c, struct lws* wsi) {
  c.wsi = nullptr;
  lws_set_opaque_user_data(wsi, nullptr);
  End(c, c.killed ? c.killCause : Cause::kNetwork, 1006, "");
}

}  // namespace conn

using namespace conn;

Connection::Connection(Session& s, uint32_t g, std::shared_ptr<const ConnectOptions> o)
    : session(s), service(s.service), generation(g), opts(std::move(o)) {}

Connection::~Connection() {
  StopTimers(*this);
  ConnectionDropRacers(*this);
}

void ConnectionStart(Connection& c) {
  const ConnectOptions& o = *c.opts;
  // The host as a URL writes it (an IPv6 literal in brackets): for Host and
  // for a proxy's CONNECT. lws takes the TLS host check's name from Host
  // (patched to read a bracketed IPv6 host whole: deps/patch-lws.py, item 6).
  std::string host = o.ipv6Literal ? "[" + o.host + "]" : o.host;
  const std::string& name = o.servername.empty() ? host : o.servername;
  bool defaultPort = (o.secure && o.port == 443) || (!o.secure && o.port == 80);
  c.hostHeader = defaultPort ? name : name + ":" + std::to_string(o.port);
  if (o.proxy.enabled()) c.proxyTarget = std::move(host);
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
      cmd.failed = true;
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

}  // namespace nlws
