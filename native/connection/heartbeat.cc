// Keepalive (RFC 6455 5.5.2): a PING every heartbeat interval, carrying a
// tag and its send time (so the PONG gives the RTT); a link that proves no
// life within the timeout of a PING is dropped.
#include <sys/socket.h>

#include <cstring>
#include <string>

#include "../session/session.h"
#include "internal.h"

namespace nlws {

namespace conn {

namespace {

constexpr char kHeartbeatTag[4] = {'n', 'l', 'h', 'b'};
static_assert(kHeartbeatLen == sizeof(kHeartbeatTag) + sizeof(double), "tag, then the send time");

// A PING every intervalMs; when nothing proves life within timeoutMs of a
// PING, the link is dead.
void OnHeartbeat(Timer* t) {
  Connection* c = &OwnerOf(t);
  if (c->phase != Connection::Phase::kOpen || c->killed) return;
  const SessionPolicy& p = c->opts->policy;
  double now = MonoMs();
  if (c->pingSentMs > 0) {
    if (now - c->pingSentMs >= p.heartbeatTimeoutMs) {
      Fail(*c, "ERR_HEARTBEAT_TIMEOUT", "nothing received within " + std::to_string(p.heartbeatTimeoutMs) + " ms of a ping");
      // A dead link: close abortively (SO_LINGER 0), so the kernel discards
      // what it still holds unacknowledged instead of retransmitting it
      // after the close. Else, when the link returns, those messages reach
      // the server on the old connection after the ones the replacement
      // carried (out of order, and twice if the application resent them).
      if (c->wsi) {
        struct linger hardClose = {1, 0};
        setsockopt(lws_get_socket_fd(c->wsi), SOL_SOCKET, SO_LINGER, &hardClose, sizeof hardClose);
      }
      ConnectionKill(*c, Cause::kHeartbeat, false);
      FlushEvents();
      return;
    }
    StartTimer(*c, c->heartbeatTimer, c->pingSentMs + p.heartbeatTimeoutMs - now, OnHeartbeat);
    return;
  }
  double due = c->lastPingMs + p.heartbeatIntervalMs;
  if (now >= due) {
    c->heartbeatPing = true;
    c->pingSentMs = now;
    c->lastPingMs = now;
    if (c->wsi) lws_callback_on_writable(c->wsi);
    StartTimer(*c, c->heartbeatTimer, p.heartbeatTimeoutMs, OnHeartbeat);
  } else {
    StartTimer(*c, c->heartbeatTimer, due - now, OnHeartbeat);
  }
}

}  // namespace

void StartHeartbeat(Connection& c) {
  c.lastLifeMs = MonoMs();
  c.lastPingMs = c.lastLifeMs;  // the first PING is due intervalMs after the open
  const SessionPolicy& p = c.opts->policy;
  if (p.heartbeatIntervalMs) StartTimer(c, c.heartbeatTimer, p.heartbeatIntervalMs, OnHeartbeat);
}

void HeartbeatPayload(const Connection& c, uint8_t out[kHeartbeatLen]) {
  memcpy(out, kHeartbeatTag, sizeof kHeartbeatTag);
  double sent = c.pingSentMs;
  memcpy(out + sizeof kHeartbeatTag, &sent, sizeof sent);
}

// Life proven (a frame, or with pongOnly only a PONG). A PING waiting for
// proof is answered: the timer moves to the next PING. It is moved only
// then (once per interval), not on every frame.
void ProvenAlive(Connection& c) {
  c.lastLifeMs = MonoMs();
  if (c.pingSentMs > 0) {
    c.pingSentMs = 0;
    double next = c.lastPingMs + c.opts->policy.heartbeatIntervalMs - c.lastLifeMs;
    StartTimer(c, c.heartbeatTimer, next, OnHeartbeat);
  }
}

void ProofOfLife(Connection& c) {
  if (c.opts->policy.pongOnly || !c.opts->policy.heartbeatIntervalMs) return;
  ProvenAlive(c);
}

}  // namespace conn

using namespace conn;

bool IsHeartbeatPong(const uint8_t* data, size_t len, double* sentMs) {
  if (len != kHeartbeatLen || memcmp(data, kHeartbeatTag, sizeof kHeartbeatTag) != 0) return false;
  memcpy(sentMs, data + sizeof kHeartbeatTag, sizeof *sentMs);
  return true;
}

}  // namespace nlws
