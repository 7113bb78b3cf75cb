// Event delivery: the batch the service thread published, handed to JS as
// chunks (Buffers over the native memory, no copy) and one Float64Array
// index (wire.h's columns), then the acknowledgements of the received bytes
// JS now holds.
#include <cstring>
#include <unordered_map>
#include <vector>

#include "../wire.h"
#include "environment.h"

namespace nlws::js {

namespace {

// Received bytes per connection, counted as the service thread counted them.
std::unordered_map<uint32_t, uint64_t> Received(const Batch& b) {
  std::unordered_map<uint32_t, uint64_t> acks;
  for (size_t i = 0; i < b.index.size(); i += kIndexStride) {
    auto type = static_cast<EventType>(static_cast<int>(b.index[i + kColType]));
    if (type == EventType::kText || type == EventType::kBinary || type == EventType::kPing)
      acks[static_cast<uint32_t>(b.index[i + kColId])] += static_cast<uint64_t>(b.index[i + kColLength]) + kMessageOverhead;
  }
  return acks;
}

Napi::Buffer<uint8_t> ChunkBuffer(Napi::Env env, std::vector<uint8_t>& chunk) {
  if (chunk.empty()) return Napi::Buffer<uint8_t>::New(env, 0);
  // V8 counts an external buffer by its size, not by the capacity behind
  // it: a mostly empty shared chunk goes over at its exact size.
  if (chunk.capacity() > 2 * chunk.size() + 4096) chunk.shrink_to_fit();
  auto* v = new std::vector<uint8_t>(std::move(chunk));
  try {
    return Napi::Buffer<uint8_t>::New(
        env, v->data(), v->size(), [](Napi::Env, uint8_t*, std::vector<uint8_t>* hint) { ReturnChunk(std::move(*hint)); delete hint; }, v);
  } catch (...) {
    delete v;
    throw;
  }
}

}  // namespace

void Environment::Deliver(Napi::Env env, Napi::Function fn) {
  events_.TakeReady(taken_);
  if (!taken_.empty()) {
    std::unordered_map<uint32_t, uint64_t> acks = Received(taken_);
    bool called = false;
    try {
      Napi::HandleScope scope(env);
      Napi::Array chunks = Napi::Array::New(env, taken_.chunks.size());
      for (size_t i = 0; i < taken_.chunks.size(); i++) chunks.Set(static_cast<uint32_t>(i), ChunkBuffer(env, taken_.chunks[i]));
      size_t n = taken_.index.size();
      Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * sizeof(double));
      if (n) memcpy(ab.Data(), taken_.index.data(), n * sizeof(double));
      Napi::Float64Array index = Napi::Float64Array::New(env, n, ab, 0);
      taken_.clear();
      napi_value argv[2] = {chunks, index};
      // Called through the C function: a listener's exception (a bug of the
      // façade, which reports listener errors itself) is handed to Node as
      // uncaught rather than stopping delivery.
      napi_status st = napi_call_function(env, env.Undefined(), fn, 2, argv, nullptr);
      if (st == napi_pending_exception) {
        napi_value e;
        if (napi_get_and_clear_last_exception(env, &e) == napi_ok) napi_fatal_exception(env, e);
      }
      called = true;
    } catch (const Napi::Error&) {
      // The environment is going away (a worker terminating).
    }
    taken_.clear();
    if (!called) return;
    if (!acks.empty()) {
      std::vector<Command> cmds;
      cmds.reserve(acks.size());
      for (auto& kv : acks) {
        Command c;
        c.type = CommandType::kAck;
        c.id = kv.first;
        c.ackBytes = kv.second;
        cmds.push_back(std::move(c));
      }
      service_.PostAcks(std::move(cmds));
    }
  }
  events_.FinishDelivery();
}

}  // namespace nlws::js
