// A session: what connect() returns to JS, kept up across connections.
// It owns the attempts (Connection), the outgoing queue that survives them
// (outbox.h), and the timers of the persistence engine. Its members are
// spread by job: session.cc is the state machine (attempts, open, end,
// close), inbound.cc what attempts receive (delivery, flow control, the
// stall watchdog), outbound.cc what JS sends (the queue to the active
// connection, onOpen's priority sends, drops), rotation.cc make-before-break
// rotation (maximum connection age), reconnect.cc what follows a failure
// (classifier, shouldReconnect, backoff, try counter and its reset).
// Durations on the monotonic clock, timestamps on the wall clock (clock.h).
// Service thread only.
#pragma once
#include <libwebsockets.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "../clock.h"
#include "../connect_options.h"
#include "../event_batch.h"
#include "../log_sink.h"
#include "../thread/mailbox.h"
#include "../thread/timer.h"
#include "../wire.h"
#include "classify.h"
#include "outbox.h"

namespace nlws {

class ServiceThread;
struct Connection;

// How an attempt ended, as the attempt saw it.
struct AttemptEnd {
  Cause cause = Cause::kNetwork;
  int code = 1006;          // close code (1006: no close frame)
  std::string reason;
  std::string errorJson;    // error event payload, or empty
  int status = 0;           // HTTP status of a refused upgrade
  std::string retryAfter;   // its Retry-After header
  std::string location;     // a redirect to follow: its Location header
};

class Session;

using SessionTimer = OwnedTimer<Session>;

class Session {
 public:
  Session(ServiceThread& s, uint32_t id, std::shared_ptr<ConnectOptions> o);
  ~Session();

  // Commands from JS.
  void Start();
  void Send(std::unique_ptr<OutMessage> m);
  void SendPriority(uint32_t generation, std::unique_ptr<OutMessage> m);
  void Close(int code, const std::string& reason);
  void Terminate();
  void Ping(const std::string& payload);
  void Pong(const std::string& payload);
  // JS has handled the events before attempt `generation`'s kCloseReceived.
  void CloseEchoReady(uint32_t generation);
  void Ack(uint64_t bytes);
  void Resolved(uint32_t generation, const std::string& address, const std::string& error);
  // `errorCode`: the error's code when JS refused the attempt (a redirect
  // it would not follow); empty means ERR_CONFIG.
  void Config(uint32_t generation, std::shared_ptr<ConnectOptions> fresh, const std::string& error,
              const std::string& errorCode);
  void Decide(bool retry, int64_t delayMs);  // shouldReconnect's answer
  void OnOpenDone(uint32_t generation, const std::string& error);
  // The context is about to be destroyed: detach without callbacks.
  void Detach();

  // From attempts.
  void AttemptOpened(Connection& c);
  void AttemptMessage(Connection& c, EventType type, const uint8_t* data, size_t len);
  void AttemptMessageOwned(Connection& c, EventType type, std::vector<uint8_t>&& data);
  void AttemptPong(Connection& c, const uint8_t* data, size_t len);
  void AttemptPing(Connection& c, const uint8_t* data, size_t len);
  // The attempt failed the connection (its Close is set): its error goes to
  // JS now rather than when the close handshake ends.
  void AttemptFailed(Connection& c);
  // Whether the server's Close on `c` waits for JS (see Connection::echoHeld);
  // if so, tells JS.
  bool HoldsCloseEcho(Connection& c);
  void AttemptEnded(Connection& c, AttemptEnd&& end);
  // The message `c` should write next (priority sends, then the queue once
  // the backlog may flush), or nullptr.
  OutMessage* NextToWrite(Connection& c);
  // The k-th message NextToWrite would give (k = 0 is that one), or null.
  OutMessage* PeekToWrite(Connection& c, size_t k);
  void Written(Connection& c, OutMessage* m, size_t bytes, bool complete);
  void RxAdded(Connection& c, uint64_t bytes);

  ServiceThread& service;
  const uint32_t id;
  std::shared_ptr<ConnectOptions> opts;  // newest (url/headers may change per attempt)
  const SessionPolicy& policy() const { return opts->policy; }
  // lws's log lines about this session's connections (log_sink.h).
  SessionLog* const log;
  bool closed() const { return state_ == SessionState::kClosed; }

