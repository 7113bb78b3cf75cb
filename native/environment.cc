#include "environment.h"

#include <libwebsockets.h>

#include <cstring>
#include <unordered_map>

#include "log_sink.h"

namespace nlws {

namespace {

std::string GetString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  return v.IsString() ? v.As<Napi::String>().Utf8Value() : std::string();
}

double GetNumber(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  return v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : dflt;
}

bool GetBool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  return v.IsBoolean() ? v.As<Napi::Boolean>().Value() : dflt;
}

std::string BytesOf(Napi::Value v) {
  if (v.IsString()) return v.As<Napi::String>().Utf8Value();
  if (v.IsTypedArray()) {
    auto a = v.As<Napi::Uint8Array>();
    return std::string(reinterpret_cast<const char*>(a.Data()), a.ByteLength());
  }
  return std::string();
}

// Copies a JS string or byte view once, into a buffer with LWS_PRE headroom.
std::unique_ptr<OutMessage> CopyMessage(Napi::Env env, Napi::Value data, bool binary) {
  auto m = std::make_unique<OutMessage>();
  m->headroom = LWS_PRE;
  m->binary = binary;
  if (data.IsString()) {
    size_t len = 0;
    napi_get_value_string_utf8(env, data, nullptr, 0, &len);
    m->storage.resize(LWS_PRE + len + 1);
    size_t copied = 0;
    napi_get_value_string_utf8(env, data, reinterpret_cast<char*>(m->storage.data() + LWS_PRE),
                               len + 1, &copied);
    m->storage.resize(LWS_PRE + copied);
  } else {
    auto a = data.As<Napi::Uint8Array>();
    m->storage.resize(LWS_PRE + a.ByteLength());
    if (a.ByteLength()) memcpy(m->storage.data() + LWS_PRE, a.Data(), a.ByteLength());
  }
  return m;
}

}  // namespace

Environment::Environment(Napi::Env env, Napi::Object exports) : env_(env) {
  DefineAddon(exports, {
                           InstanceMethod("init", &Environment::InitEvents),
                           InstanceMethod("connect", &Environment::Connect),
                           InstanceMethod("sendBatch", &Environment::SendBatch),
                           InstanceMethod("close", &Environment::Close),
                           InstanceMethod("terminate", &Environment::Terminate),
                           InstanceMethod("ping", &Environment::Ping),
                           InstanceMethod("setRef", &Environment::SetRef),
                           InstanceMethod("setLogLevel", &Environment::SetLogLevel),
                           InstanceMethod("constants", &Environment::Constants),
                       });
  // lws logs to stderr until told otherwise: silence it from the start.
  LogSinkSetLevel(this, 0);
  cleanup_ = env.AddCleanupHook(std::function<void()>([this]() {
    cleanup_ran_ = true;
    Teardown();
  }));
}

// Node may free instance data before or after running cleanup hooks.
Environment::~Environment() {
  if (!cleanup_ran_) cleanup_.Remove(Napi::Env(env_));
  Teardown();
}

void Environment::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  LogSinkSetLevel(this, 0);
  service_.Stop();
  events_.Stop();
  if (initialized_) tsfn_.Release();
}

