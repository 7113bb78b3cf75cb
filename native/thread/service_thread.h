// The service thread: the only thread that calls lws (but for
// lws_cancel_service). Its loop owns the lws context of one Node
// environment and the sessions (which own their connections); commands
// reach it through the mailbox (mailbox.h), lws's vhosts are cached in
// vhosts.h, its timers are timer.h's, and after a hand-off to JS it may
// busy-poll (spin.h).
#pragma once
#include <libwebsockets.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>
#include <vector>

#include "../event_batch.h"
#include "cpu_budget.h"
#include "mailbox.h"
#include "spin.h"
#include "timer.h"
#include "vhosts.h"

namespace nlws {

struct Connection;
class Session;

class ServiceThread {
 public:
  explicit ServiceThread(EventBatch& events);
  ~ServiceThread();

  // JS thread.
  void Post(Command&& c);
  void PostMany(std::vector<Command>&& cs);
  // Receive acknowledgements: they wake the service thread only while some
  // session has paused reading for want of them.
  void PostAcks(std::vector<Command>&& cs);
  void Stop();  // graceful: joins the thread

  // Service thread (called from the lws callback).
  void DrainCommands();
  EventBatch& events() { return events_; }
  std::shared_ptr<Mailbox> mailbox() { return mailbox_; }
  struct lws_context* context() { return context_; }
  // Per-connection and per-session timers (timer.h).
  TimerQueue& timers() { return timers_; }
  struct lws_vhost* VhostFor(const Connection& c) { return vhosts_.For(context_, c); }
  // Finished attempts and sessions are freed after the current service
  // iteration, since callers up the stack may still hold them.
  void Bury(std::unique_ptr<Connection> c);
  void ForgetSession(uint32_t id);
  void CountPaused(int delta) { pausedSessions_ += delta; }
  // What the busy-poll decision was based on (JS thread, for serviceInfo()).
  const CpuBudget& cpuBudget() const { return budget_; }
  // The busy-poll window in use: 0 when spinning is off (NLWS_SPIN_US=0,
  // or fewer than two CPUs for this process).
  int64_t spinUs() const { return budget_.SpinAllowed() ? spin_.window() : 0; }
  Session* FindSession(uint32_t id);

 private:
  void EnsureStarted();
  void Run();
  void Handle(Command& c);

  EventBatch& events_;
  std::shared_ptr<Mailbox> mailbox_ = std::make_shared<Mailbox>();
  std::thread thread_;
  bool started_ = false;
  bool stopped_ = false;  // after Stop() nothing starts the thread again
  std::atomic<int> pausedSessions_{0};
  // Read when the thread starts (JS thread, before it exists).
  CpuBudget budget_;

  // Service thread only.
  struct lws_context* context_ = nullptr;
  TimerQueue timers_;
  bool stopping_ = false;
  std::map<uint32_t, std::unique_ptr<Session>> sessions_;
  std::vector<std::unique_ptr<Connection>> buried_;
  std::vector<std::unique_ptr<Session>> finishedSessions_;
  void FreeFinished();
  Vhosts vhosts_;
  std::vector<Command> drained_;
  Spin spin_;  // its window is read by spinUs() on the JS thread: constant
};

}  // namespace nlws
