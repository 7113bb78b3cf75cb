// The methods JS calls to drive sessions: each turns its arguments into a
// Command for the service thread (thread/mailbox.h says what each carries).
// After teardown they do nothing.
#include <libwebsockets.h>

#include <cstring>
#include <memory>
#include <vector>

#include "../log_sink.h"
#include "environment.h"
#include "methods.h"
#include "read_options.h"
#include "values.h"

namespace nlws::js {

namespace {

// The Environment of a method, or nullptr once it is torn down.
Environment* Live(const Napi::CallbackInfo& info) {
  Environment& self = Environment::Of(info);
  return self.live() ? &self : nullptr;
}

uint32_t Id(const Napi::Value& v) { return U32(v); }

// Copies a JS string or byte view once, into a buffer with LWS_PRE headroom.
std::unique_ptr<OutMessage> CopyMessage(const Napi::Value& data, bool binary) {
  auto m = std::make_unique<OutMessage>();
  m->headroom = LWS_PRE;
  m->binary = binary;
  if (data.IsString()) {
    napi_env env = data.Env();
    size_t len = 0;
    if (napi_get_value_string_utf8(env, data, nullptr, 0, &len) != napi_ok) return nullptr;
    m->storage.resize(LWS_PRE + len + 1);
    size_t copied = 0;
    if (napi_get_value_string_utf8(env, data, reinterpret_cast<char*>(m->storage.data() + LWS_PRE), len + 1,
                                   &copied) != napi_ok)
      return nullptr;
    m->storage.resize(LWS_PRE + copied);
    return m;
  }
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) return nullptr;
  auto bytes = data.As<Napi::Uint8Array>();
  m->storage.resize(LWS_PRE + bytes.ByteLength());
  if (bytes.ByteLength()) memcpy(m->storage.data() + LWS_PRE, bytes.Data(), bytes.ByteLength());
  return m;
}

void Post(Environment& self, CommandType type, uint32_t id, Command&& c = Command()) {
  c.type = type;
  c.id = id;
  self.service().Post(std::move(c));
}

// A ping or pong: id and payload.
Napi::Value PostControl(const Napi::CallbackInfo& info, CommandType type) {
  if (Environment* self = Live(info)) {
    Command c;
    c.text = Bytes(info[1]);
    Post(*self, type, Id(info[0]), std::move(c));
  }
  return info.Env().Undefined();
}

}  // namespace

// init(handler): the function every event batch goes to.
Napi::Value Init(const Napi::CallbackInfo& info) {
  Environment* self = Live(info);
  if (!self || self->eventsStarted()) return info.Env().Undefined();
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "init(handler) needs a function");
  self->StartEvents(info.Env(), info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// connect(options): starts a session; its id (-1 when none started).
Napi::Value Connect(const Napi::CallbackInfo& info) {
  Environment* self = Live(info);
  if (!self || !info[0].IsObject()) return Napi::Number::New(info.Env(), -1);
  Command c;
  c.options = ReadConnectOptions(info[0].As<Napi::Object>());
  uint32_t id = self->NextId();
  Post(*self, CommandType::kConnect, id, std::move(c));
  return Napi::Number::New(info.Env(), id);
}

// config(id, attempt, options | null, error, errorCode?): the url/headers
// functions' result for one attempt, or a redirect's target; errorCode names
// why the façade refused a redirect (default ERR_CONFIG).
Napi::Value Config(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) {
    Command c;
    c.generation = Id(info[1]);
    if (info[2].IsObject()) c.options = ReadConnectOptions(info[2].As<Napi::Object>());
    c.text = Str(info[3]);
    c.errorCode = Str(info[4]);
    Post(*self, CommandType::kConfig, Id(info[0]), std::move(c));
  }
  return info.Env().Undefined();
}

// sendBatch([id, data, binary, id, data, binary, ...]): every send() of one
// tick crosses to the service thread in one hand-over and one wake-up.
Napi::Value SendBatch(const Napi::CallbackInfo& info) {
  Environment* self = Live(info);
  if (!self || !info[0].IsArray()) return info.Env().Undefined();
  Napi::Array list = info[0].As<Napi::Array>();
  uint32_t n = list.Length();
  std::vector<Command> cmds;
  cmds.reserve(n / 3);
  for (uint32_t i = 0; i + 2 < n; i += 3) {
    Command c;
    c.type = CommandType::kSend;
    c.id = Id(list.Get(i));
    c.message = CopyMessage(list.Get(i + 1), Bool(list.Get(i + 2)));
    if (c.message) cmds.push_back(std::move(c));
  }
  self->service().PostMany(std::move(cmds));
  return info.Env().Undefined();
}