 private:
  struct Held {  // a replacement's message, held until the switch
    EventType type;
    std::vector<uint8_t> data;
  };

  // session.cc: the state machine.
  void SetState(SessionState s);
  void StartAttempt(bool rotation);
  void FollowRedirect(const Connection& from, const AttemptEnd& end, bool rotation);
  void Emit(EventType type, double value, const std::string& json);
  void Finish(int code, const std::string& reason);
  void Bury(std::unique_ptr<Connection> c);
  void Abandon(std::unique_ptr<Connection> c);  // drop without callbacks
  Connection* Attempt(uint32_t generation);
  std::unique_ptr<Connection> Take(Connection& c);
  std::string AttemptJson(const AttemptEnd& end) const;
  void Cancel(SessionTimer& t);
  // inbound.cc
  void SetRxPaused(bool paused);
  void ArmStall();
  // outbound.cc
  void EmitDrop(std::unique_ptr<OutMessage> m, DropReason why, bool priority = false);
  void ExpireQueue();
  void Flush();  // ask the active connection to write
  // reconnect.cc: after a failure, until the next attempt or giving up.
  void Reconnect(const AttemptEnd& end, int64_t nowMs);
  void AfterFailure(const AttemptEnd& end, const nlws::Decision& d);
  // overrideMs >= 0: wait exactly that (shouldReconnect's delay, or 0 for
  // a credentials refresh); else the backoff's delay (backoff.h).
  void ScheduleRetry(const AttemptEnd& end, const nlws::Decision& d, int64_t overrideMs);
  void GiveUp(const AttemptEnd& end, const std::string& why);
  // rotation.cc
  void SwitchToReplacement();
  void FinishDrain();  // the old connection closed: inbound from the new one
  bool Delivers(const Connection& c) const;
  void StampMessage();  // lastMessageMs_, once per published batch
  bool Holds(const Connection& c) const;
  void ArmAge();

  static void OnRetryTimer(Timer* t);
  static void OnStallTimer(Timer* t);
  static void OnAgeTimer(Timer* t);
  static void OnResetTimer(Timer* t);
  static void OnDrainTimer(Timer* t);

  SessionState state_ = SessionState::kConnecting;
  std::unique_ptr<Connection> current_;      // the active attempt
  std::unique_ptr<Connection> replacement_;  // make-before-break rotation
  std::vector<std::unique_ptr<Connection>> retiring_;  // rotated out, closing
  // After a switch, inbound still comes from the old connection for
  // rotationOverlapMs (it may hold messages the server sent it before the
  // replacement joined), or until it dies; the replacement's messages wait
  // in held_ until then. Only then is the old one sent its Close: lws drops
  // what arrives after that.
  Connection* draining_ = nullptr;
  SessionTimer drainTimer_{};
  std::vector<Held> held_;                   // replacement's messages before the switch
  uint32_t generation_ = 0;
  uint16_t tries_ = 0;                       // consecutive failed attempts
  uint16_t triesAtOpen_ = 0;                 // tries_ when the current connection opened
  bool everOpened_ = false;
  bool refreshedOnce_ = false;
  bool userClosing_ = false;
  bool awaitingDecision_ = false;
  AttemptEnd pendingEnd_;                    // while awaiting JS's decision
  nlws::Decision pendingDecision_;
  bool backlogOpen_ = false;                 // onOpen done: the queue may flush
  double openedAtMs_ = 0;                    // monotonic clock of the current open
  uint32_t openGeneration_ = 0;              // attempt that is open, 0 if none
  double lastMessageMs_ = 0;                 // last application message (monotonic clock)
  // The batch (EventBatch::published()) whose first message set
  // lastMessageMs_: later messages of the same batch do not read the clock.
  uint64_t stampedBatch_ = UINT64_MAX;
  double downSinceMs_ = 0;                   // monotonic clock of the last loss

  Outbox outbox_;
  const Outbox::DropFn dropFn_;  // EmitDrop, for the outbox
  uint64_t rxUnacked_ = 0;
  bool rxPaused_ = false;

  SessionTimer retryTimer_{};
  SessionTimer stallTimer_{};
  SessionTimer ageTimer_{};
  SessionTimer resetTimer_{};
};

// Arms one of a session's timers `ms` from now.
void ArmTimer(ServiceThread& svc, SessionTimer& t, Session* owner, double ms, TimerFn cb);

}  // namespace nlws