Napi::Value Environment::InitEvents(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (initialized_) return env.Undefined();
  if (!info[0].IsFunction()) {
    Napi::TypeError::New(env, "init(handler) needs a function").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  tsfn_ = Tsfn::New(env, info[0].As<Napi::Function>(), "node-libwebsockets events", 0, 1, this);
  // Held only while a connection is connecting or open (SetRef).
  tsfn_.Unref(env);
  events_.Start([this]() { tsfn_.NonBlockingCall(); });
  initialized_ = true;
  return env.Undefined();
}

void Environment::CallJs(Napi::Env env, Napi::Function fn, Environment* self, void* /*data*/) {
  if (env == nullptr || self == nullptr || self->torn_down_) return;
  self->Deliver(env, fn);
}

void Environment::Deliver(Napi::Env env, Napi::Function fn) {
  events_.TakeReady(taken_);
  if (!taken_.empty()) {
    Napi::HandleScope scope(env);
    size_t nchunks = taken_.chunks.size();
    Napi::Array chunks = Napi::Array::New(env, nchunks);
    for (size_t i = 0; i < nchunks; i++) {
      auto* v = new std::vector<uint8_t>(std::move(taken_.chunks[i]));
      if (v->empty()) {
        delete v;
        chunks.Set(static_cast<uint32_t>(i), Napi::Buffer<uint8_t>::New(env, 0));
        continue;
      }
      chunks.Set(static_cast<uint32_t>(i),
                 Napi::Buffer<uint8_t>::New(env, v->data(), v->size(),
                                            [](Napi::Env, uint8_t*, std::vector<uint8_t>* p) { delete p; },
                                            v));
    }
    size_t n = taken_.index.size();
    Napi::ArrayBuffer ab = Napi::ArrayBuffer::New(env, n * sizeof(double));
    memcpy(ab.Data(), taken_.index.data(), n * sizeof(double));
    Napi::Float64Array index = Napi::Float64Array::New(env, n, ab, 0);

    // Received bytes per connection: acknowledged once JS has them, so the
    // service thread can resume reading a connection it paused.
    std::unordered_map<uint32_t, uint64_t> acks;
    for (size_t i = 0; i < n; i += kIndexStride) {
      auto type = static_cast<EventType>(static_cast<int>(taken_.index[i]));
      if (type == EventType::kText || type == EventType::kBinary)
        acks[static_cast<uint32_t>(taken_.index[i + 1])] += static_cast<uint64_t>(taken_.index[i + 5]);
    }
    taken_.clear();

    fn.Call({chunks, index});
    if (env.IsExceptionPending()) {
      // The façade reports listener errors itself; this is a bug in it. Let
      // Node report it as uncaught rather than losing the rest of delivery.
      Napi::Error e = env.GetAndClearPendingException();
      napi_fatal_exception(env, e.Value());
    }
    if (!acks.empty()) {
      std::vector<Command> cmds;
      cmds.reserve(acks.size());
      for (auto& kv : acks) {
        Command c;
        c.type = CommandType::kAck;
        c.id = kv.first;
        c.bytes = kv.second;
        cmds.push_back(std::move(c));
      }
      service_.PostMany(std::move(cmds));
    }
  }
  events_.FinishDelivery();
}

Napi::Value Environment::Connect(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = info[0].As<Napi::Object>();
  auto opts = std::make_unique<ConnectOptions>();
  opts->host = GetString(o, "host");
  opts->port = static_cast<uint16_t>(GetNumber(o, "port", 80));
  opts->ipv6Literal = GetBool(o, "ipv6Literal", false);
  opts->path = GetString(o, "path");
  opts->secure = GetBool(o, "secure", false);
  opts->servername = GetString(o, "servername");
  opts->origin = GetString(o, "origin");
  opts->protocols = GetString(o, "protocols");
  Napi::Value headers = o.Get("headers");
  if (headers.IsArray()) {
    Napi::Array a = headers.As<Napi::Array>();
    for (uint32_t i = 0; i + 1 < a.Length(); i += 2)
      opts->headers.emplace_back(a.Get(i).As<Napi::String>().Utf8Value(),
                                 a.Get(i + 1).As<Napi::String>().Utf8Value());
  }
  opts->followRedirects = GetBool(o, "followRedirects", false);
  opts->perMessageDeflate = GetBool(o, "perMessageDeflate", true);
  opts->maxPayload = static_cast<uint64_t>(GetNumber(o, "maxPayload", 100.0 * 1024 * 1024));
  opts->fragmentSize = static_cast<uint32_t>(GetNumber(o, "fragmentSize", 64 * 1024));
  opts->rxHighWater = static_cast<uint64_t>(GetNumber(o, "rxHighWater", 16.0 * 1024 * 1024));
  opts->closeTimeoutMs = static_cast<uint32_t>(GetNumber(o, "closeTimeoutMs", 5000));
  opts->handshakeTimeoutMs = static_cast<uint32_t>(GetNumber(o, "handshakeTimeoutMs", 30000));
  opts->tls.rejectUnauthorized = GetBool(o, "rejectUnauthorized", true);
  opts->tls.caKey = GetString(o, "caKey");
  Napi::Value ca = o.Get("caDer");
  if (ca.IsArray()) {
    Napi::Array a = ca.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); i++) opts->tls.caDer.push_back(BytesOf(a.Get(i)));
  }
  opts->tls.certPem = BytesOf(o.Get("cert"));
  opts->tls.keyPem = BytesOf(o.Get("key"));
  opts->tls.passphrase = GetString(o, "passphrase");
  opts->proxy.host = GetString(o, "proxyHost");
  opts->proxy.port = static_cast<uint16_t>(GetNumber(o, "proxyPort", 0));
  opts->proxy.auth = GetString(o, "proxyAuth");

  uint32_t id = next_id_++;
  Command c;
  c.type = CommandType::kConnect;
  c.id = id;
  c.options = std::move(opts);
  service_.Post(std::move(c));
  return Napi::Number::New(env, id);
}

