#include "session.h"

#include "../connection/connection.h"
#include "../json.h"
#include "../thread/service_thread.h"

namespace nlws {

void ArmTimer(ServiceThread& svc, SessionTimer& t, Session* owner, double ms, TimerFn cb) {
  t.owner = owner;
  svc.timers().Schedule(t.timer, static_cast<int64_t>(ms * LWS_US_PER_MS), cb);
}

namespace {

// The wall-clock time at which something happened `ago` ms before now
// (measured on the monotonic clock): a step of the wall clock in between
// does not make a reported interval negative.
double WallAt(double monoThen, double monoNow, double wallNow) { return wallNow - (monoNow - monoThen); }

}  // namespace

Session::Session(ServiceThread& s, uint32_t i, std::shared_ptr<ConnectOptions> o)
    : service(s), id(i), opts(std::move(o)), log(SessionLogCreate(i)),
      dropFn_([this](std::unique_ptr<OutMessage> m, DropReason why) { EmitDrop(std::move(m), why); }) {}

Session::~Session() {
  SessionLogRelease(log);
  for (SessionTimer* t : {&retryTimer_, &stallTimer_, &ageTimer_, &resetTimer_, &drainTimer_}) Cancel(*t);
}

void Session::Cancel(SessionTimer& t) { service.timers().Cancel(t.timer); }

void Session::Emit(EventType type, double value, const std::string& json) {
  service.events().Add(type, id, value, json);
}

void Session::SetState(SessionState s) {
  if (s == state_) return;
  state_ = s;
  std::string j = "{\"at\":" + JsonMs(WallMs()) + "}";
  Emit(EventType::kState, static_cast<double>(s), j);
}

Connection* Session::Attempt(uint32_t generation) {
  if (current_ && current_->generation == generation) return current_.get();
  if (replacement_ && replacement_->generation == generation) return replacement_.get();
  return nullptr;
}

std::unique_ptr<Connection> Session::Take(Connection& c) {
  if (current_.get() == &c) return std::move(current_);
  if (replacement_.get() == &c) return std::move(replacement_);
  for (auto it = retiring_.begin(); it != retiring_.end(); ++it) {
    if (it->get() == &c) {
      std::unique_ptr<Connection> out = std::move(*it);
      retiring_.erase(it);
      return out;
    }
  }
  return nullptr;
}

void Session::Bury(std::unique_ptr<Connection> c) {
  if (!c) return;
  // onOpen's sends belong to their connection: those it did not finish
  // writing come back as drops, like the queue's (nothing is lost silently).
  while (!c->priority.empty()) {
    std::unique_ptr<OutMessage> m = std::move(c->priority.front());
    c->priority.pop_front();
    EmitDrop(std::move(m), DropReason::kClosed, true);
  }
  service.Bury(std::move(c));
}

void Session::Abandon(std::unique_ptr<Connection> c) {
  if (!c) return;
  ConnectionDropRacers(*c);
  if (c->wsi) {
    lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
    lws_set_opaque_user_data(c->wsi, nullptr);
    c->wsi = nullptr;
  }
  c->phase = Connection::Phase::kDone;
  Bury(std::move(c));
}

void Session::Start() {
  Emit(EventType::kState, static_cast<double>(state_), "{\"at\":" + JsonMs(WallMs()) + "}");
  StartAttempt(false);
}

void Session::StartAttempt(bool rotation) {
  uint32_t gen = ++generation_;
  auto c = std::make_unique<Connection>(*this, gen, opts);
  Connection& ref = *c;
  if (rotation) {
    replacement_ = std::move(c);
  } else {
    current_ = std::move(c);
  }
  if (policy().hookConfig) {
    // url/headers are functions: JS computes them for this attempt.
    Emit(EventType::kNeedConfig, gen, "");
    return;
  }
  ConnectionStart(ref);
}

void Session::Config(uint32_t generation, std::shared_ptr<ConnectOptions> fresh, const std::string& error,
                     const std::string& errorCode) {
  Connection* c = Attempt(generation);
  if (!c || c->phase != Connection::Phase::kConfiguring) return;
  if (!error.empty() || !fresh) {
    std::string message = error.empty() ? "no configuration" : error;
    if (c->hop > 0) {
      // A redirect the façade refused: ends as the 3xx it answers would
      // without followRedirects (the policy does not retry those).
      c->httpStatus = c->redirectStatus;
      ConnectionFailEarly(*c, Cause::kHttp, errorCode.empty() ? "ERR_INVALID_REDIRECT" : errorCode.c_str(),
                          message);
      return;
    }
    ConnectionFailEarly(*c, Cause::kConfig, errorCode.empty() ? "ERR_CONFIG" : errorCode.c_str(), message);
    return;
  }
  fresh->policy = opts->policy;
  if (c->hop == 0) {
    opts = std::move(fresh);
    c->opts = opts;
  } else {
    // A redirect's target is this attempt's only: the next fresh attempt
    // (a reconnect) starts from the session's URL again.
    c->opts = std::move(fresh);
  }
  ConnectionStart(*c);
}

// The attempt `from` was answered with a redirect to follow: the next hop
// is a fresh attempt in its place (never lws's own redirect, see
// StartLwsConnect), configured by the façade, which validates the Location
// with connect()'s URL rules, decides what crosses to another origin and
// bounds the hops (lib/redirect.ts).
void Session::FollowRedirect(const Connection& from, const AttemptEnd& end, bool rotation) {
  uint32_t gen = ++generation_;
  auto c = std::make_unique<Connection>(*this, gen, from.opts);
  c->hop = static_cast<uint16_t>(from.hop < UINT16_MAX ? from.hop + 1 : from.hop);
  c->redirectStatus = end.status;
  if (rotation) {
    replacement_ = std::move(c);
  } else {
    current_ = std::move(c);
  }
  std::string j = "{\"location\":";
  AppendJsonString(j, end.location);
  j += ",\"status\":" + std::to_string(end.status) + ",\"from\":" + std::to_string(from.generation) +
       ",\"hop\":" + std::to_string(from.hop + 1) + "}";
  Emit(EventType::kNeedConfig, gen, j);
}

void Session::Resolved(uint32_t generation, const std::string& address, const std::string& error) {
  if (Connection* c = Attempt(generation)) ConnectionResolved(*c, address, error);
}

void Session::AttemptOpened(Connection& c) {
  double now = WallMs();
  double mono = MonoMs();
  if (&c == replacement_.get()) {
    Emit(EventType::kRotate, c.generation, "{\"phase\":\"open\",\"at\":" + JsonMs(now) + "}");
    if (policy().hookOnOpen) {
      Emit(EventType::kOnOpen, c.generation, OnOpenHookJson(c, "rotate", true));
    } else {
      SwitchToReplacement();
    }
    return;
  }
  if (&c != current_.get()) return;
  bool reconnected = everOpened_;
  // How long the outage lasted is lib/stats.ts's to compute, from the
  // Disconnect's and this event's `mono`; downSinceMs_ bounds the gap only.
  if (reconnected && downSinceMs_ > 0) {
    // Inbound data sent by the server in this window may never arrive.
    double from = lastMessageMs_ > 0 && lastMessageMs_ < downSinceMs_ ? lastMessageMs_ : downSinceMs_;
    Emit(EventType::kGap, 0, "{\"from\":" + JsonMs(WallAt(from, mono, now)) + ",\"to\":" + JsonMs(now) + "}");
  }
  everOpened_ = true;
  openedAtMs_ = mono;
  openGeneration_ = c.generation;
  lastMessageMs_ = mono;
  triesAtOpen_ = tries_;
  SetState(SessionState::kOpen);
  Emit(EventType::kOpen, c.generation, OpenEventJson(c, {reconnected, tries_, now, mono}));
  // The try counter resets once a connection has stayed up for a while.
  if (policy().resetAfterMs) ArmTimer(service, resetTimer_, this, policy().resetAfterMs, OnResetTimer);
  ArmStall();
  ArmAge();
  backlogOpen_ = !policy().hookOnOpen;
  if (policy().hookOnOpen)
    Emit(EventType::kOnOpen, c.generation, OnOpenHookJson(c, "open", reconnected));
  ExpireQueue();
  Flush();
}

void Session::OnOpenDone(uint32_t generation, const std::string& error) {
  Connection* c = Attempt(generation);
  if (!c || c->phase != Connection::Phase::kOpen) return;
  if (!error.empty()) {
    c->errorJson = ErrorJson("ERR_ON_OPEN", "onOpen failed: " + error);
    ConnectionKill(*c, Cause::kConfig, false);
    return;
  }
  if (c == replacement_.get()) {
    SwitchToReplacement();
    return;
  }
  backlogOpen_ = true;
  ExpireQueue();
  Flush();
}

void Session::AttemptFailed(Connection& c) {
  if (&c != current_.get() || c.errorJson.empty()) return;
  Emit(EventType::kError, c.generation, c.errorJson);
  c.errorJson.clear();
}

bool Session::HoldsCloseEcho(Connection& c) {
  if (&c != current_.get() || draining_ || state_ == SessionState::kClosed) return false;
  Emit(EventType::kCloseReceived, c.generation, "");
  return true;
}

void Session::CloseEchoReady(uint32_t generation) {
  if (current_ && current_->generation == generation) ConnectionEchoReady(*current_);
  for (auto& r : retiring_)
    if (r->generation == generation) ConnectionEchoReady(*r);
}

std::string Session::AttemptJson(const AttemptEnd& end) const {
  std::string j = "{\"cause\":";
  AppendJsonString(j, CauseName(end.cause));
  j += ",\"code\":" + std::to_string(end.code) + ",\"reason\":";
  AppendJsonString(j, end.reason);
  if (end.status) j += ",\"status\":" + std::to_string(end.status);
  return j;
}

void Session::AttemptEnded(Connection& c, AttemptEnd&& end) {
  bool wasCurrent = &c == current_.get();
  bool wasReplacement = &c == replacement_.get();
  uint32_t gen = c.generation;
  std::unique_ptr<Connection> ended = Take(c);
  if (!end.location.empty() && (wasCurrent || wasReplacement) && !userClosing_ &&
      state_ != SessionState::kClosed) {
    FollowRedirect(c, end, wasReplacement);
    Bury(std::move(ended));
    return;
  }
  Bury(std::move(ended));
  if (state_ == SessionState::kClosed) return;
  double now = WallMs();
  double mono = MonoMs();
  if (wasReplacement) {
    held_.clear();
    if (!userClosing_) {
      // Keep the old connection; try the rotation again after a pause.
      Emit(EventType::kRotate, gen, "{\"phase\":\"failed\",\"at\":" + JsonMs(now) + "}");
      if (policy().maxConnectionAgeMs) ArmTimer(service, ageTimer_, this, policy().backoffMs.empty() ? 0 : policy().backoffMs[0], OnAgeTimer);
    }
    return;
  }
  if (!wasCurrent) {
    // A rotated-out connection finished closing: inbound moves to the new one.
    if (&c == draining_) FinishDrain();
    return;
  }

  Cancel(stallTimer_);
  Cancel(ageTimer_);
  Cancel(resetTimer_);
  // A message cut off mid-fragments is sent again whole.
  outbox_.RestartPartial();
  if (!end.errorJson.empty()) Emit(EventType::kError, gen, end.errorJson);
  if (openGeneration_ == gen && !userClosing_ && end.cause != Cause::kUser) {
    double uptime = mono - openedAtMs_;
    Emit(EventType::kDisconnect, end.code,
         AttemptJson(end) + ",\"uptimeMs\":" + JsonMs(uptime) + ",\"at\":" + JsonMs(now) + ",\"mono\":" + JsonMs(mono) + "}");
    downSinceMs_ = mono;
    openGeneration_ = 0;
    openedAtMs_ = 0;
  } else if (downSinceMs_ == 0) {
    downSinceMs_ = mono;
  }
  if (replacement_) Abandon(std::move(replacement_));
  if (draining_) {
    draining_ = nullptr;
    Cancel(drainTimer_);
    for (auto& r : retiring_) Abandon(std::move(r));
    retiring_.clear();
  }
  held_.clear();

  if (userClosing_ || end.cause == Cause::kUser) {
    Finish(end.code, end.reason);  // our code, the server's if it closed first, or 1006
    return;
  }
  if (!policy().reconnect) {
    Finish(end.code, end.reason);
    return;
  }
  Reconnect(end, static_cast<int64_t>(now));
}

void Session::Finish(int code, const std::string& reason) {
  if (state_ == SessionState::kClosed) return;
  Cancel(retryTimer_);
  Cancel(stallTimer_);
  Cancel(ageTimer_);
  Cancel(resetTimer_);
  if (replacement_) Abandon(std::move(replacement_));
  if (current_) Abandon(std::move(current_));
  for (auto& r : retiring_) Abandon(std::move(r));
  retiring_.clear();
  draining_ = nullptr;
  Cancel(drainTimer_);
  held_.clear();
  // Nothing queued is lost silently: each unsent message comes back as 'drop'.
  outbox_.DropAll(dropFn_);
  SetRxPaused(false);
  SetState(SessionState::kClosed);
  std::string j = "{\"code\":" + std::to_string(code) + ",\"reason\":";
  AppendJsonString(j, reason);
  j += ",\"at\":" + JsonMs(WallMs()) + ",\"mono\":" + JsonMs(MonoMs()) + "}";
  Emit(EventType::kClose, code, j);
  service.ForgetSession(id);
}

void Session::Close(int code, const std::string& reason) {
  if (state_ == SessionState::kClosed || userClosing_) return;
  userClosing_ = true;
  awaitingDecision_ = false;
  Cancel(retryTimer_);
  Cancel(ageTimer_);
  Cancel(stallTimer_);
  if (replacement_) Abandon(std::move(replacement_));
  if (draining_) {
    Connection* old = draining_;
    FinishDrain();
    ConnectionClose(*old, 1000, "closing");
  }
  if (current_) {
    SetState(SessionState::kClosing);
    // An open connection writes what is queued, then closes; one still
    // connecting is dropped (close code 1006).
    ConnectionClose(*current_, code, reason);
    return;
  }
  Finish(1006, "");
}

void Session::Terminate() {
  if (state_ == SessionState::kClosed) return;
  userClosing_ = true;
  Cancel(retryTimer_);
  if (replacement_) Abandon(std::move(replacement_));
  if (current_) {
    SetState(SessionState::kClosing);
    ConnectionKill(*current_, Cause::kUser, true);
    return;
  }
  Finish(1006, "");
}

void Session::Detach() {
  Cancel(drainTimer_);
  Cancel(retryTimer_);
  Cancel(stallTimer_);
  Cancel(ageTimer_);
  Cancel(resetTimer_);
  if (current_) ConnectionDetach(*current_);
  if (replacement_) ConnectionDetach(*replacement_);
  for (auto& r : retiring_) ConnectionDetach(*r);
}

}  // namespace nlws
