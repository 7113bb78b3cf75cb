// Per-environment addon state (main thread and each worker thread): the
// event batch, the service thread and the thread-safe function that
// delivers batches to JS, and the table of methods JS calls.
//
// The boundary is node-addon-api built with C++ exceptions and
// NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS: while a worker is being
// terminated, calls into the engine fail, and a failure that would have
// become a JS exception is dropped instead of ending the process (a fatal
// error). A method then just ends quietly.
//
// Teardown order (environment cleanup hook, or process 'exit' through
// shutdown(); never a GC finalizer):
//   1. stop the service thread (it destroys the lws context, then exits);
//   2. stop the event batch (no more JS calls);
//   3. release the thread-safe function.
#pragma once
#include <napi.h>

#include <cstdint>

#include "../event_batch.h"
#include "../thread/service_thread.h"

namespace nlws::js {

class Environment;
// The thread-safe function's call on the JS thread: delivers what is ready.
void CallEventsJs(Napi::Env env, Napi::Function fn, Environment* self, void* data);
using EventsFunction = Napi::TypedThreadSafeFunction<Environment, void, CallEventsJs>;

class Environment {
 public:
  explicit Environment(Napi::Env env) : env_(env) {}
  ~Environment() { Teardown(); }

  static Napi::Object Init(Napi::Env env, Napi::Object exports);
  // The Environment a method was defined with.
  static Environment& Of(const Napi::CallbackInfo& info) { return *static_cast<Environment*>(info.Data()); }

  bool live() const { return !torn_down_; }
  bool eventsStarted() const { return static_cast<napi_threadsafe_function>(tsfn_) != nullptr; }
  ServiceThread& service() { return service_; }
  uint32_t NextId() { return next_id_++; }

  // init(handler): batches go to `handler` from now on.
  void StartEvents(Napi::Env env, Napi::Function handler);
  // Whether the thread-safe function keeps the event loop alive.
  void SetRef(Napi::Env env, bool ref);
  void Teardown();

 private:
  friend void CallEventsJs(Napi::Env env, Napi::Function fn, Environment* self, void* data);
  static void Cleanup(void* self);
  static void Finalize(Napi::Env env, Environment* self);
  // deliver.cc: one batch to JS, then the acknowledgements of what it took.
  void Deliver(Napi::Env env, Napi::Function fn);

  napi_env env_;
  bool cleanup_registered_ = false;
  EventBatch events_;
  ServiceThread service_{events_};
  EventsFunction tsfn_;  // empty until init()
  bool torn_down_ = false;
  bool referenced_ = false;
  uint32_t next_id_ = 1;
  Batch taken_;
};

}  // namespace nlws::js
