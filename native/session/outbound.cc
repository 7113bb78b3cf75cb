// A session's outbound side: JS's sends wait in the outbox (bounds, TTL,
// drops: outbox.h) until the active connection writes them, after onOpen's
// priority sends; control frames go to the active connection.
#include "../connection/connection.h"
#include "../thread/service_thread.h"
#include "session.h"

namespace nlws {

void Session::Send(std::unique_ptr<OutMessage> m) {
  if (state_ == SessionState::kClosed) return;
  outbox_.Push(std::move(m), MonoMs());
  if (state_ != SessionState::kOpen) outbox_.EnforceBounds(policy(), dropFn_);
  Flush();
}

void Session::SendPriority(uint32_t generation, std::unique_ptr<OutMessage> m) {
  Connection* c = Attempt(generation);
  if (!c || c->phase != Connection::Phase::kOpen) {
    EmitDrop(std::move(m), DropReason::kClosed, true);
    return;
  }
  c->priority.push_back(std::move(m));
  ConnectionWantWrite(*c);
}

OutMessage* Session::NextToWrite(Connection& c) {
  if (!c.priority.empty()) return c.priority.front().get();
  if (&c != current_.get() || !backlogOpen_) return nullptr;
  return outbox_.front();
}

OutMessage* Session::PeekToWrite(Connection& c, size_t k) {
  if (k < c.priority.size()) return c.priority.at(k).get();
  // onOpen's sends come first: the backlog only after all of them.
  if (!c.priority.empty()) return nullptr;
  if (&c != current_.get() || !backlogOpen_ || k >= outbox_.size()) return nullptr;
  return outbox_.at(k);
}

void Session::Written(Connection& c, OutMessage* m, size_t bytes, bool complete) {
  bool priority = !c.priority.empty() && c.priority.front().get() == m;
  service.events().AddSent(id, static_cast<double>(bytes), complete ? 1 : 0, complete && priority ? 1 : 0);
  if (!complete) return;
  if (priority) {
    c.priority.pop_front();
  } else {
    outbox_.Written(m);
  }
}

void Session::EmitDrop(std::unique_ptr<OutMessage> m, DropReason why, bool priority) {
  service.events().Add(EventType::kDrop, id, DropValue(why, m->binary, priority), m->payload(), m->size());
  // The bytes leave bufferedAmount as if sent.
  service.events().AddSent(id, static_cast<double>(m->size()), 1, priority ? 1 : 0);
}

void Session::ExpireQueue() { outbox_.Expire(policy().queueTtlMs, MonoMs(), dropFn_); }

void Session::Flush() {
  // Also while closing: a held Close echo waits for what is queued.
  if (current_) ConnectionWantWrite(*current_);
}

void Session::Ping(const std::string& payload) {
  if (current_ && current_->phase == Connection::Phase::kOpen) ConnectionPing(*current_, payload);
}

void Session::Pong(const std::string& payload) {
  if (current_) ConnectionPong(*current_, payload);
}

}  // namespace nlws
