// Per-environment addon state (main thread and each worker thread): the
// event batch, the service thread and the thread-safe function.
//
// The JS boundary uses the Node-API C functions directly and checks every
// status: while a worker is being terminated, calls into the engine fail,
// and node-addon-api turns such failures into fatal errors (process abort).
// Here a failing call just ends the current operation quietly.
//
// Teardown order (environment cleanup hook, or process 'exit' through
// shutdown(); never a GC finalizer):
//   1. stop the service thread (it destroys the lws context, then exits);
//   2. stop the event batch (no more JS calls);
//   3. release the thread-safe function.
#pragma once
#include <node_api.h>

#include <cstdint>

#include "event_batch.h"
#include "service_thread.h"

namespace nlws {

class Environment {
 public:
  explicit Environment(napi_env env);
  ~Environment();

  static napi_value Init(napi_env env, napi_value exports);

 private:
  static void CallJs(napi_env env, napi_value fn, void* context, void* data);
  static void Cleanup(void* self);
  static void Finalize(napi_env env, void* data, void* hint);

  // JS methods: (env, info) -> value, `this` Environment from the data slot.
  static napi_value InitEvents(napi_env env, napi_callback_info info);
  static napi_value Connect(napi_env env, napi_callback_info info);
  static napi_value SendBatch(napi_env env, napi_callback_info info);
  static napi_value Close(napi_env env, napi_callback_info info);
  static napi_value Terminate(napi_env env, napi_callback_info info);
  static napi_value Ping(napi_env env, napi_callback_info info);
  static napi_value Pong(napi_env env, napi_callback_info info);
  static napi_value CloseEcho(napi_env env, napi_callback_info info);
  static napi_value SetRef(napi_env env, napi_callback_info info);
  static napi_value SetLogLevel(napi_env env, napi_callback_info info);
  static napi_value Shutdown(napi_env env, napi_callback_info info);
  static napi_value Constants(napi_env env, napi_callback_info info);
  static napi_value Config(napi_env env, napi_callback_info info);
  static napi_value Decision(napi_env env, napi_callback_info info);
  static napi_value OnOpenDone(napi_env env, napi_callback_info info);
  static napi_value SendPriority(napi_env env, napi_callback_info info);
  static napi_value ClassifyForTest(napi_env env, napi_callback_info info);
  static napi_value ServiceInfo(napi_env env, napi_callback_info info);
  static napi_value CpuBudgetForTest(napi_env env, napi_callback_info info);
  static napi_value TimerQueueForTest(napi_env env, napi_callback_info info);
  static napi_value ReconnectDelayForTest(napi_env env, napi_callback_info info);
  static napi_value Resolved(napi_env env, napi_callback_info info);
  static napi_value OrderAddressesForTest(napi_env env, napi_callback_info info);

  void Deliver(napi_env env, napi_value fn);
  void Teardown();

  napi_env env_;
  bool cleanup_registered_ = false;
  EventBatch events_;
  ServiceThread service_{events_};
  napi_threadsafe_function tsfn_ = nullptr;
  bool torn_down_ = false;
  bool referenced_ = false;
  uint32_t next_id_ = 1;
  Batch taken_;
};

}  // namespace nlws
