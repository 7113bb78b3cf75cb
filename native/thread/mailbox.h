// The service thread's mailbox: the commands JS (and resolver threads) send
// it, the queue they wait in, and the wake-up. Posters push and wake the
// thread with lws_cancel_service() (unless it is busy-polling); the thread
// takes the whole queue at once, after every service iteration and in
// LWS_CALLBACK_EVENT_WAIT_CANCELLED.
#pragma once
#include <libwebsockets.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../connect_options.h"

namespace nlws {

// An outgoing message, copied once from JS into a buffer with headroom for
// the websocket header lws writes in front of the payload (LWS_PRE).
struct OutMessage {
  std::vector<uint8_t> storage;  // headroom + payload
  size_t headroom = 0;
  size_t sent = 0;  // payload bytes already written
  bool binary = false;
  double enqueuedAtMs = 0;  // monotonic clock, for the queue's ttl
  size_t size() const { return storage.size() - headroom; }
  uint8_t* payload() { return storage.data() + headroom; }
};

enum class CommandType : uint8_t {
  kConnect,
  kSend,
  kClose,      // close handshake with code/reason
  kTerminate,  // drop without handshake
  kPing,
  kPong,       // text: payload
  kCloseEcho,  // JS handled the events before `generation`'s kCloseReceived
  kAck,        // JS consumed `ackBytes` of received data on `id`
  kResolved,      // resolver thread finished for attempt `generation`
  kSendPriority,  // onOpen's sends: to attempt `generation`, before the backlog
  kConfig,        // fresh url/headers (options) for `generation`, or an error (text)
  kDecision,      // shouldReconnect's answer: `retry`, after `delayMs` (< 0: the backoff's)
  kOnOpenDone,    // onOpen finished for `generation`; text = error, if it failed
  kShutdown,
};

struct Command {
  CommandType type;
  uint32_t id = 0;
  uint32_t generation = 0;  // the attempt a command is about
  int closeCode = 0;        // kClose
  uint64_t ackBytes = 0;    // kAck
  bool failed = false;      // kResolved: `text` is the error, not the addresses
  bool retry = false;       // kDecision
  int64_t delayMs = -1;     // kDecision; < 0: the backoff's delay
  // kClose: reason; kPing/kPong: payload; kResolved: addresses (comma-
  // separated) or the error; kConfig, kOnOpenDone: the error, if any.
  std::string text;
  std::string errorCode;  // kConfig: the code of `text`'s error (empty: ERR_CONFIG)
  std::unique_ptr<ConnectOptions> options;
  std::unique_ptr<OutMessage> message;
};

class CommandQueue {
 public:
  void Push(Command&& c);
  void PushMany(std::vector<Command>&& cs);
  // Swaps the queue out; the caller gets every command posted so far.
  void TakeAll(std::vector<Command>& out);

 private:
  std::mutex mutex_;
  std::vector<Command> items_;
};

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

}  // namespace nlws
