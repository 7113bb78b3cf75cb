// The opening handshake: the request's extra headers, what the response
// negotiated, the handshake's timings, and the open event's JSON built from
// them (the one place that builds it; the session adds its facts).
#include <openssl/ssl.h>

#include <cstdio>
#include <string>

#include "../json.h"
#include "../session/session.h"
#include "../thread/resolver.h"
#include "internal.h"

namespace nlws {

namespace conn {

namespace {

// {"protocol","extensions","headers" (left open for the event's other fields).
const std::string& ResponseJson(const Connection& c) {
  static const std::string kNone = "{\"protocol\":\"\",\"extensions\":\"\",\"headers\":{}";
  return c.openInfo.empty() ? kNone : c.openInfo;
}

// ,"remote":{...},"handshake":{...}: the address used and the opening
// handshake's timings.
std::string RemoteAndTimings(const Connection& c) {
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

}  // namespace

// TLS (if any) is done: the request is being written.
int AppendHandshakeHeaders(Connection& c, struct lws* wsi, unsigned char** p, size_t len) {
  if (c.opts->secure && c.tlsAtMs == 0) {
    c.tlsAtMs = MonoMs();
    SSL* ssl = lws_get_ssl(wsi);
    c.tlsResumed = ssl && SSL_session_reused(ssl);
  }
  unsigned char* end = *p + len;
  for (auto& h : c.opts->headers) {
    std::string name = h.first + ":";
    if (lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>(name.c_str()),
                                    reinterpret_cast<const unsigned char*>(h.second.data()),
                                    static_cast<int>(h.second.size()), p, end)) {
      Fail(c, "ERR_HEADERS_TOO_LARGE", "the request headers do not fit the handshake buffer");
      c.killCause = Cause::kConfig;
      return -1;
    }
  }
  return 0;
}

void NoteResponse(Connection& c, struct lws* wsi) {
  std::string j = "{\"protocol\":";
  AppendJsonString(j, CopyToken(wsi, WSI_TOKEN_PROTOCOL));
  j += ",\"extensions\":";
  std::string extensions = CopyToken(wsi, WSI_TOKEN_EXTENSIONS);
  c.deflating = extensions.find("permessage-deflate") != std::string::npos;
  AppendJsonString(j, extensions);
  j += ",\"headers\":" + HeadersJson(wsi);
  c.openInfo = std::move(j);  // completed by OpenEventJson, OnOpenHookJson
}

void OnEstablished(Connection& c, struct lws* wsi) {
  StopTimer(c, c.handshakeTimer);
  c.phase = Connection::Phase::kOpen;
  StartHeartbeat(c);
  c.session.AttemptOpened(c);
  c.openInfo = std::string();  // reported: not kept for the connection's life
  if (c.phase == Connection::Phase::kOpen) lws_callback_on_writable(wsi);
}

}  // namespace conn

using namespace conn;

std::string OpenEventJson(const Connection& c, const OpenFacts& f) {
  return ResponseJson(c) + ",\"reconnected\":" + (f.reconnected ? "true" : "false") +
         ",\"attempt\":" + std::to_string(f.attempt) + RemoteAndTimings(c) + ",\"at\":" + JsonMs(f.atMs) +
         ",\"mono\":" + JsonMs(f.monoMs) + "}";
}

std::string OnOpenHookJson(const Connection& c, const char* reason, bool reconnected) {
  return ResponseJson(c) + ",\"reason\":\"" + reason + "\",\"reconnected\":" +
         (reconnected ? "true" : "false") + "}";
}

}  // namespace nlws
