// Reconnecting: after a failure the classifier (classify.h) proposes,
// shouldReconnect may overrule, and the backoff (backoff.h) says when; the
// try counter, its reset after resetAfterMs of uptime, and giving up.
// Session's members for it; session.cc keeps the state machine.
#include <random>

#include "backoff.h"
#include "../json.h"
#include "../thread/service_thread.h"
#include "session.h"

namespace nlws {

namespace {

// A uniform draw in [0, 1) for the reconnect jitter. One generator per
// service thread; seeded from the OS so clients started together differ.
double Random01() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(rng);
}

}  // namespace

// The connection was lost (or an attempt failed) and reconnect is on: the
// classifier proposes, shouldReconnect (when given) decides.
void Session::Reconnect(const AttemptEnd& end, int64_t nowMs) {
  Failure f;
  f.cause = end.cause;
  f.status = end.status;
  f.closeCode = end.code;
  f.retryAfter = end.retryAfter;
  f.refreshedOnce = refreshedOnce_;
  f.proxyRefresh = policy().proxyRefresh;
  f.reconnectOnNormalClose = policy().reconnectOnNormalClose;
  f.nowMs = nowMs;
  nlws::Decision d = Classify(f);
  if (policy().hookDecide) {
    // shouldReconnect: JS decides (waits for the JS thread).
    awaitingDecision_ = true;
    pendingEnd_ = end;
    pendingDecision_ = d;
    SetState(SessionState::kReconnecting);
    std::string j = AttemptJson(end) + ",\"attempt\":" + std::to_string(tries_ + 1) + ",\"action\":";
    AppendJsonString(j, ActionName(d.action));
    j += ",\"delayMs\":" + std::to_string(d.delayMs) + ",\"why\":";
    AppendJsonString(j, d.reason);
    j += "}";
    Emit(EventType::kDecide, 0, j);
    return;
  }
  AfterFailure(end, d);
}

void Session::AfterFailure(const AttemptEnd& end, const nlws::Decision& d) {
  switch (d.action) {
    case Action::kGiveUp:
      GiveUp(end, d.reason);
      return;
    case Action::kRefreshRetry:
      refreshedOnce_ = true;
      ScheduleRetry(end, d, 0);
      return;
    case Action::kRetryAfter:
    case Action::kRetry:
      ScheduleRetry(end, d, -1);
      return;
  }
}


void Session::Decide(bool retry, int64_t delayMs) {
  if (!awaitingDecision_ || state_ == SessionState::kClosed) return;
  awaitingDecision_ = false;
  if (!retry) {
    GiveUp(pendingEnd_, "shouldReconnect returned false");
    return;
  }
  if (delayMs >= 0) {
    ScheduleRetry(pendingEnd_, pendingDecision_, delayMs);
  } else {
    AfterFailure(pendingEnd_, pendingDecision_.action == Action::kGiveUp ? nlws::Decision{} : pendingDecision_);
  }
}


void Session::ScheduleRetry(const AttemptEnd& end, const nlws::Decision& d, int64_t overrideMs) {
  const SessionPolicy& p = policy();
  // 1013: the counter goes on from where this connection found it, even if
  // the connection stayed up long enough to reset it.
  if (d.keepClimbing && tries_ < triesAtOpen_) tries_ = triesAtOpen_;
  if (tries_ < 0xffff) tries_++;
  if (p.maxAttempts && tries_ > p.maxAttempts) {
    GiveUp(end, "no connection after " + std::to_string(tries_ - 1) + " attempts (maxAttempts)");
    return;
  }
  DelayInput in;
  in.schedule = &p.backoffMs;
  in.attempt = tries_;
  in.jitter = p.jitter;
  in.jitterPercent = p.jitterPercent;
  in.retryAfterMs = d.action == Action::kRetryAfter ? d.delayMs : -1;
  in.maxRetryAfterMs = p.maxRetryAfterMs;
  in.spread = d.spread;
  in.random = Random01();
  Delay delay = ReconnectDelay(in);
  double ms = overrideMs >= 0 ? static_cast<double>(overrideMs) : delay.ms;
  SetState(SessionState::kReconnecting);
  std::string j = "{\"attempt\":" + std::to_string(tries_) + ",\"delayMs\":" + JsonMs(ms) + ",\"cause\":";
  AppendJsonString(j, CauseName(end.cause));
  if (!end.retryAfter.empty()) {
    // The server's value as sent (bounded), and what it meant.
    j += ",\"retryAfter\":";
    AppendJsonString(j, end.retryAfter.substr(0, 64));
    if (in.retryAfterMs >= 0) j += ",\"retryAfterMs\":" + std::to_string(in.retryAfterMs);
  }
  j += ",\"at\":" + JsonMs(WallMs()) + "}";
  Emit(EventType::kReconnecting, ms, j);
  ArmTimer(service, retryTimer_, this, ms, OnRetryTimer);
}


void Session::GiveUp(const AttemptEnd& end, const std::string& why) {
  std::string j = "{\"cause\":";
  AppendJsonString(j, CauseName(end.cause));
  j += ",\"reason\":";
  AppendJsonString(j, why);
  j += ",\"code\":" + std::to_string(end.code);
  if (end.status) j += ",\"status\":" + std::to_string(end.status);
  j += ",\"at\":" + JsonMs(WallMs()) + "}";
  Emit(EventType::kGiveUp, 0, j);
  Finish(end.code, end.reason);
}


void Session::OnRetryTimer(Timer* t) {
  Session* s = SessionTimer::Of(t);
  EventBatch& events = s->service.events();
  if (s->state_ == SessionState::kClosed || s->userClosing_) return;
  s->SetState(SessionState::kConnecting);
  s->StartAttempt(false);
  events.Flush();
}


void Session::OnResetTimer(Timer* t) {
  Session* s = SessionTimer::Of(t);
  s->tries_ = 0;
  s->refreshedOnce_ = false;
}


}  // namespace nlws
