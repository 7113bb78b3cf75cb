#include "event_batch.h"

#include <cstring>

namespace nlws {

static thread_local EventBatch* g_thread_batch = nullptr;

// Chunks JS is done with, kept for the next batches. A chunk handed to JS
// is freed by the GC's finalizer, in bursts, and glibc then gave much of
// that memory back to the kernel (the service thread's arena is trimmed by
// the freeing thread): the next chunks were fresh pages, a page fault and
// a zeroed page per 4 KiB written (50-90 per 1,000 messages of 1 KiB, ws
// 17). Up to kChunkPoolMax chunks (2 MiB) stay allocated instead; faults
// fell to ~10 per 1,000 (bench/NOTES.md, fifth round). The pool is shared
// by every environment of the process and never destroyed (finalizers may
// run late in teardown).
namespace {
constexpr size_t kChunkPoolMax = 32;
std::mutex& PoolMutex() {
  static auto* m = new std::mutex();
  return *m;
}
std::vector<std::vector<uint8_t>>& Pool() {
  static auto* p = new std::vector<std::vector<uint8_t>>();
  return *p;
}
}  // namespace

std::vector<uint8_t> TakeChunk(size_t bytes) {
  if (bytes == EventBatch::kChunkBytes) {
    std::lock_guard<std::mutex> lock(PoolMutex());
    if (!Pool().empty()) {
      std::vector<uint8_t> v = std::move(Pool().back());  // the most recently used: warmest
      Pool().pop_back();
      return v;
    }
  }
  std::vector<uint8_t> v;
  v.reserve(bytes);
  return v;
}

void ReturnChunk(std::vector<uint8_t>&& v) {
  if (v.capacity() != EventBatch::kChunkBytes) return;
  std::lock_guard<std::mutex> lock(PoolMutex());
  if (Pool().size() >= kChunkPoolMax) return;
  v.clear();
  Pool().push_back(std::move(v));
}

void SetThreadEventBatch(EventBatch* batch) { g_thread_batch = batch; }
EventBatch* ThreadEventBatch() { return g_thread_batch; }

void EventBatch::AppendRow(EventType type, uint32_t id, double value, double chunk,
                           double offset, double len) {
  auto& ix = building_.index;
  ix.push_back(static_cast<double>(type));
  ix.push_back(static_cast<double>(id));
  ix.push_back(value);
  ix.push_back(chunk);
  ix.push_back(offset);
  ix.push_back(len);
}

void EventBatch::Add(EventType type, uint32_t id, double value, const void* data, size_t len) {
  if (len >= kOwnChunkThreshold) {
    const uint8_t* p = static_cast<const uint8_t*>(data);
    AddOwned(type, id, value, std::vector<uint8_t>(p, p + len));
    return;
  }
  // A chunk never grows past what it reserved: growing would copy every
  // message already in it (a second copy per byte). A message that does
  // not fit starts the next chunk. The first chunk of a batch is small
  // (one echo needs little); the following ones are large (a stream).
  if (shared_chunk_ != nullptr && shared_chunk_->capacity() - shared_chunk_->size() < len)
    shared_chunk_ = nullptr;
  if (shared_chunk_ == nullptr) {
    bool first = building_.chunks.empty();
    building_.chunks.push_back(TakeChunk(first ? kFirstChunkBytes : kChunkBytes));
    shared_chunk_ = &building_.chunks.back();
  }
  size_t offset = shared_chunk_->size();
  building_bytes_ += len;
  shared_bytes_added_ += len;
  // insert() copies into the reserved space; resize() would zero it first.
  const uint8_t* p = static_cast<const uint8_t*>(data);
  shared_chunk_->insert(shared_chunk_->end(), p, p + len);
  double chunk = static_cast<double>(shared_chunk_ - building_.chunks.data());
  AppendRow(type, id, value, chunk, static_cast<double>(offset), static_cast<double>(len));
}

void EventBatch::AddMessage(EventType type, uint32_t id, double value, std::vector<uint8_t>&& bytes) {
  if (bytes.size() >= kMoveThreshold) {
    AddOwned(type, id, value, std::move(bytes));
  } else {
    Add(type, id, value, bytes.data(), bytes.size());
  }
}

void EventBatch::AddOwned(EventType type, uint32_t id, double value, std::vector<uint8_t>&& bytes) {
  // Growing `chunks` may move the shared chunk: remember it by index.
  long shared = shared_chunk_ ? static_cast<long>(shared_chunk_ - building_.chunks.data()) : -1;
  double len = static_cast<double>(bytes.size());
  building_bytes_ += bytes.size();
  building_.chunks.push_back(std::move(bytes));
  double chunk = static_cast<double>(building_.chunks.size() - 1);
  if (shared >= 0) shared_chunk_ = &building_.chunks[static_cast<size_t>(shared)];
  AppendRow(type, id, value, chunk, 0, len);
}

void EventBatch::AddSent(uint32_t id, double bytes, double messages, double priority) {
  auto& ix = building_.index;
  size_t n = ix.size();
  if (n >= kIndexStride && ix[n - kIndexStride] == static_cast<double>(EventType::kSent) &&
      ix[n - kIndexStride + 1] == static_cast<double>(id)) {
    ix[n - kIndexStride + 2] += bytes;
    ix[n - kIndexStride + 4] += messages;
    ix[n - kIndexStride + 5] += priority;
    return;
  }
  AppendRow(EventType::kSent, id, bytes, -1, messages, priority);
}

void EventBatch::Flush() {
  if (building_.empty()) return;
  bool schedule = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (stopped_) {
      building_.clear();
      building_bytes_ = 0;
      shared_chunk_ = nullptr;
      return;
    }
    if (ready_.empty()) {
      std::swap(ready_, building_);
    } else {
      // JS has not taken the previous batch yet: append, renumbering chunks.
      double base = static_cast<double>(ready_.chunks.size());
      for (auto& c : building_.chunks) ready_.chunks.push_back(std::move(c));
      for (size_t i = 0; i < building_.index.size(); i += kIndexStride) {
        double chunk = building_.index[i + 3];
        building_.index[i + 3] = chunk < 0 ? chunk : chunk + base;
      }
      ready_.index.insert(ready_.index.end(), building_.index.begin(), building_.index.end());
    }
    if (!call_pending_) {
      call_pending_ = true;
      schedule = true;
    }
  }
  building_.clear();
  building_bytes_ = 0;
  shared_chunk_ = nullptr;
  published_++;
  if (schedule) schedule_();
}

void EventBatch::Start(std::function<void()> schedule) { schedule_ = std::move(schedule); }

void EventBatch::TakeReady(Batch& out) {
  out.clear();
  std::lock_guard<std::mutex> lock(mutex_);
  std::swap(out, ready_);
}

void EventBatch::FinishDelivery() {
  bool schedule = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!ready_.empty() && !stopped_) {
      schedule = true;  // stays pending
    } else {
      call_pending_ = false;
    }
  }
  if (schedule) schedule_();
}

void EventBatch::Stop() {
  std::lock_guard<std::mutex> lock(mutex_);
  stopped_ = true;
  ready_.clear();
}

}  // namespace nlws
