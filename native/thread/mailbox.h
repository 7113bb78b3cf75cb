// Commands from the JS thread to the service thread. The JS side pushes and
// wakes the service thread with lws_cancel_service(); the service thread takes
// the whole queue at once in LWS_CALLBACK_EVENT_WAIT_CANCELLED.
#pragma once
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
  kAck,        // JS consumed `bytes` of received data on `id`
  kResolved,      // resolver thread finished for attempt `generation`
  kSendPriority,  // onOpen's sends: to attempt `generation`, before the backlog
  kConfig,        // fresh url/headers (options) for `generation`, or an error (text)
  kDecision,      // shouldReconnect's answer: code 1 retry; bytes = delay ms + 1 (0: backoff)
  kOnOpenDone,    // onOpen finished for `generation`; text = error, if it failed
  kShutdown,
};

struct Command {
  CommandType type;
  uint32_t id = 0;
  int code = 0;
  uint64_t bytes = 0;
  uint32_t generation = 0;  // the attempt a command is about
  std::string text;  // close reason, ping payload, resolved address or error
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

}  // namespace nlws
