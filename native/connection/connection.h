// One connection attempt on the lws side: its state and the operations the
// session performs on it. The files beside this one each do one job of it
// (internal.h lists them). Service thread only.
#pragma once
#include <libwebsockets.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "../connect_options.h"
#include "../fifo.h"
#include "../session/classify.h"
#include "../thread/mailbox.h"
#include "../thread/timer.h"
#include "../utf8.h"
#include "errors.h"  // ErrorJson, for the errors sessions set on an attempt

namespace nlws {

// PONG payloads a connection holds at most (see Connection::pongs).
constexpr size_t kMaxPendingPongs = 32;

class ServiceThread;
class Session;
struct Connection;

// A timer that knows its connection (the callback gets only the timer).
using ConnectionTimer = OwnedTimer<Connection>;

// One TCP connection of an attempt's race over the addresses of a name
// (happy eyeballs, RFC 8305): lws connects to `address`; the first racer
// that connects at TCP level becomes the attempt's wsi, and the others are
// closed before they send anything (lws patch: a non-zero return from
// LWS_CALLBACK_WSI_CREATE closes the socket).
struct Racer {
  std::string address;
  struct lws* wsi = nullptr;  // lws writes it (pwsi); cleared when it ends or is dropped
  bool failed = false;
  Cause cause = Cause::kNetwork;
  std::string errorJson;
};

struct Connection {
  Connection(Session& s, uint32_t generation, std::shared_ptr<const ConnectOptions> o);
  ~Connection();

  enum class Phase { kConfiguring, kResolving, kConnecting, kOpen, kClosing, kDone };

  Session& session;
  ServiceThread& service;
  const uint32_t generation;  // attempt number within the session
  std::shared_ptr<const ConnectOptions> opts;
  Phase phase = Phase::kConfiguring;
  struct lws* wsi = nullptr;  // the racer that connected, once one has
  std::string address;       // numeric address connected to (the proxy's when proxied)
  std::string proxyAddress;  // numeric proxy address, when proxied

  // The race over the addresses (see Racer). Racers live as long as the
  // attempt: lws keeps a pointer to their `wsi` slot while it creates one.
  std::vector<std::string> addresses;  // in the order to try
  size_t nextAddress = 0;
  std::vector<std::unique_ptr<Racer>> racers;
  bool launching = false;     // inside lws_client_connect_via_info
  struct lws_vhost* vhost = nullptr;

  // Opening handshake timings (monotonic clock) for open and stats().
  double startedAtMs = 0;
  double resolvedAtMs = 0;
  double tcpAtMs = 0;
  double tlsAtMs = 0;
  bool tlsResumed = false;
  std::string hostHeader;
  // Through a proxy, what CONNECT asks for: the host, an IPv6 literal in
  // brackets (lws appends ":port").
  std::string proxyTarget;
  // What the server's response negotiated (protocol, extensions, headers),
  // as the start of the open event's JSON (handshake.cc); freed once open.
  std::string openInfo;

  // Receiving.
  std::vector<uint8_t> rx;  // fragments of the message being reassembled
  uint64_t rxSize = 0;
  bool rxInMessage = false;  // between a message's first and last chunk
  bool rxBinary = false;
  bool rxCompressed = false;  // RSV1 on the message's first frame
  Utf8State utf8;
  bool rxPaused = false;

  // Sending.
  Fifo<std::unique_ptr<OutMessage>> priority;  // onOpen's sends
  std::vector<uint8_t> scratch;  // fragment copies: lws masks in place
  bool deflating = false;        // permessage-deflate negotiated
  std::string pingPayload;
  bool pingPending = false;
  // PONGs owed, oldest first: every PING is answered in order; under a
  // flood the oldest are dropped (RFC 6455 5.5.3 allows answering only the
  // most recent), so at most kMaxPendingPongs payloads are held.
  std::deque<std::string> pongs;

