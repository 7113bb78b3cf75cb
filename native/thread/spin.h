// Spinning after a hand-off. A request/response exchange crosses threads
// twice: the service thread hands a message to JS, and JS's answer comes
// back through the mailbox. Waking a thread asleep in poll() costs tens of
// microseconds across cores, so after publishing a batch the service thread
// busy-polls (lws_service without waiting, and the mailbox) for up to
// NLWS_SPIN_US microseconds (default in spin.cc), and only when the process
// has two CPUs at least (cpu_budget.h): on one, the spin would take the CPU
// from the very JS thread whose answer it waits for. It only does so while
// JS has recently answered within that window; rounds that JS leaves
// unanswered (receive-only feeds) switch it off after a few in a row.
// Service thread only, but for window(), read once at construction.
#pragma once
#include <cstddef>
#include <cstdint>

#include "mailbox.h"

namespace nlws {

class Spin {
 public:
  Spin();  // reads NLWS_SPIN_US

  // Each turn of the busy-poll is a poll() over every socket: with many
  // connections that costs more than the wake-up it saves (bench/NOTES.md),
  // so only few spin.
  static constexpr size_t kMaxSessions = 64;

  // The busy-poll window (µs) from NLWS_SPIN_US; 0: never spin.
  int64_t window() const { return windowUs_; }
  // A drain found a post that woke (or would have woken) the thread.
  void Answered(int64_t nowUs) { lastCommandUs_ = nowUs; }
  // Decides, after each service iteration, whether the next one busy-polls;
  // `published`: this iteration handed JS a batch.
  bool Next(bool published, int64_t nowUs);
  // Between looks at the sockets (a poll() each), watches the mailbox only:
  // JS's answer is seen within nanoseconds, with no system call.
  static void WatchMailbox(const Mailbox& m);

 private:
  const int64_t windowUs_;
  bool enabled_ = false;     // adaptive: see Next
  int misses_ = 0;           // spins in a row that no command ended
  bool roundOpen_ = false;   // a published batch JS may answer
  int64_t lastPublishUs_ = 0;
  int64_t lastCommandUs_ = 0;  // last drain that found a woken post
};

}  // namespace nlws
