// Events from the service thread to JS, delivered in batches through one
// thread-safe function per environment.
//
// The service thread appends to a private batch without any lock (payload
// copies happen there). Flush() moves that batch into the shared "ready" slot
// under a lock (vector moves only) and schedules one JS call if none is
// pending. While JS is busy, batches merge in the ready slot, so a slow JS
// thread receives fewer, larger batches, never one call per message.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace nlws {

enum class EventType : uint8_t {
  kOpen = 1,    // payload: JSON {protocol, extensions, headers}
  kText = 2,    // payload: message bytes
  kBinary = 3,  // payload: message bytes
  kClose = 4,   // value: close code; payload: JSON {code, reason, error?}
  kError = 5,   // payload: JSON {code, message, status?, headers?}
  kPong = 6,    // payload: pong bytes
  kSent = 7,    // value: payload bytes written to the socket
  kLog = 8,     // value: lws log level; payload: the line
  // The persistence engine (session events). JSON payloads carry `at`, the
  // service thread's wall clock in ms, so timings hold while JS is blocked;
  // open, disconnect and close also carry `mono`, its monotonic clock, for
  // durations.
  kState = 9,         // value: SessionState
  kDisconnect = 10,   // payload: JSON {cause, code, reason, uptimeMs, at}
  kReconnecting = 11, // payload: JSON {attempt, delayMs, cause, retryAfter?, retryAfterMs?, at}
  kGiveUp = 12,       // payload: JSON {cause, reason, code, at}
  kStall = 13,        // payload: JSON {idleMs, at}
  kRotate = 14,       // payload: JSON {phase: start|switch|failed, at}
  kDrop = 15,         // value: reason*2 + binary (0 overflow, 1 expired, 2 closed); payload: message
  kNeedConfig = 16,   // value: attempt; JS answers with config()
  kDecide = 17,       // payload: JSON failure and proposed decision; JS answers decision()
  kOnOpen = 18,       // value: attempt; JS runs onOpen, answers onOpenDone()
  kGap = 19,          // payload: JSON {from, to}
  kCloseReceived = 20,  // value: attempt; the server's Close waits for JS: answer closeEcho()
  kPing = 21,           // payload: the PING's payload
  kNeedLookup = 22,    // value: attempt; payload: JSON {host, family, all}; JS answers resolved()
};

// What a received message costs beyond its payload until JS has taken it
// (index row, bookkeeping): counted against receiveHighWaterMark.
constexpr uint64_t kMessageOverhead = 64;

// Index layout, one row of doubles per event.
constexpr int kIndexStride = 6;  // type, id, value, chunk, offset, length

struct Batch {
  std::vector<std::vector<uint8_t>> chunks;
  std::vector<double> index;
  bool empty() const { return index.empty(); }
  void clear() {
    chunks.clear();
    index.clear();
  }
};

class EventBatch {
 public:
  // Messages at least this large get a chunk of their own.
  static constexpr size_t kOwnChunkThreshold = 64 * 1024;
  // A message reassembled in a vector of its own (it came in pieces) is
  // handed over as its chunk from this size on, instead of being copied.
  static constexpr size_t kMoveThreshold = 8 * 1024;
  // Shared chunks reserve this much (the first of a batch less) and never
  // grow: a message that does not fit starts a new one.
  static constexpr size_t kFirstChunkBytes = 16 * 1024;
  static constexpr size_t kChunkBytes = kOwnChunkThreshold;

  // --- service thread ---
  void Add(EventType type, uint32_t id, double value, const void* data, size_t len);
  void Add(EventType type, uint32_t id, double value, const std::string& s) {
    Add(type, id, value, s.data(), s.size());
  }
  void AddOwned(EventType type, uint32_t id, double value, std::vector<uint8_t>&& bytes);
  // A whole message in a vector: moved in as its own chunk when large, else copied.
  void AddMessage(EventType type, uint32_t id, double value, std::vector<uint8_t>&& bytes);
  // Adds to the last event when it is a kSent of the same connection. The
  // row's offset field counts messages completed.
  // `priority`: how many of `messages` were onOpen's sends (not the queue's),
  // so JS can match completions to send() callbacks.
  void AddSent(uint32_t id, double bytes, double messages, double priority = 0);
  // Publishes the private batch; schedules a JS call when none is pending.
  void Flush();
  // How many batches Flush() has published (service thread only).
  uint64_t published() const { return published_; }

  // --- JS thread ---
  // `schedule` asks for one JS call (a thread-safe-function call).
  void Start(std::function<void()> schedule);
  // Takes everything published so far. The JS call stays marked pending.
  void TakeReady(Batch& out);
  // After JS handled a batch: re-schedules if more arrived, else marks idle.
  void FinishDelivery();
  // Teardown: no more calls after this.
  void Stop();

 private:
  void AppendRow(EventType type, uint32_t id, double value, double chunk, double offset, double len);

  Batch building_;               // service thread only
  std::vector<uint8_t>* shared_chunk_ = nullptr;  // current small-message chunk in building_
  uint64_t published_ = 0;       // service thread only

  std::mutex mutex_;
  Batch ready_;
  bool call_pending_ = false;
  bool stopped_ = false;
  std::function<void()> schedule_;
};

// Service threads log through this (lws's emit callback is process-global).
void SetThreadEventBatch(EventBatch* batch);
EventBatch* ThreadEventBatch();

}  // namespace nlws
