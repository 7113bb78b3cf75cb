#include "environment.h"

#include <openssl/crypto.h>

#include <mutex>

#include "../log_sink.h"
#include "methods.h"

namespace nlws::js {

Napi::Object Environment::Init(Napi::Env env, Napi::Object exports) {
  // Our OpenSSL is private to the addon: keep it from registering an atexit
  // cleanup, which would free it under a service thread still running when
  // the process exits (process.exit() does not run environment cleanup).
  static std::once_flag openssl_once;
  std::call_once(openssl_once, [] { OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr); });

  auto* self = new Environment(env);
  // Deleted with the environment (after the cleanup hook has torn it down).
  env.SetInstanceData<Environment, Environment::Finalize>(self);
  if (napi_add_env_cleanup_hook(env, Cleanup, self) == napi_ok) self->cleanup_registered_ = true;
  // lws logs to stderr until told otherwise: silence it from the start.
  LogSinkSetLevel(self, 0);

  const struct {
    const char* name;
    Napi::Function::Callback fn;
  } methods[] = {
      {"init", js::Init},
      {"connect", js::Connect},
      {"config", js::Config},
      {"sendBatch", js::SendBatch},
      {"sendPriority", js::SendPriority},
      {"close", js::Close},
      {"terminate", js::Terminate},
      {"ping", js::Ping},
      {"pong", js::Pong},
      {"closeEcho", js::CloseEcho},
      {"decision", js::ReconnectDecision},
      {"onOpenDone", js::OnOpenDone},
      {"resolved", js::Resolved},
      {"setRef", js::SetRef},
      {"setLogLevel", js::SetLogLevel},
      {"shutdown", js::Shutdown},
      {"constants", js::Constants},
      {"serviceInfo", js::ServiceInfo},
  };
  for (auto& m : methods) exports.Set(m.name, Napi::Function::New(env, m.fn, m.name, self));
  exports.Set("testing", js::TestHooks(env));
  return exports;
}

void Environment::Finalize(Napi::Env env, Environment* self) {
  if (self->cleanup_registered_) {
    napi_remove_env_cleanup_hook(env, Cleanup, self);
    self->cleanup_registered_ = false;
  }
  delete self;
}

void Environment::Cleanup(void* data) {
  auto* self = static_cast<Environment*>(data);
  self->cleanup_registered_ = false;
  self->Teardown();
}

void Environment::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  LogSinkSetLevel(this, 0);
  service_.Stop();
  events_.Stop();
  if (eventsStarted()) {
    tsfn_.Abort();
    tsfn_ = EventsFunction();
  }
}

void Environment::StartEvents(Napi::Env env, Napi::Function handler) {
  tsfn_ = EventsFunction::New(env, handler, "node-libwebsockets events", 0, 1, this);
  // Held only while a connection is connecting or open (setRef).
  tsfn_.Unref(env);
  EventsFunction tsfn = tsfn_;
  events_.Start([tsfn]() { tsfn.NonBlockingCall(); });
}

void Environment::SetRef(Napi::Env env, bool ref) {
  if (!eventsStarted() || ref == referenced_) return;
  referenced_ = ref;
  if (ref) tsfn_.Ref(env);
  else tsfn_.Unref(env);
}

void CallEventsJs(Napi::Env env, Napi::Function fn, Environment* self, void* /*data*/) {
  // No env or function: the thread-safe function is being finalized.
  if (static_cast<napi_env>(env) == nullptr || fn.IsEmpty() || self == nullptr || !self->live()) return;
  self->Deliver(env, fn);
}

}  // namespace nlws::js

// Module entry: one Environment per Node environment (main thread, workers).
static Napi::Object InitModule(Napi::Env env, Napi::Object exports) {
  return nlws::js::Environment::Init(env, exports);
}
NODE_API_MODULE(node_libwebsockets, InitModule)
