// A session's outgoing queue: send()s waiting for an open connection (and
// for onOpen), in order, across connections. Bounded by message count and
// bytes (the overflow policy picks which message goes), messages older than
// the TTL expire; whatever leaves without being written goes to the `drop`
// callback, so nothing queued is lost silently. Service thread only.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>

#include "../thread/mailbox.h"
#include "../fifo.h"
#include "../wire.h"

namespace nlws {

struct SessionPolicy;

class Outbox {
 public:
  using DropFn = std::function<void(std::unique_ptr<OutMessage>, DropReason)>;

  bool empty() const { return queue_.empty(); }
  size_t size() const { return queue_.size(); }
  uint64_t bytes() const { return bytes_; }
  OutMessage* front() { return queue_.empty() ? nullptr : queue_.front().get(); }
  // The k-th message (k < size()).
  OutMessage* at(size_t k) { return queue_.at(k).get(); }

  // Stamps the message (for the TTL) and queues it.
  void Push(std::unique_ptr<OutMessage> m, double nowMs);
  // `m` was written whole: it leaves the queue if it is the front.
  void Written(OutMessage* m);
  // The front message was cut off mid-fragments (its connection ended or
  // was switched): it is sent again whole.
  void RestartPartial();
  // Drops messages until the bounds hold (overflow policy).
  void EnforceBounds(const SessionPolicy& p, const DropFn& drop);
  // Drops unstarted messages older than `ttlMs` (0: none).
  void Expire(uint32_t ttlMs, double nowMs, const DropFn& drop);
  // Drops everything (the session ended).
  void DropAll(const DropFn& drop);

 private:
  std::unique_ptr<OutMessage> TakeFront();
  std::unique_ptr<OutMessage> TakeBack();

  Fifo<std::unique_ptr<OutMessage>> queue_;
  uint64_t bytes_ = 0;
};

}  // namespace nlws
