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

#include "wire.h"

namespace nlws {

// What a received message costs beyond its payload until JS has taken it
// (index row, bookkeeping): counted against receiveHighWaterMark.
constexpr uint64_t kMessageOverhead = 64;

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
  // Bytes of payload in the batch not yet published; bytes ever added to
  // shared chunks, i.e. as messages below kOwnChunkThreshold that came
  // whole (service thread only).
  uint64_t pendingBytes() const { return building_bytes_; }
  uint64_t sharedBytesAdded() const { return shared_bytes_added_; }

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
  uint64_t building_bytes_ = 0;  // payload in building_ (service thread only)
  uint64_t shared_bytes_added_ = 0;  // see sharedBytesAdded()

  std::mutex mutex_;
  Batch ready_;
  bool call_pending_ = false;
  bool stopped_ = false;
  std::function<void()> schedule_;
};

// Shared chunks: an empty vector with `bytes` reserved, reused when JS has
// freed one of that size (kChunkBytes) lately; and the way back from JS's
// finalizer (any thread; other sizes are just freed).
std::vector<uint8_t> TakeChunk(size_t bytes);
void ReturnChunk(std::vector<uint8_t>&& v);

// Service threads log through this (lws's emit callback is process-global).
void SetThreadEventBatch(EventBatch* batch);
EventBatch* ThreadEventBatch();

}  // namespace nlws