// sendPriority(id, attempt, data, binary): onOpen's sends, ahead of the backlog.
Napi::Value SendPriority(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) {
    Command c;
    c.generation = Id(info[1]);
    c.message = CopyMessage(info[2], Bool(info[3]));
    if (c.message) Post(*self, CommandType::kSendPriority, Id(info[0]), std::move(c));
  }
  return info.Env().Undefined();
}

// close(id, code, reason): the closing handshake.
Napi::Value Close(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) {
    Command c;
    c.closeCode = info[1].IsNumber() ? Int<int>(info[1], 0, 65535) : 1000;
    c.text = Bytes(info[2]);
    Post(*self, CommandType::kClose, Id(info[0]), std::move(c));
  }
  return info.Env().Undefined();
}

Napi::Value Terminate(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) Post(*self, CommandType::kTerminate, Id(info[0]));
  return info.Env().Undefined();
}

// ping(id, payload), pong(id, payload): a control frame on the connection.
Napi::Value Ping(const Napi::CallbackInfo& info) { return PostControl(info, CommandType::kPing); }
Napi::Value Pong(const Napi::CallbackInfo& info) { return PostControl(info, CommandType::kPong); }

// closeEcho(id, attempt): JS has handled the events that came before the
// server's Close on that attempt (kCloseReceived).
Napi::Value CloseEcho(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) {
    Command c;
    c.generation = Id(info[1]);
    Post(*self, CommandType::kCloseEcho, Id(info[0]), std::move(c));
  }
  return info.Env().Undefined();
}

// decision(id, retry, delayMs): shouldReconnect's answer (delayMs < 0: backoff).
Napi::Value ReconnectDecision(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) {
    Command c;
    c.retry = Bool(info[1]);
    // Not a number, NaN or negative: the backoff's delay.
    double delay = info[2].IsNumber() ? info[2].As<Napi::Number>().DoubleValue() : -1;
    c.delayMs = delay >= 0 ? Int<int64_t>(info[2], 0, 9007199254740991.0) : -1;
    Post(*self, CommandType::kDecision, Id(info[0]), std::move(c));
  }
  return info.Env().Undefined();
}

// onOpenDone(id, attempt, error): onOpen finished ('' when it succeeded).
Napi::Value OnOpenDone(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) {
    Command c;
    c.generation = Id(info[1]);
    c.text = Str(info[2]);
    Post(*self, CommandType::kOnOpenDone, Id(info[0]), std::move(c));
  }
  return info.Env().Undefined();
}

// resolved(id, attempt, addresses[] | null, error): the lookup option's
// answer for one attempt (numeric addresses, already checked by the façade),
// or an error "CODE\nmessage".
Napi::Value Resolved(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) {
    Command c;
    c.generation = Id(info[1]);
    uint32_t n = Length(info[2]);
    if (n > 0) {
      Napi::Array list = info[2].As<Napi::Array>();
      for (uint32_t i = 0; i < n; i++) {
        Napi::Value v = list.Get(i);
        if (!v.IsString()) continue;
        if (!c.text.empty()) c.text += ',';
        c.text += Str(v);
      }
    } else {
      c.failed = true;
      c.text = Str(info[3]);
      if (c.text.empty()) c.text = "ENOTFOUND";
    }
    Post(*self, CommandType::kResolved, Id(info[0]), std::move(c));
  }
  return info.Env().Undefined();
}

// setRef(on): whether the event deliveries keep the process alive.
Napi::Value SetRef(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) self->SetRef(info.Env(), Bool(info[0]));
  return info.Env().Undefined();
}

// setLogLevel(mask): which lws log lines are formatted and delivered.
Napi::Value SetLogLevel(const Napi::CallbackInfo& info) {
  if (Environment* self = Live(info)) LogSinkSetLevel(self, Int<int>(info[0], INT32_MIN, INT32_MAX));
  return info.Env().Undefined();
}

// From process 'exit': stop the service thread now, since Node does not run
// environment cleanup hooks on process.exit() or a fatal exception.
Napi::Value Shutdown(const Napi::CallbackInfo& info) {
  Environment::Of(info).Teardown();
  return info.Env().Undefined();
}

}  // namespace nlws::js