  // Heartbeat.
  double lastLifeMs = 0;      // last proof of life (monotonic clock)
  double pingSentMs = 0;      // our heartbeat PING awaiting proof of life, 0 if none
  double lastPingMs = 0;      // when the last heartbeat PING went out
  bool heartbeatPing = false; // send a heartbeat PING at the next WRITEABLE

  // Closing.
  bool closeRequested = false;  // close(): send queued data, then Close
  int closeCode = 1000;
  std::string closeReason;
  bool closeSent = false;
  bool failed = false;          // we failed it (Close 1002/1007/1009 set): nothing more is processed
  // The server's Close, echoed once JS has handled what arrived before it
  // (so replies from its handlers go out first) and the queue is written,
  // or at closeTimeout.
  bool echoHeld = false;
  bool echoWaitJs = false;      // JS has not yet confirmed
  bool echoForced = false;      // closeTimeout ran out: echo without writing more
  bool killed = false;          // being dropped: every further callback fails
  Cause killCause = Cause::kNetwork;
  bool peerClosed = false;
  int peerCode = 1005;
  std::string peerReason;
  std::string errorJson;        // error to report with the end
  Cause cause = Cause::kNetwork;
  int httpStatus = 0;
  std::string retryAfter;
  std::string location;         // a redirect to follow (followRedirects), or empty
  // Redirects: this attempt is hop `hop` of a chain started by a fresh
  // attempt (0); `redirectStatus` is the 3xx that led here.
  uint16_t hop = 0;
  int redirectStatus = 0;
  int tlsVerifyError = 0;       // first OpenSSL X509_V_ERR seen, if any
  int tlsAlert = -1;            // first fatal TLS alert the server sent, if any

  ConnectionTimer closeTimer{};
  ConnectionTimer echoTimer{};
  ConnectionTimer handshakeTimer{};
  ConnectionTimer heartbeatTimer{};
  ConnectionTimer raceTimer{};  // starts the next address (autoSelectFamilyAttemptTimeout)
};

const struct lws_protocols* ClientProtocols();
const struct lws_extension* ClientExtensions();

void ConnectionStart(Connection& c);
// addresses: numeric, comma-separated; or error: a code, optionally
// followed by a newline and a message.
void ConnectionResolved(Connection& c, const std::string& addresses, const std::string& error);
// Fails an attempt that has not reached lws yet (configuration failed).
void ConnectionFailEarly(Connection& c, Cause cause, const char* code, const std::string& message);
void ConnectionWantWrite(Connection& c);
void ConnectionClose(Connection& c, int code, const std::string& reason);
// Drops the attempt without a closing handshake; `cause` is reported.
void ConnectionKill(Connection& c, Cause cause, bool quiet);
void ConnectionPing(Connection& c, const std::string& payload);
// Queues a PONG (JS's pong(), or the answer to a PING).
void ConnectionPong(Connection& c, const std::string& payload);
// JS has handled the events that arrived before the server's Close.
void ConnectionEchoReady(Connection& c);
void ConnectionResumeRx(Connection& c);
void ConnectionPauseRx(Connection& c);
// The context is about to be destroyed: detach from lws without callbacks.
void ConnectionDetach(Connection& c);
// Closes the racers still connecting (without callbacks to this attempt).
void ConnectionDropRacers(Connection& c);

// What the open event says beyond the handshake: the session's view.
struct OpenFacts {
  bool reconnected = false;
  uint32_t attempt = 0;  // the session's try counter
  double atMs = 0;       // wall clock
  double monoMs = 0;     // monotonic clock
};
// The open event's JSON: what the response negotiated, the address used,
// the opening handshake's timings and `facts`.
std::string OpenEventJson(const Connection& c, const OpenFacts& facts);
// The onOpen hook's JSON: what the response negotiated, why it opened
// ("open", "rotate") and whether it is a reconnection.
std::string OnOpenHookJson(const Connection& c, const char* reason, bool reconnected);

// A PONG answering one of our heartbeat PINGs: gives the time it was sent.
bool IsHeartbeatPong(const uint8_t* data, size_t len, double* sentMs);

}  // namespace nlws
