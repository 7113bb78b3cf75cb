// The service thread: the only thread that calls lws (but for
// lws_cancel_service). It owns the lws context of one Node environment, the
// connections and their vhosts.
#pragma once
#include <libwebsockets.h>

#include <atomic>
#include <map>
#include <string>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "mailbox.h"
#include "cpu_budget.h"
#include "../event_batch.h"
#include "timer.h"

namespace nlws {

struct Connection;
class Session;

// Where commands are posted, from the JS thread and from resolver threads.
// Shared, so a resolver thread finishing after the service is gone posts
// into a mailbox nobody reads instead of freed memory.
class Mailbox {
 public:
  void Post(Command&& c);
  void PostMany(std::vector<Command>&& cs, bool wake = true);
  // Clears `wanted` first: a post racing with the take either lands in this
  // take or leaves the flag set for the next one.
  void TakeAll(std::vector<Command>& out) {
    wanted_.store(false);
    queue_.TakeAll(out);
  }
  // Something was posted with a wake since the last TakeAll.
  bool Wanted() const { return wanted_.load(); }
  // While the service thread busy-polls it sees posts by itself, so posters
  // skip lws_cancel_service() (a pipe write and a cross-core wake-up).
  void SetSpinning(bool on) { spinning_.store(on); }
  // The service thread opens the mailbox once its context exists and closes
  // it before destroying the context: lws_cancel_service() is never called
  // on a context being destroyed.
  void Open(struct lws_context* ctx);
  void Close();

 private:
  void Wake();
  void Posted(bool wake);
  CommandQueue queue_;
  // Both sequentially consistent: a poster stores `wanted_` then loads
  // `spinning_`; the service thread stores `spinning_` false then loads
  // `wanted_`, so one of the two always sees the other (no lost wake-up).
  std::atomic<bool> wanted_{false};
  std::atomic<bool> spinning_{false};
  std::mutex mutex_;
  struct lws_context* context_ = nullptr;
};

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
  struct lws_vhost* VhostFor(const Connection& c);
  // Finished attempts and sessions are freed after the current service
  // iteration, since callers up the stack may still hold them.
  void Bury(std::unique_ptr<Connection> c);
  void ForgetSession(uint32_t id);
  void CountPaused(int delta) { pausedSessions_ += delta; }
  // What the busy-poll decision was based on (JS thread, for serviceInfo()).
  const CpuBudget& cpuBudget() const { return budget_; }
  // The busy-poll window in use: 0 when spinning is off (NLWS_SPIN_US=0,
  // or fewer than two CPUs for this process).
  int64_t spinUs() const { return budget_.SpinAllowed() ? spinUs_ : 0; }
  Session* FindSession(uint32_t id);

 private:
  void EnsureStarted();
  void Run();
  void Handle(Command& c);
  // Decides, after each service iteration, whether the next one busy-polls
  // (see service_thread.cc: "Spinning after a hand-off").
  bool SpinNext(bool published, int64_t nowUs);

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
  std::map<std::string, struct lws_vhost*> vhosts_;
  std::map<std::string, std::vector<std::string>> trustStores_;  // caKey -> DER certs
  std::vector<Command> drained_;
  int64_t spinUs_;                // 0: never spin
  bool spinEnabled_ = false;      // adaptive: see SpinNext
  int spinMisses_ = 0;            // spins in a row that no command ended
  bool roundOpen_ = false;         // a published batch JS may answer
  int64_t lastPublishUs_ = 0;
  int64_t lastCommandUs_ = 0;      // last drain that found a woken post
};

}  // namespace nlws
