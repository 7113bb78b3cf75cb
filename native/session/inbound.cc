// A session's inbound side: what its attempts receive reaches JS from the
// connection that delivers (or waits in held_ during a rotation, see
// rotation.cc); bytes JS has not acknowledged pause reading above the high
// water mark; the stall watchdog ends a connection that went quiet.
#include "../connection/connection.h"
#include "../thread/service_thread.h"
#include "session.h"

namespace nlws {

// The time of the last message, for the stall timer: read once per batch
// published to JS, not per message (a clock read was ~4 % of the service
// thread's time at 1 KiB messages). A batch is one service turn, or the few
// turns of a stream gathered together (thread/service_thread.cc): the stamp
// is at most that much (about a millisecond) older than the batch's last
// message.
void Session::StampMessage() {
  uint64_t batch = service.events().published();
  if (batch == stampedBatch_) return;
  stampedBatch_ = batch;
  lastMessageMs_ = MonoMs();
}

void Session::AttemptMessage(Connection& c, EventType type, const uint8_t* data, size_t len) {
  if (Delivers(c)) {
    service.events().Add(type, id, 0, data, len);
    StampMessage();
  } else if (Holds(c)) {
    held_.push_back({type, std::vector<uint8_t>(data, data + len)});
  }
}

void Session::AttemptMessageOwned(Connection& c, EventType type, std::vector<uint8_t>&& data) {
  if (Delivers(c)) {
    service.events().AddMessage(type, id, 0, std::move(data));
    StampMessage();
  } else if (Holds(c)) {
    held_.push_back({type, std::move(data)});
  }
}

void Session::AttemptPong(Connection& c, const uint8_t* data, size_t len) {
  if (&c != current_.get()) return;
  double sent = 0;
  double rtt = -1;
  if (IsHeartbeatPong(data, len, &sent)) {
    rtt = MonoMs() - sent;
    if (rtt < 0) rtt = 0;
  }
  service.events().Add(EventType::kPong, id, rtt, data, len);
}

void Session::AttemptPing(Connection& c, const uint8_t* data, size_t len) {
  if (!Delivers(c)) return;
  service.events().Add(EventType::kPing, id, 0, data, len);
  // Counted like a message: a PING flood JS does not keep up with pauses
  // reading like a message flood does.
  RxAdded(c, len + kMessageOverhead);
}

void Session::RxAdded(Connection& c, uint64_t bytes) {
  rxUnacked_ += bytes;
  if (rxUnacked_ > opts->receiveHighWaterMark) {
    SetRxPaused(true);
    ConnectionPauseRx(c);
    if (current_) ConnectionPauseRx(*current_);
    if (replacement_) ConnectionPauseRx(*replacement_);
  }
}

void Session::Ack(uint64_t bytes) {
  rxUnacked_ = bytes > rxUnacked_ ? 0 : rxUnacked_ - bytes;
  if (rxPaused_ && rxUnacked_ <= opts->receiveHighWaterMark / 2) {
    SetRxPaused(false);
    if (current_) ConnectionResumeRx(*current_);
    if (replacement_) ConnectionResumeRx(*replacement_);
  }
}

// While some session waits for acknowledgements, JS must wake the service
// thread when it posts them; otherwise they ride along with the next wake.
void Session::SetRxPaused(bool paused) {
  if (paused == rxPaused_) return;
  rxPaused_ = paused;
  service.CountPaused(paused ? 1 : -1);
}

void Session::ArmStall() {
  if (!policy().stallTimeoutMs) return;
  ArmTimer(service, stallTimer_, this, policy().stallTimeoutMs, OnStallTimer);
}

// Session timers run just before the service thread sleeps in poll(): each
// publishes what it emitted at once.
void Session::OnStallTimer(Timer* t) {
  Session* s = SessionTimer::Of(t);
  if (s->state_ != SessionState::kOpen || !s->current_) return;
  double idle = MonoMs() - s->lastMessageMs_;
  uint32_t limit = s->policy().stallTimeoutMs;
  if (idle < limit) {
    ArmTimer(s->service, s->stallTimer_, s, limit - idle, OnStallTimer);
    return;
  }
  s->Emit(EventType::kStall, idle, "{\"idleMs\":" + JsonMs(idle) + ",\"at\":" + JsonMs(WallMs()) + "}");
  s->current_->errorJson = ErrorJson("ERR_STALL", "no message for " + std::to_string(limit) + " ms");
  EventBatch& events = s->service.events();
  ConnectionKill(*s->current_, Cause::kStall, false);
  events.Flush();
}

}  // namespace nlws