// sendBatch([id, data, binary, id, data, binary, ...]): every send() of one
// tick crosses to the service thread in one hand-over and one wake-up.
Napi::Value Environment::SendBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Array a = info[0].As<Napi::Array>();
  uint32_t n = a.Length();
  std::vector<Command> cmds;
  cmds.reserve(n / 3);
  for (uint32_t i = 0; i + 2 < n; i += 3) {
    Command c;
    c.type = CommandType::kSend;
    c.id = a.Get(i).As<Napi::Number>().Uint32Value();
    c.message = CopyMessage(env, a.Get(i + 1), a.Get(i + 2).ToBoolean().Value());
    cmds.push_back(std::move(c));
  }
  service_.PostMany(std::move(cmds));
  return env.Undefined();
}

Napi::Value Environment::Close(const Napi::CallbackInfo& info) {
  Command c;
  c.type = CommandType::kClose;
  c.id = info[0].As<Napi::Number>().Uint32Value();
  c.code = info[1].As<Napi::Number>().Int32Value();
  c.text = BytesOf(info[2]);
  service_.Post(std::move(c));
  return info.Env().Undefined();
}

Napi::Value Environment::Terminate(const Napi::CallbackInfo& info) {
  Command c;
  c.type = CommandType::kTerminate;
  c.id = info[0].As<Napi::Number>().Uint32Value();
  service_.Post(std::move(c));
  return info.Env().Undefined();
}

Napi::Value Environment::Ping(const Napi::CallbackInfo& info) {
  Command c;
  c.type = CommandType::kPing;
  c.id = info[0].As<Napi::Number>().Uint32Value();
  c.text = BytesOf(info[1]);
  service_.Post(std::move(c));
  return info.Env().Undefined();
}

Napi::Value Environment::SetRef(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  bool want = info[0].ToBoolean().Value();
  if (!initialized_ || want == referenced_) return env.Undefined();
  referenced_ = want;
  if (want) tsfn_.Ref(env); else tsfn_.Unref(env);
  return env.Undefined();
}

Napi::Value Environment::SetLogLevel(const Napi::CallbackInfo& info) {
  LogSinkSetLevel(this, info[0].As<Napi::Number>().Int32Value());
  return info.Env().Undefined();
}

Napi::Value Environment::Constants(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object o = Napi::Object::New(env);
  o.Set("indexStride", kIndexStride);
  o.Set("lwsVersion", lws_get_library_version());
  o.Set("LLL_ERR", static_cast<int>(LLL_ERR));
  o.Set("LLL_WARN", static_cast<int>(LLL_WARN));
  o.Set("LLL_NOTICE", static_cast<int>(LLL_NOTICE));
  o.Set("LLL_INFO", static_cast<int>(LLL_INFO));
  o.Set("LLL_DEBUG", static_cast<int>(LLL_DEBUG));
  o.Set("LLL_CLIENT", static_cast<int>(LLL_CLIENT));
  return o;
}

}  // namespace nlws
