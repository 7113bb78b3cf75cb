// What the files of native/connection/ share among themselves; sessions
// use connection.h only. Each function names the file that defines it.
// Service thread only.
#pragma once
#include <libwebsockets.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "connection.h"
#include "errors.h"

namespace nlws::conn {

// The subprotocol name lws knows our callback by (callback.cc's table).
constexpr const char* kProtocolName = "nlws-client";

// The connection a connection timer belongs to (the callback gets only the timer).
inline Connection& OwnerOf(Timer* t) { return *ConnectionTimer::Of(t); }

// connection.cc: the attempt's life.
Connection* ConnOf(struct lws* wsi);
void StartTimer(Connection& c, ConnectionTimer& t, double ms, TimerFn cb);
void StopTimer(Connection& c, ConnectionTimer& t);
// Reports the end of the attempt (once) to its session.
void End(Connection& c, Cause cause, int code, const std::string& reason);
// Drops the connection without a closing handshake.
void Kill(Connection& c);
// Publishes what a timer or a timer-driven callback emitted.
void FlushEvents();
void OnCloseTimeout(Timer* t);
void OnEchoTimeout(Timer* t);
// Fails the open connection with Close `code` (RFC 6455 7.1.7).
void MarkFailed(Connection& c, int code, const char* errCode, const std::string& message);
// The same from one of its callbacks: returns what that callback returns.
int FailOpenConnection(Connection& c, struct lws* wsi, int code, const char* errCode,
                       const std::string& message);

// The end of the attempt, as lws reports it.
void OnConnectError(Connection& c, struct lws* wsi, const char* in);
void OnClosed(Connection& c);
void OnDestroyed(Connection& c, struct lws* wsi);

// race.cc: the connect race over the resolved addresses.
void StartLwsConnect(Connection& c);
// The callbacks of a racer (a wsi that is not yet the attempt's).
int RacerCallback(Connection& c, struct lws* wsi, enum lws_callback_reasons reason, void* in);

// handshake.cc: the opening handshake.
// APPEND_HANDSHAKE_HEADER: notes TLS done, adds the user's headers; -1 when they do not fit.
int AppendHandshakeHeaders(Connection& c, struct lws* wsi, unsigned char** p, size_t len);
// FILTER_PRE_ESTABLISH: what the server's response negotiated, for the open event.
void NoteResponse(Connection& c, struct lws* wsi);
void OnEstablished(Connection& c, struct lws* wsi);

// tls.cc: OpenSSL's side of the handshake.
void OnVerifyCertificate(struct lws* wsi, void* store, size_t preverifyOk);
void OnSslInfo(struct lws* wsi, const void* info);
void ConfigureClientTls(void* sslCtx);

// receive.cc: data, control frames and the server's Close.
int OnReceive(Connection& c, struct lws* wsi, const uint8_t* in, size_t len);
void OnPing(Connection& c, const uint8_t* in, size_t len);
void OnPong(Connection& c, const uint8_t* in, size_t len);
int OnPeerClose(Connection& c, struct lws* wsi, const uint8_t* in, size_t len);
void OnProtocolError(Connection& c, const char* in, size_t len);
void OnInflateFailed(Connection& c, struct lws* wsi, const char* in, size_t len);

// send.cc: the write pump.
int OnWritable(Connection& c, struct lws* wsi);

// heartbeat.cc: keepalive.
// A heartbeat PING's payload: a tag and the send time.
constexpr size_t kHeartbeatLen = 4 + sizeof(double);
void StartHeartbeat(Connection& c);
// Writes the payload of the heartbeat PING due now.
void HeartbeatPayload(const Connection& c, uint8_t out[kHeartbeatLen]);
// Life proven: a PING waiting for proof is answered.
void ProvenAlive(Connection& c);
// A frame arrived: proof of life unless only PONGs count (pongOnly).
void ProofOfLife(Connection& c);

}  // namespace nlws::conn
