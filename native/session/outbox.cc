#include "outbox.h"

#include "../connect_options.h"

namespace nlws {

void Outbox::Push(std::unique_ptr<OutMessage> m, double nowMs) {
  m->enqueuedAtMs = nowMs;
  bytes_ += m->size();
  queue_.push_back(std::move(m));
}

void Outbox::Written(OutMessage* m) {
  if (!queue_.empty() && queue_.front().get() == m) TakeFront();
}

void Outbox::RestartPartial() {
  if (!queue_.empty() && queue_.front()->sent > 0 && queue_.front()->sent < queue_.front()->size())
    queue_.front()->sent = 0;
}

std::unique_ptr<OutMessage> Outbox::TakeFront() {
  std::unique_ptr<OutMessage> m = std::move(queue_.front());
  queue_.pop_front();
  bytes_ -= m->size();
  return m;
}

std::unique_ptr<OutMessage> Outbox::TakeBack() {
  std::unique_ptr<OutMessage> m = std::move(queue_.back());
  queue_.pop_back();
  bytes_ -= m->size();
  return m;
}

void Outbox::EnforceBounds(const SessionPolicy& p, const DropFn& drop) {
  while (!queue_.empty() && (queue_.size() > p.queueMaxMessages || bytes_ > p.queueMaxBytes)) {
    // kReject: the façade refuses such sends, but it learns of a lost
    // connection a little late; what slips through is dropped (the newest),
    // not kept without bound.
    drop(p.overflow == Overflow::kDropOldest ? TakeFront() : TakeBack(), DropReason::kOverflow);
  }
}

void Outbox::Expire(uint32_t ttlMs, double nowMs, const DropFn& drop) {
  if (!ttlMs) return;
  while (!queue_.empty() && queue_.front()->sent == 0 && nowMs - queue_.front()->enqueuedAtMs > ttlMs)
    drop(TakeFront(), DropReason::kExpired);
}

void Outbox::DropAll(const DropFn& drop) {
  while (!queue_.empty()) drop(TakeFront(), DropReason::kClosed);
  bytes_ = 0;
}

}  // namespace nlws
