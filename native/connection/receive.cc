// Receiving: messages reassembled from lws's chunks, bounded by maxPayload
// and checked as UTF-8; PINGs and PONGs; the server's Close, validated and
// its echo held; the failures lws reports while parsing.
#include <string>
#include <vector>

#include "../event_batch.h"
#include "../session/session.h"
#include "internal.h"

namespace nlws::conn {

namespace {

// A message's announced length is reserved up to this much at once; beyond
// it the buffer grows as the bytes arrive (an announcement costs nothing
// to make).
constexpr uint64_t kRxReserveMax = 16 * 1024 * 1024;

// Codes a Close frame may carry (RFC 6455 7.4.1, 7.4.2).
bool IsValidCloseCode(int code) {
  return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
         (code >= 3000 && code <= 4999);
}

}  // namespace

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

// lws hands every PING over (deps/patch-lws.py) instead of keeping one PONG
// and dropping the PINGs that arrive while it is pending.
void OnPing(Connection& c, const uint8_t* in, size_t len) {
  if (c.phase != Connection::Phase::kOpen || c.failed || c.echoHeld) return;
  ProofOfLife(c);
  std::string payload(reinterpret_cast<const char*>(in), len);
  if (c.opts->autoPong) ConnectionPong(c, payload);
  c.session.AttemptPing(c, in, len);
}

void OnPong(Connection& c, const uint8_t* in, size_t len) {
  if (c.opts->policy.heartbeatIntervalMs) ProvenAlive(c);
  c.session.AttemptPong(c, in, len);
}

// lws failed the connection itself (reserved bits or opcodes, bad control
// frames, ...) and has set Close 1002.
void OnProtocolError(Connection& c, const char* in, size_t len) {
  if (c.failed || c.closeSent) return;  // already closing: that code stands
  MarkFailed(c, 1002, "ERR_PROTOCOL", "protocol error: " + std::string(in, len));
}

// The server's compressed data does not inflate (deps/patch-lws.py, 10):
// Close 1007 and ERR_INFLATE, as ws does. lws sends the Close and parses
// nothing more.
void OnInflateFailed(Connection& c, struct lws* wsi, const char* in, size_t len) {
  if (c.failed || c.closeSent || c.peerClosed) return;
  FailOpenConnection(c, wsi, 1007, "ERR_INFLATE",
                     "permessage-deflate: the server's compressed data does not inflate (zlib: " +
                         std::string(in, len) + ")");
}

// The server's Close (LWS_CALLBACK_WS_PEER_INITIATED_CLOSE): lws echoes
// this payload after we return 0 (unless held, below). RFC 6455 7.4 / 5.5.1
// is checked here (lws no longer rewrites invalid codes to 1002 before we
// see them), failing the connection instead of echoing a bad frame. lws
// parses nothing after the first Close (deps/patch-lws.py), so a second
// Close in the same segment is never seen.
int OnPeerClose(Connection& c, struct lws* wsi, const uint8_t* p, size_t len) {
  if (c.failed || c.peerClosed) return -1;
  if (len == 1)
    return FailOpenConnection(c, wsi, 1002, "ERR_PROTOCOL", "Close frame with a 1-byte payload");
  if (len >= 2) {
    int code = (p[0] << 8) | p[1];
    if (!IsValidCloseCode(code))
      return FailOpenConnection(c, wsi, 1002, "ERR_PROTOCOL",
                                "invalid close code " + std::to_string(code));
    Utf8State s;
    if (!c.opts->skipUtf8Validation && (!Utf8Feed(s, p + 2, len - 2) || !s.complete()))
      return FailOpenConnection(c, wsi, 1007, "ERR_INVALID_UTF8", "close reason is not valid UTF-8");
    c.peerCode = code;
    c.peerReason.assign(reinterpret_cast<const char*>(p) + 2, len - 2);
  } else {
    c.peerCode = 1005;
    c.peerReason.clear();
  }
  c.peerClosed = true;
  // Our Close is out or set (simultaneous close): lws answers as usual.
  if (c.closeSent) return 0;
  // Hold the echo while JS handles what arrived before the Close (its
  // replies and what was queued go first), bounded by closeTimeout.
  if (!c.session.HoldsCloseEcho(c)) return 0;
  c.echoHeld = true;
  c.echoWaitJs = true;
  c.phase = Connection::Phase::kClosing;
  StartTimer(c, c.echoTimer, c.opts->closeTimeoutMs, OnEchoTimeout);
  lws_callback_on_writable(wsi);  // what is queued goes out meanwhile
  return LWS_NLWS_HOLD_CLOSE_ECHO;
}

}  // namespace nlws::conn
