// The methods of the binding, by file; native/js/environment.cc lists them
// by their JS names. Each takes its Environment from info.Data().
#pragma once
#include <napi.h>

namespace nlws::js {

// commands.cc: JS -> service thread (each posts one command, or a batch).
Napi::Value Init(const Napi::CallbackInfo& info);
Napi::Value Connect(const Napi::CallbackInfo& info);
Napi::Value Config(const Napi::CallbackInfo& info);
Napi::Value SendBatch(const Napi::CallbackInfo& info);
Napi::Value SendPriority(const Napi::CallbackInfo& info);
Napi::Value Close(const Napi::CallbackInfo& info);
Napi::Value Terminate(const Napi::CallbackInfo& info);
Napi::Value Ping(const Napi::CallbackInfo& info);
Napi::Value Pong(const Napi::CallbackInfo& info);
Napi::Value CloseEcho(const Napi::CallbackInfo& info);
Napi::Value ReconnectDecision(const Napi::CallbackInfo& info);
Napi::Value OnOpenDone(const Napi::CallbackInfo& info);
Napi::Value Resolved(const Napi::CallbackInfo& info);
Napi::Value SetRef(const Napi::CallbackInfo& info);
Napi::Value SetLogLevel(const Napi::CallbackInfo& info);
Napi::Value Shutdown(const Napi::CallbackInfo& info);

// constants.cc: what the addon is and decided.
Napi::Value Constants(const Napi::CallbackInfo& info);
Napi::Value ServiceInfo(const Napi::CallbackInfo& info);

// test_hooks.cc: pure native functions, exported as `testing` for their tests.
Napi::Object TestHooks(Napi::Env env);

}  // namespace nlws::js
