#include "timer.h"

namespace nlws {

void TimerQueue::Attach(struct lws_context* ctx) {
  ctx_ = ctx;
  armedFor_ = INT64_MAX;
  Arm();
}

void TimerQueue::Detach() {
  if (ctx_) lws_sul_cancel(&sul_);
  ctx_ = nullptr;
  armedFor_ = INT64_MAX;
}

void TimerQueue::ScheduleAt(Timer& t, int64_t due, TimerFn fn) {
  t.due = due;
  t.seq = nextSeq_++;
  t.fn = fn;
  if (t.scheduled()) {
    // Moved: it may go either way.
    size_t i = t.slot;
    Up(i);
    Down(t.slot);
  } else {
    heap_.push_back(&t);
    Place(&t, heap_.size() - 1);
    Up(t.slot);
  }
  if (heap_.front() == &t && t.due < armedFor_) Arm();
}

void TimerQueue::Cancel(Timer& t) {
  if (!t.scheduled()) return;
  // lws's timer stays set: when it fires with nothing due it is set again.
  RemoveAt(t.slot);
}

void TimerQueue::RemoveAt(size_t i) {
  Timer* gone = heap_[i];
  gone->slot = Timer::kIdle;
  Timer* last = heap_.back();
  heap_.pop_back();
  if (last == gone) return;
  Place(last, i);
  Up(i);
  Down(last->slot);
}

void TimerQueue::Up(size_t i) {
  Timer* t = heap_[i];
  while (i > 0) {
    size_t parent = (i - 1) / 2;
    if (!Before(t, heap_[parent])) break;
    Place(heap_[parent], i);
    i = parent;
  }
  Place(t, i);
}

void TimerQueue::Down(size_t i) {
  Timer* t = heap_[i];
  size_t n = heap_.size();
  for (;;) {
    size_t child = 2 * i + 1;
    if (child >= n) break;
    if (child + 1 < n && Before(heap_[child + 1], heap_[child])) child++;
    if (!Before(heap_[child], t)) break;
    Place(heap_[child], i);
    i = child;
  }
  Place(t, i);
}

void TimerQueue::Arm() {
  if (!ctx_) return;
  if (heap_.empty()) {
    if (armedFor_ != INT64_MAX) lws_sul_cancel(&sul_);
    armedFor_ = INT64_MAX;
    return;
  }
  int64_t due = heap_.front()->due;
  armedFor_ = due;
  int64_t delay = due - lws_now_usecs();
  lws_sul_schedule(ctx_, 0, &sul_, OnLwsTimer, delay > 0 ? delay : 0);
}

void TimerQueue::OnLwsTimer(lws_sorted_usec_list_t* sul) {
  auto* self = reinterpret_cast<TimerQueue*>(sul);
  self->armedFor_ = INT64_MAX;  // lws took it off its list to call us
  self->RunDue();
}

void TimerQueue::RunDue() {
  // Timers scheduled by a callback for later than this pass wait for the
  // next one; each pass ends.
  int64_t now = lws_now_usecs();
  while (!heap_.empty() && heap_.front()->due <= now) {
    Timer* t = heap_.front();
    RemoveAt(0);
    t->fn(t);  // may schedule or cancel timers, this one included
  }
  Arm();
}

namespace {

struct ReplayTimer {
  Timer timer;  // first member
  int id;
  std::vector<int>* fired;
};

}  // namespace

std::vector<int> ReplayTimerOps(int timers, const std::vector<TimerOp>& ops) {
  std::vector<int> fired;
  std::vector<ReplayTimer> ts(static_cast<size_t>(timers > 0 ? timers : 0));
  for (size_t i = 0; i < ts.size(); i++) ts[i] = ReplayTimer{Timer{}, static_cast<int>(i), &fired};
  TimerQueue q;  // no context: nothing fires until RunDue()
  int64_t base = lws_now_usecs() - 3600LL * 1000 * 1000;
  for (const TimerOp& op : ops) {
    if (op.timer < 0 || op.timer >= timers) continue;
    ReplayTimer& r = ts[static_cast<size_t>(op.timer)];
    if (op.kind == 0) {
      q.ScheduleAt(r.timer, base + op.offsetUs, [](Timer* t) {
        auto* rt = reinterpret_cast<ReplayTimer*>(t);
        rt->fired->push_back(rt->id);
      });
    } else {
      q.Cancel(r.timer);
    }
  }
  q.RunDue();
  return fired;
}

}  // namespace nlws
