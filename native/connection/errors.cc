// Failures named for users: lws's connection-error text, OpenSSL's
// verification errors and failed system calls, as the codes and words Node
// uses (lib/errors.ts lists them all), with the response's headers.
#include "errors.h"

#include <openssl/x509.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "../json.h"
#include "../log_sink.h"
#include "../server_limits.h"
#include "connection.h"

namespace nlws {

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

}  // namespace nlws

namespace nlws::conn {

void Fail(Connection& c, const char* code, const std::string& message, int status,
          const std::string& headers, const std::string& detail) {
  if (c.errorJson.empty()) c.errorJson = ErrorJson(code, message, status, headers, detail);
}

// A failed system call, worded and described as Node's system errors are
// (`connect ECONNREFUSED 127.0.0.1:9`, with syscall, address and port; the
// façade adds errno). `detail` (lws's own words) is kept for the debug log.
void FailSystem(Connection& c, const char* code, const char* syscall, const std::string& address,
                int port, const std::string& detail, const std::string& context) {
  if (!c.errorJson.empty()) return;
  std::string message = std::string(syscall) + " " + code + " " + address;
  if (port) message += ":" + std::to_string(port);
  // `context` says what the address was, when Node's words would not.
  if (!context.empty()) message = context + " (" + message + ")";
  std::string j = ErrorJson(code, message, 0, "", detail);
  j.pop_back();
  j += ",\"syscall\":";
  AppendJsonString(j, syscall, strlen(syscall));
  j += port ? ",\"address\":" : ",\"hostname\":";
  AppendJsonString(j, address);
  if (port) j += ",\"port\":" + std::to_string(port);
  c.errorJson = j + "}";
}

// connect() failures, named as Node names them. Anything else is
// ERR_CONNECT: the error codes are a closed list (lib/errors.ts).
const char* ConnectErrorCode(int err) {
  switch (err) {
    case ECONNREFUSED: return "ECONNREFUSED";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EHOSTUNREACH: return "EHOSTUNREACH";
    case ENETUNREACH: return "ENETUNREACH";
    case EHOSTDOWN: return "EHOSTDOWN";
    case ENETDOWN: return "ENETDOWN";
    case EADDRNOTAVAIL: return "EADDRNOTAVAIL";
    case ECONNRESET: return "ECONNRESET";
    case EACCES: return "EACCES";
    case EPERM: return "EPERM";
    default: return err ? "ERR_CONNECT" : "ECONNREFUSED";
  }
}

// The errno in lws's connect failure text ("conn fail: 111", "conn fail:
// errno 111: ..."), or 0.
int ConnectErrno(const std::string& msg) {
  size_t at = msg.find("conn fail: ");
  if (at == std::string::npos) return 0;
  const char* p = msg.c_str() + at + 11;
  if (strncmp(p, "errno ", 6) == 0) p += 6;
  return isdigit(static_cast<unsigned char>(*p)) ? atoi(p) : 0;
}

// HTTP response headers as a JSON object (lower-case names).
std::string HeadersJson(struct lws* wsi) {
  std::string j = "{";
  bool first = true;
  std::vector<char> buf;
  auto add = [&](const char* name, size_t nlen, const char* value, size_t vlen) {
    if (!first) j += ",";
    first = false;
    std::string n(name, nlen);
    for (auto& ch : n) ch = static_cast<char>(tolower(static_cast<unsigned char>(ch)));
    AppendJsonString(j, n);
    j += ":";
    AppendJsonString(j, value, vlen);
  };
  for (int t = 0; t < WSI_TOKEN_COUNT; t++) {
    const unsigned char* name = lws_token_to_string(static_cast<enum lws_token_indexes>(t));
    if (!name) continue;
    size_t nlen = strlen(reinterpret_cast<const char*>(name));
    // Only "name:" tokens are headers; others are request-line pieces.
    if (nlen < 2 || name[nlen - 1] != ':') continue;
    int len = lws_hdr_total_length(wsi, static_cast<enum lws_token_indexes>(t));
    if (len <= 0) continue;
    buf.resize(static_cast<size_t>(len) + 1);
    int got = lws_hdr_copy(wsi, buf.data(), len + 1, static_cast<enum lws_token_indexes>(t));
    if (got < 0) continue;
    add(reinterpret_cast<const char*>(name), nlen - 1, buf.data(), static_cast<size_t>(got));
  }
#if defined(LWS_WITH_CUSTOM_HEADERS)
  using Add = decltype(add);
  struct Ctx {
    struct lws* wsi;
    Add* fn;
  } ctx{wsi, &add};
  lws_hdr_custom_name_foreach(
      wsi,
      [](const char* name, int nlen, void* opaque) {
        auto* x = static_cast<Ctx*>(opaque);
        int len = lws_hdr_custom_length(x->wsi, name, nlen);
        if (len < 0) return;
        std::vector<char> v(static_cast<size_t>(len) + 1);
        int got = lws_hdr_custom_copy(x->wsi, v.data(), len + 1, name, nlen);
        if (got < 0) return;
        size_t n = static_cast<size_t>(nlen);
        if (n && name[n - 1] == ':') n--;
        (*x->fn)(name, n, v.data(), static_cast<size_t>(got));
      },
      &ctx);
#endif
  j += "}";
  return j;
}

std::string CopyToken(struct lws* wsi, enum lws_token_indexes t) {
  int len = lws_hdr_total_length(wsi, t);
  if (len <= 0) return "";
  std::string s(static_cast<size_t>(len) + 1, '\0');
  int got = lws_hdr_copy(wsi, &s[0], len + 1, t);
  s.resize(got > 0 ? static_cast<size_t>(got) : 0);
  return s;
}


// OpenSSL verification errors, named as Node names them.
const char* TlsErrorCode(int x509) {
  switch (x509) {
    case X509_V_ERR_CERT_HAS_EXPIRED: return "CERT_HAS_EXPIRED";
    case X509_V_ERR_CERT_NOT_YET_VALID: return "CERT_NOT_YET_VALID";
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT: return "DEPTH_ZERO_SELF_SIGNED_CERT";
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN: return "SELF_SIGNED_CERT_IN_CHAIN";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY: return "UNABLE_TO_GET_ISSUER_CERT_LOCALLY";
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT: return "UNABLE_TO_GET_ISSUER_CERT";
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE: return "UNABLE_TO_VERIFY_LEAF_SIGNATURE";
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH: return "ERR_TLS_CERT_ALTNAME_INVALID";
    case X509_V_ERR_CERT_SIGNATURE_FAILURE: return "CERT_SIGNATURE_FAILURE";
    case X509_V_ERR_CERT_REVOKED: return "CERT_REVOKED";
    case X509_V_ERR_INVALID_CA: return "INVALID_CA";
    case X509_V_ERR_INVALID_PURPOSE: return "INVALID_PURPOSE";
    case X509_V_ERR_CERT_UNTRUSTED: return "CERT_UNTRUSTED";
    case X509_V_ERR_CERT_REJECTED: return "CERT_REJECTED";
    default: return "ERR_TLS_CERT_INVALID";
  }
}


// The statuses fetch follows (RFC 9110 15.4); 300, 304 and 305 are no redirects.
bool IsRedirectStatus(unsigned int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// host:port of the proxy, as the user gave it.
std::string ProxyName(const Connection& c) {
  const std::string& h = c.opts->proxy.host;
  return (h.find(':') != std::string::npos ? "[" + h + "]" : h) + ":" + std::to_string(c.opts->proxy.port);
}

// Turns lws's connection-error text into a code users can branch on.
void ClassifyConnectError(Connection& c, const char* in, size_t len, struct lws* wsi) {
  std::string msg = in ? std::string(in, len) : std::string("connection failed");
  std::string recent = LogSinkTakeRecentProblems();  // this failure's lws warnings
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  unsigned int status = wsi ? lws_http_client_http_response(wsi) : 0;
  // The certificate check's own error, recorded during verification: lws's
  // error text carries it only on some paths.
  int x509 = c.tlsVerifyError;
  const char* x = strstr(msg.c_str(), "X509_V_ERR = ");
  if (x509 == 0 && x) x509 = atoi(x + 13);
  if (x509 != 0) {
    Fail(c, TlsErrorCode(x509), std::string("certificate verification failed: ") +
                                    X509_verify_cert_error_string(x509));
    c.cause = Cause::kTls;
    return;
  }
  if (c.tlsAlert >= 0) {
    // The server refused the TLS session. Named as Node names OpenSSL's
    // alert errors: "tlsv13 alert certificate required" becomes
    // ERR_SSL_TLSV13_ALERT_CERTIFICATE_REQUIRED.
    const char* reason =
        ERR_reason_error_string(ERR_PACK(ERR_LIB_SSL, 0, SSL_AD_REASON_OFFSET + c.tlsAlert));
    std::string code = "ERR_TLS_ALERT";
    if (reason) {
      code = "ERR_SSL_";
      for (const char* r = reason; *r; r++)
        code += *r == ' ' ? '_' : static_cast<char>(toupper(static_cast<unsigned char>(*r)));
    }
    Fail(c, code.c_str(), std::string("the server refused the TLS session: ") +
                              (reason ? reason : SSL_alert_desc_string_long(c.tlsAlert)) +
                              " (TLS alert " + std::to_string(c.tlsAlert) + ")");
    c.cause = Cause::kTls;
    return;
  }
  // lws's parser fails a response head with one message whether it
  // overflowed the header table or was malformed; its log says which.
  if (msg.find("problems parsing header") != std::string::npos) {
    c.cause = Cause::kHandshake;
    if (recent.find("header data space") != std::string::npos) {
      Fail(c, "ERR_RESPONSE_HEADERS_TOO_LARGE", "the response head exceeds " +
                                                    std::to_string(kHeaderTableBytes / 1024) +
                                                    " KiB (request URI included)");
    } else if (recent.find("hdr frags") != std::string::npos) {
      Fail(c, "ERR_RESPONSE_HEADERS_TOO_LARGE",
           "the response head has more header lines than the header table holds (at most " +
               std::to_string(static_cast<int>(WSI_TOKEN_COUNT) - 1) + " of the names lws parses)");
    } else {
      Fail(c, "ERR_HANDSHAKE", "malformed response head");
    }
    return;
  }
  if (status >= 100 && status != 101) {
    Fail(c, "ERR_UNEXPECTED_RESPONSE", "Unexpected server response: " + std::to_string(status),
         static_cast<int>(status), wsi ? HeadersJson(wsi) : "");
    c.cause = Cause::kHttp;
    c.httpStatus = static_cast<int>(status);
    if (wsi) c.retryAfter = CopyToken(wsi, WSI_TOKEN_HTTP_RETRY_AFTER);
    // A redirect the session follows as a new attempt (Session::FollowRedirect);
    // the error stands if it does not.
    if (wsi && c.opts->followRedirects && IsRedirectStatus(status))
      c.location = CopyToken(wsi, WSI_TOKEN_HTTP_LOCATION);
    return;
  }
  const char* code = "ECONNRESET";
  c.cause = Cause::kNetwork;
  if (msg.find("refused") != std::string::npos || msg.find("connect failed") != std::string::npos ||
      msg.find("conn fail") != std::string::npos) {
    // connect() failed: named by its errno as Node names it (ECONNREFUSED,
    // EHOSTUNREACH, ...), at the address connected to (the proxy's when proxied).
    code = ConnectErrorCode(ConnectErrno(msg));
    c.cause = strcmp(code, "ECONNREFUSED") == 0 ? Cause::kRefused : Cause::kNetwork;
    // Through a proxy, the connection that failed is the proxy's: say so.
    bool proxied = c.opts->proxy.enabled();
    FailSystem(c, code, "connect", proxied ? c.proxyAddress : c.address,
               proxied ? c.opts->proxy.port : c.opts->port, msg,
               proxied ? "could not connect to the proxy " + ProxyName(c) : "");
    return;
  } else if (msg.find("proxy") != std::string::npos) {
    // lws reports a refused CONNECT as "http_proxy -> <status>": the
    // proxy's answer, which the policy reads (407: its credentials).
    const char* arrow = strstr(msg.c_str(), "-> ");
    c.httpStatus = arrow ? atoi(arrow + 3) : 0;
    Fail(c, "ERR_PROXY", "the proxy " + ProxyName(c) + " refused the tunnel: " + msg, c.httpStatus);
    c.cause = Cause::kProxy;
    return;
  } else if (msg.find("tls") != std::string::npos || msg.find("ssl") != std::string::npos ||
             msg.find("SSL") != std::string::npos) {
    code = "ERR_TLS";
    c.cause = Cause::kTls;
  } else if (msg.find("HS:") != std::string::npos || msg.find("hs:") != std::string::npos ||
             msg.find("ACCEPT") != std::string::npos || msg.find("accept") != std::string::npos) {
    code = "ERR_HANDSHAKE";
    c.cause = Cause::kHandshake;
  } else if (msg.find("timeout") != std::string::npos || msg.find("timed out") != std::string::npos) {
    code = "ETIMEDOUT";
    c.cause = Cause::kTimeout;
  } else {
    // The server hung up before answering the upgrade: what Node's http
    // (and so ws) reports as "socket hang up", code ECONNRESET.
    Fail(c, code, "socket hang up", 0, "", msg);
    return;
  }
  Fail(c, code, msg);
}

}  // namespace nlws::conn
