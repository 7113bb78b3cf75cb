// Failures named for users (errors.cc): the error JSON of an attempt, from
// lws's words, OpenSSL's verification result or errno.
#pragma once
#include <libwebsockets.h>

#include <string>

namespace nlws {

struct Connection;

// An error as JSON: {"code","message"[,"status","headers","detail"]}.
// `detail`: lws's own words for the failure, for the debug log.
std::string ErrorJson(const char* code, const std::string& message, int status = 0,
                      const std::string& headersJson = "", const std::string& detail = "");

}  // namespace nlws

namespace nlws::conn {

// Sets the attempt's error (the first one set wins).
void Fail(Connection& c, const char* code, const std::string& message, int status = 0,
          const std::string& headers = "", const std::string& detail = "");
// A failed system call, worded and described as Node's system errors are.
void FailSystem(Connection& c, const char* code, const char* syscall, const std::string& address, int port,
                const std::string& detail, const std::string& context = "");
// connect() failures (errno) named as Node names them.
const char* ConnectErrorCode(int err);
// The errno in lws's connect failure text, or 0.
int ConnectErrno(const std::string& msg);
// HTTP response headers as a JSON object (lower-case names).
std::string HeadersJson(struct lws* wsi);
std::string CopyToken(struct lws* wsi, enum lws_token_indexes t);
// OpenSSL verification errors, named as Node names them.
const char* TlsErrorCode(int x509);
// The statuses fetch follows (RFC 9110 15.4).
bool IsRedirectStatus(unsigned int status);
// host:port of the proxy, as the user gave it.
std::string ProxyName(const Connection& c);
// Turns lws's connection-error text into a code users can branch on.
void ClassifyConnectError(Connection& c, const char* in, size_t len, struct lws* wsi);

}  // namespace nlws::conn
