// The lws callback of every connection: the switch that hands each reason
// to the file that handles it, and the protocol and extension tables lws
// is given.
#include "../thread/service_thread.h"
#include "internal.h"

namespace nlws {

namespace conn {

namespace {

int HandleCallback(struct lws* wsi, enum lws_callback_reasons reason, void* user, void* in,
                   size_t len) {
  switch (reason) {
    case LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION:
      OnVerifyCertificate(wsi, user, len);
      return 0;
    case LWS_CALLBACK_SSL_INFO:
      OnSslInfo(wsi, in);
      return 0;
    case LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS:
      ConfigureClientTls(user);  // user: the SSL_CTX (wsi is a stand-in)
      return 0;
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
    case LWS_CALLBACK_CLIENT_APPEND_HANDSHAKE_HEADER:
      return AppendHandshakeHeaders(*c, wsi, static_cast<unsigned char**>(in), len);
    case LWS_CALLBACK_CLIENT_FILTER_PRE_ESTABLISH:
      NoteResponse(*c, wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_ESTABLISHED:
      OnEstablished(*c, wsi);
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE:
      return OnReceive(*c, wsi, static_cast<const uint8_t*>(in), len);
    case LWS_CALLBACK_NLWS_RECEIVE_PING:
      OnPing(*c, static_cast<const uint8_t*>(in), len);
      return 0;
    case LWS_CALLBACK_NLWS_PROTOCOL_ERROR:
      OnProtocolError(*c, static_cast<const char*>(in), len);
      return 0;
    case LWS_CALLBACK_NLWS_INFLATE_FAILED:
      OnInflateFailed(*c, wsi, static_cast<const char*>(in), len);
      return 0;
    case LWS_CALLBACK_CLIENT_RECEIVE_PONG:
      OnPong(*c, static_cast<const uint8_t*>(in), len);
      return 0;
    case LWS_CALLBACK_CLIENT_WRITEABLE:
      return OnWritable(*c, wsi);
    case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
      return OnPeerClose(*c, wsi, static_cast<const uint8_t*>(in), len);
    case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
      OnConnectError(*c, wsi, static_cast<const char*>(in));
      return 0;
    case LWS_CALLBACK_CLIENT_CLOSED:
      OnClosed(*c);
      return 0;
    case LWS_CALLBACK_WSI_DESTROY:
      OnDestroyed(*c, wsi);
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

}  // namespace conn

using namespace conn;

const struct lws_protocols* ClientProtocols() { return kProtocols; }
const struct lws_extension* ClientExtensions() { return kExtensions; }

}  // namespace nlws
