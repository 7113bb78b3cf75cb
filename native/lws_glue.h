// The lws side of a connection: the client protocol callback and the
// operations the service thread performs on a connection. Service thread only.
#pragma once
#include <libwebsockets.h>

#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "command_queue.h"
#include "connect_options.h"
#include "utf8.h"

namespace nlws {

class ServiceThread;
struct Connection;

// An lws timer that knows its connection (lws hands back only the sul).
struct ConnectionTimer {
  lws_sorted_usec_list_t sul;  // first member: the callback casts back
  Connection* owner;
};

struct Connection {
  Connection(ServiceThread& s, uint32_t i, std::unique_ptr<ConnectOptions> o);
  ~Connection();

  enum class Phase { kResolving, kConnecting, kOpen, kClosing, kDone };

  ServiceThread& service;
  const uint32_t id;
  std::unique_ptr<ConnectOptions> opts;
  Phase phase = Phase::kResolving;
  struct lws* wsi = nullptr;
  std::string address;       // numeric address lws connects to
  std::string proxyAddress;  // numeric proxy address, when proxied
  std::string hostHeader;
  std::string openInfo;      // JSON captured before establishment

  // Receiving.
  std::vector<uint8_t> rx;  // fragments of the message being reassembled
  uint64_t rxSize = 0;
  bool rxBinary = false;
  Utf8State utf8;
  uint64_t rxUnacked = 0;  // bytes handed to JS and not yet consumed
  bool rxPaused = false;

  // Sending.
  std::deque<std::unique_ptr<OutMessage>> out;
  std::string pingPayload;
  bool pingPending = false;

  // Closing.
  bool closeRequested = false;  // by close(): send queued data, then Close
  int closeCode = 1000;
  std::string closeReason;
  bool closeSent = false;
  bool aborted = false;          // terminate() or close() before open: no error
  bool killed = false;           // being dropped: every further callback fails
  bool peerClosed = false;
  int peerCode = 1005;
  std::string peerReason;
  std::string errorJson;         // error to report with the close
  int tlsVerifyError = 0;        // first OpenSSL X509_V_ERR seen, if any
  bool contextGone = false;

  ConnectionTimer closeTimer{};
  ConnectionTimer handshakeTimer{};
};

const struct lws_protocols* ClientProtocols();
const struct lws_extension* ClientExtensions();

void ConnectionStart(Connection& c);
void ConnectionResolved(Connection& c, const std::string& address, const std::string& error);
void ConnectionSend(Connection& c, std::unique_ptr<OutMessage> m);
void ConnectionClose(Connection& c, int code, const std::string& reason);
void ConnectionTerminate(Connection& c);
void ConnectionPing(Connection& c, const std::string& payload);
void ConnectionAck(Connection& c, uint64_t bytes);
// The context is about to be destroyed: detach from lws without callbacks.
void ConnectionDetach(Connection& c);

std::string ErrorJson(const char* code, const std::string& message, int status = 0,
                      const std::string& headersJson = "");

}  // namespace nlws
