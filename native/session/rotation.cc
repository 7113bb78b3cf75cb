// Rotation (maxConnectionAgeMs): make-before-break. A replacement connects
// while the current connection carries on; at the switch sends move to it,
// and inbound keeps coming from the old one for rotationOverlapMs (what it
// still holds is delivered first, the replacement's messages wait in held_),
// then the old one gets its Close. Session's members for it.
#include "../connection/connection.h"
#include "../thread/service_thread.h"
#include "session.h"

namespace nlws {

void Session::SwitchToReplacement() {
  double now = WallMs();
  double mono = MonoMs();
  std::unique_ptr<Connection> old = std::move(current_);
  current_ = std::move(replacement_);
  // A message the old connection was sending in fragments starts over on the
  // new one; the old one's partial message dies with it (Close may interleave).
  outbox_.RestartPartial();
  Emit(EventType::kRotate, current_->generation, "{\"phase\":\"switch\",\"at\":" + JsonMs(now) + "}");
  openGeneration_ = current_->generation;
  lastMessageMs_ = mono;
  backlogOpen_ = true;
  if (old) {
    // Outbound moves now; inbound after the overlap, so what the old one
    // still holds is delivered, in order, before the replacement's messages.
    draining_ = old.get();
    retiring_.push_back(std::move(old));
    ArmTimer(service, drainTimer_, this, policy().rotationOverlapMs, OnDrainTimer);
  } else {
    FinishDrain();
  }
  ArmAge();
  Flush();
}

void Session::OnDrainTimer(Timer* t) {
  Session* s = SessionTimer::Of(t);
  if (!s->draining_) return;
  Connection* old = s->draining_;
  s->FinishDrain();
  ConnectionClose(*old, 1000, "rotating");
  s->service.events().Flush();
}

void Session::FinishDrain() {
  Cancel(drainTimer_);
  draining_ = nullptr;
  for (auto& h : held_) service.events().AddOwned(h.type, id, 0, std::move(h.data));
  held_.clear();
  Emit(EventType::kRotate, current_ ? current_->generation : 0,
       "{\"phase\":\"done\",\"at\":" + JsonMs(WallMs()) + "}");
}

// Inbound comes from the current connection, or during a rotation from the
// old one until it has closed; the replacement's messages wait meanwhile.
bool Session::Delivers(const Connection& c) const {
  return draining_ ? &c == draining_ : &c == current_.get();
}

bool Session::Holds(const Connection& c) const {
  return &c == replacement_.get() || (draining_ && &c == current_.get());
}

void Session::ArmAge() {
  const SessionPolicy& p = policy();
  if (!p.maxConnectionAgeMs) return;
  // Rotate up to jitter% early, so many clients do not rotate in step.
  uint16_t r = 0;
  lws_get_random(service.context(), &r, sizeof r);
  double early = p.maxConnectionAgeMs * (p.maxConnectionAgeJitterPercent / 100.0) * (r / 65535.0);
  ArmTimer(service, ageTimer_, this, p.maxConnectionAgeMs - early, OnAgeTimer);
}

void Session::OnAgeTimer(Timer* t) {
  Session* s = SessionTimer::Of(t);
  if (s->state_ != SessionState::kOpen || !s->current_ || s->replacement_ || s->userClosing_) return;
  if (s->draining_) {
    // The previous rotation is still in its overlap: rotate after it.
    ArmTimer(s->service, s->ageTimer_, s, s->policy().rotationOverlapMs, OnAgeTimer);
    return;
  }
  s->Emit(EventType::kRotate, s->current_->generation, "{\"phase\":\"start\",\"at\":" + JsonMs(WallMs()) + "}");
  s->StartAttempt(true);
  s->service.events().Flush();
}

}  // namespace nlws
