// Sending: the write pump run at each WRITEABLE. Control frames first
// (PONGs owed, PINGs), then the session's queue (small messages framed
// together, large ones in fragments), then our Close or the echo of the
// server's.
#include <cstring>
#include <string>
#include <vector>

#include "../session/session.h"
#include "frame_writer.h"
#include "internal.h"

namespace nlws::conn {

namespace {

// Bounds on one WRITEABLE callback, so one busy connection cannot starve the
// others of the service thread.
constexpr int kWritesPerCallback = 64;
constexpr size_t kBytesPerCallback = 256 * 1024;
// Coalesced writes (WriteCoalesced): messages up to this size, up to this
// many bytes of frames per write.
constexpr size_t kCoalesceMessageMax = 8 * 1024;
constexpr size_t kCoalesceBytes = 64 * 1024;
constexpr int kCoalesceMessages = 1024;

// A PING or PONG (payload at most 125 bytes: the façade checks what JS
// gives, PINGs received are checked by lws).
int WriteControl(struct lws* wsi, enum lws_write_protocol type, const void* payload, size_t len) {
  uint8_t buf[LWS_PRE + 125];
  if (len > 125) len = 125;
  if (len) memcpy(buf + LWS_PRE, payload, len);
  return lws_write(wsi, buf + LWS_PRE, len, type);
}

// Sends the server's Close back (RFC 6455 5.5.1), the same code and reason
// (1000 for a Close without code: 1005 must not be on the wire).
int SendEcho(Connection& c, struct lws* wsi) {
  c.closeSent = true;
  c.phase = Connection::Phase::kClosing;
  StopTimer(c, c.echoTimer);
  int code = c.peerCode == 1005 ? 1000 : c.peerCode;
  std::string reason = c.peerCode == 1005 ? std::string() : c.peerReason;
  lws_close_reason(wsi, static_cast<enum lws_close_status>(code),
                   reinterpret_cast<unsigned char*>(&reason[0]), reason.size());
  StartTimer(c, c.closeTimer, c.opts->closeTimeoutMs, OnCloseTimeout);
  return -1;
}

// Small whole messages queued together go out as one write: we frame and
// mask them ourselves (frame_writer.h) into a per-thread buffer and hand
// lws the bytes raw (it copies what the socket does not take, and the next
// write waits for that: lws_send_pipe_choked()). Returns the number of
// messages written, 0 when fewer than two qualify (lws frames the next one,
// without a copy), -1 when the write failed. Messages count as written only
// after the write: on a failure they stay queued for the next connection.
int WriteCoalesced(Connection& c, struct lws* wsi, int maxMessages, size_t* bytes) {
  size_t count = 0;
  size_t total = 0;
  for (OutMessage* m; static_cast<int>(count) < maxMessages &&
                      (m = c.session.PeekToWrite(c, count)) != nullptr;
       count++) {
    size_t len = m->size();
    if (m->sent != 0 || len > kCoalesceMessageMax || len > c.opts->fragmentSize) break;
    if (total + ClientFrameSize(len) > kCoalesceBytes) break;
    total += ClientFrameSize(len);
  }
  if (count < 2) return 0;
  static thread_local std::vector<uint8_t> buf;
  if (buf.size() < kCoalesceBytes) buf.resize(kCoalesceBytes);
  size_t at = 0;
  for (size_t i = 0; i < count; i++) {
    OutMessage* m = c.session.PeekToWrite(c, i);
    if (!WriteMaskedFrame(buf.data() + at, m->binary, m->payload(), m->size())) {
      if (i < 2) return 0;  // no random keys: lws frames them
      count = i;
      break;
    }
    at += ClientFrameSize(m->size());
  }
  if (lws_write(wsi, buf.data(), at, LWS_WRITE_RAW) < 0) return -1;
  *bytes += at;
  for (size_t i = 0; i < count; i++) {
    OutMessage* m = c.session.NextToWrite(c);
    size_t len = m->size();
    m->sent = len;
    c.session.Written(c, m, len, true);  // frees m
  }
  return static_cast<int>(count);
}

}  // namespace

int OnWritable(Connection& c, struct lws* wsi) {
  if (c.phase != Connection::Phase::kOpen && c.phase != Connection::Phase::kClosing) return 0;
  if (c.closeSent) return 0;  // our Close is out (or set): no frame may follow it
  // Several frames per callback while the socket takes them: a service
  // iteration per frame would cost a poll() and a callback each. lws
  // allows back-to-back writes when lws_send_pipe_choked() was asked.
  // Control frames first: PONGs owed, in order, then our PINGs.
  int writes = 0;
  size_t bytes = 0;
  auto room = [&]() {
    return writes == 0 ||
           (writes < kWritesPerCallback && bytes < kBytesPerCallback && !lws_send_pipe_choked(wsi));
  };
  while (!c.pongs.empty() && room()) {
    std::string payload = std::move(c.pongs.front());
    c.pongs.pop_front();
    if (WriteControl(wsi, LWS_WRITE_PONG, payload.data(), payload.size()) < 0) return -1;
    writes++;
    bytes += payload.size();
  }
  if (c.heartbeatPing && room()) {
    c.heartbeatPing = false;
    uint8_t hb[kHeartbeatLen];
    HeartbeatPayload(c, hb);
    if (WriteControl(wsi, LWS_WRITE_PING, hb, sizeof hb) < 0) return -1;
    writes++;
  }
  if (c.pingPending && room()) {
    c.pingPending = false;
    if (WriteControl(wsi, LWS_WRITE_PING, c.pingPayload.data(), c.pingPayload.size()) < 0) return -1;
    writes++;
  }
  while (OutMessage* m = c.echoForced ? nullptr : c.session.NextToWrite(c)) {
    if (!room()) break;
    if (!c.deflating && m->sent == 0) {
      int n = WriteCoalesced(c, wsi, kCoalesceMessages, &bytes);
      if (n < 0) return -1;
      if (n > 0) {
        writes++;
        continue;
      }
    }
    size_t remaining = m->size() - m->sent;
    size_t n = remaining < c.opts->fragmentSize ? remaining : c.opts->fragmentSize;
    bool start = m->sent == 0;
    bool end = m->sent + n == m->size();
    int flags = lws_write_ws_flags(m->binary ? LWS_WRITE_BINARY : LWS_WRITE_TEXT, start, end);
    uint8_t* p;
    if (start && end && !c.deflating) {
      // One frame: lws writes the header into the headroom and masks the
      // payload in place; the message is done with after this write.
      p = m->payload();
    } else {
      // A fragment: copy it, so the message stays intact for a resend if
      // this connection dies before its last fragment. With
      // permessage-deflate every write is a copy: lws deflates 1 KiB per
      // writeable round, so zlib still points into the input after
      // lws_write() returns, and the message may be freed below. The copy
      // lives until the next write, which waits for that drain
      // (lws_send_pipe_choked() says so).
      c.scratch.resize(LWS_PRE + n);
      memcpy(c.scratch.data() + LWS_PRE, m->payload() + m->sent, n);
      p = c.scratch.data() + LWS_PRE;
    }
    int w = lws_write(wsi, p, n, static_cast<enum lws_write_protocol>(flags));
    if (w < 0) return -1;
    m->sent += n;
    c.session.Written(c, m, n, end);  // may free m
    writes++;
    bytes += n;
  }
  if (writes > 0) {
    lws_callback_on_writable(wsi);
    return 0;
  }
  if (c.echoHeld) {
    if (c.echoWaitJs) return 0;  // ConnectionEchoReady or the timer asks again
    return SendEcho(c, wsi);
  }
  if (c.closeRequested && !c.closeSent) {
    c.closeSent = true;
    c.phase = Connection::Phase::kClosing;
    if (c.closeCode == LWS_CLOSE_STATUS_NO_STATUS) {
      // 1005: a Close frame without a body (ws's close() with no code; patch-lws.py, fix 12).
      lws_close_reason(wsi, LWS_CLOSE_STATUS_NO_STATUS, nullptr, 0);
    } else {
      lws_close_reason(wsi, static_cast<enum lws_close_status>(c.closeCode),
                       reinterpret_cast<unsigned char*>(&c.closeReason[0]), c.closeReason.size());
    }
    StartTimer(c, c.closeTimer, c.opts->closeTimeoutMs, OnCloseTimeout);
    return -1;
  }
  return 0;
}

}  // namespace nlws::conn
