// Per-environment addon state (main thread and each worker thread): the
// event batch, the service thread and the thread-safe function.
//
// Teardown order (environment cleanup hook, never a GC finalizer):
//   1. stop the service thread (it destroys the lws context, then exits);
//   2. stop the event batch (no more JS calls);
//   3. release the thread-safe function.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>

#include "event_batch.h"
#include "service_thread.h"

namespace nlws {

class Environment : public Napi::Addon<Environment> {
 public:
  Environment(Napi::Env env, Napi::Object exports);
  ~Environment();

  static void CallJs(Napi::Env env, Napi::Function fn, Environment* self, void* data);

 private:
  using Tsfn = Napi::TypedThreadSafeFunction<Environment, void, CallJs>;

  Napi::Value InitEvents(const Napi::CallbackInfo& info);
  Napi::Value Connect(const Napi::CallbackInfo& info);
  Napi::Value SendBatch(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Terminate(const Napi::CallbackInfo& info);
  Napi::Value Ping(const Napi::CallbackInfo& info);
  Napi::Value SetRef(const Napi::CallbackInfo& info);
  Napi::Value SetLogLevel(const Napi::CallbackInfo& info);
  Napi::Value Constants(const Napi::CallbackInfo& info);

  void Deliver(Napi::Env env, Napi::Function fn);
  void Teardown();

  napi_env env_;
  Napi::Env::CleanupHook<std::function<void()>> cleanup_;
  bool cleanup_ran_ = false;
  EventBatch events_;
  ServiceThread service_{events_};
  Tsfn tsfn_;
  bool initialized_ = false;
  bool torn_down_ = false;
  bool referenced_ = false;
  uint32_t next_id_ = 1;
  Batch taken_;
};

}  // namespace nlws
