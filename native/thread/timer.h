// The service thread's own timers: a binary min-heap driven by one lws timer.
//
// lws keeps its timers (lws_sorted_usec_list_t) in one sorted linked list
// per thread, so each insertion walks it: with a handful of timers per
// connection, opening N connections cost O(N^2) (bench/NOTES.md). Ours are
// kept here instead, O(log n) to schedule or cancel, and lws's list holds a
// single entry for all of them, set for the earliest. Service thread only.
#pragma once
#include <libwebsockets.h>

#include <cstdint>
#include <vector>

namespace nlws {

struct Timer;
using TimerFn = void (*)(Timer* t);

// Embed as the first member of a struct that knows its owner; the callback
// casts back (as lws's sul callbacks do).
struct Timer {
  int64_t due = 0;            // lws_now_usecs() time it fires at
  uint64_t seq = 0;           // equal times fire in the order scheduled
  TimerFn fn = nullptr;
  uint32_t slot = kIdle;      // index in the heap, kIdle when not scheduled
  static constexpr uint32_t kIdle = UINT32_MAX;
  bool scheduled() const { return slot != kIdle; }
};

// A timer that knows its owner (a session, a connection): the callback gets
// only the Timer, and Of() gives the owner back.
template <typename Owner>
struct OwnedTimer {
  Timer timer;  // first member: Of() casts back
  Owner* owner = nullptr;
  static Owner* Of(Timer* t) { return reinterpret_cast<OwnedTimer*>(t)->owner; }
};

class TimerQueue {
 public:
  // The lws context that drives the queue; until then, and after Detach(),
  // timers are kept but none fires.
  void Attach(struct lws_context* ctx);
  // The context is about to be destroyed: its lws timer is taken back.
  void Detach();
  // (Re)schedules `t` to call `fn` after `delayUs` (negative: 0).
  void Schedule(Timer& t, int64_t delayUs, TimerFn fn) {
    ScheduleAt(t, lws_now_usecs() + (delayUs > 0 ? delayUs : 0), fn);
  }
  // The same at an lws_now_usecs() time.
  void ScheduleAt(Timer& t, int64_t due, TimerFn fn);
  // Safe on a timer that is not scheduled, and at any time (no lws call).
  void Cancel(Timer& t);
  size_t size() const { return heap_.size(); }
  // Calls every timer due by now, earliest first (lws's timer does).
  void RunDue();

 private:
  static void OnLwsTimer(lws_sorted_usec_list_t* sul);
  void Arm();  // points lws's timer at the earliest due time
  bool Before(const Timer* a, const Timer* b) const {
    return a->due < b->due || (a->due == b->due && a->seq < b->seq);
  }
  void Place(Timer* t, size_t i) {
    heap_[i] = t;
    t->slot = static_cast<uint32_t>(i);
  }
  void Up(size_t i);
  void Down(size_t i);
  void RemoveAt(size_t i);

  lws_sorted_usec_list_t sul_{};  // first member: the lws callback casts back
  struct lws_context* ctx_ = nullptr;
  std::vector<Timer*> heap_;
  uint64_t nextSeq_ = 0;
  int64_t armedFor_ = INT64_MAX;  // due time lws's timer is set for, MAX if none
};

// For the queue's tests: replays operations on timers 0..n-1 and returns the
// order they fire in. Each op is {kind, timer, offset}: kind 0 schedules at
// a fixed past time + offset µs (all are due), 1 cancels; then RunDue().
struct TimerOp {
  int kind;
  int timer;
  int64_t offsetUs;
};
std::vector<int> ReplayTimerOps(int timers, const std::vector<TimerOp>& ops);

}  // namespace nlws
