#include "environment.h"

#include <libwebsockets.h>
#include <openssl/crypto.h>

#include <cstring>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "backoff.h"
#include "log_sink.h"
#include "policy.h"
#include "resolver.h"
#include "session.h"

// Defined in lws by deps/patch-lws.py: the names of our changes to lws and
// the SHA-256 of the script that made them, "<name>;<name>;...@<sha256>".
extern "C" const char* nlws_lws_patch_set(void);

namespace nlws {

namespace {

struct Args {
  napi_value argv[5] = {};
  size_t argc = 5;
  Environment* self = nullptr;
};

// Reads the arguments and the Environment bound to the method.
template <typename T>
bool GetArgs(napi_env env, napi_callback_info info, Args& a, T** self) {
  void* data = nullptr;
  if (napi_get_cb_info(env, info, &a.argc, a.argv, nullptr, &data) != napi_ok) return false;
  *self = static_cast<T*>(data);
  return *self != nullptr;
}

napi_valuetype TypeOf(napi_env env, napi_value v) {
  napi_valuetype t = napi_undefined;
  if (v == nullptr || napi_typeof(env, v, &t) != napi_ok) return napi_undefined;
  return t;
}

napi_value Prop(napi_env env, napi_value obj, const char* name) {
  napi_value v = nullptr;
  if (napi_get_named_property(env, obj, name, &v) != napi_ok) return nullptr;
  return v;
}

bool String(napi_env env, napi_value v, std::string* out) {
  if (TypeOf(env, v) != napi_string) return false;
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, nullptr, 0, &len) != napi_ok) return false;
  out->resize(len + 1);
  size_t copied = 0;
  if (napi_get_value_string_utf8(env, v, &(*out)[0], len + 1, &copied) != napi_ok) return false;
  out->resize(copied);
  return true;
}

std::string StringProp(napi_env env, napi_value obj, const char* name) {
  std::string s;
  String(env, Prop(env, obj, name), &s);
  return s;
}

double Number(napi_env env, napi_value v, double dflt) {
  double d = dflt;
  if (TypeOf(env, v) != napi_number || napi_get_value_double(env, v, &d) != napi_ok) return dflt;
  return d;
}

bool Bool(napi_env env, napi_value v, bool dflt) {
  bool b = dflt;
  if (TypeOf(env, v) != napi_boolean || napi_get_value_bool(env, v, &b) != napi_ok) return dflt;
  return b;
}

// Bytes of a Uint8Array (Buffer); the façade turns every view into one.
bool ByteView(napi_env env, napi_value v, const uint8_t** data, size_t* len) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  void* p = nullptr;
  napi_value ab;
  size_t offset = 0;
  if (napi_get_typedarray_info(env, v, &type, len, &p, &ab, &offset) != napi_ok) return false;
  if (type != napi_uint8_array) return false;
  *data = static_cast<const uint8_t*>(p);
  return true;
}

std::string Bytes(napi_env env, napi_value v) {
  std::string s;
  if (String(env, v, &s)) return s;
  const uint8_t* p = nullptr;
  size_t n = 0;
  if (ByteView(env, v, &p, &n)) s.assign(reinterpret_cast<const char*>(p), n);
  return s;
}

napi_value Undefined(napi_env env) {
  napi_value u = nullptr;
  napi_get_undefined(env, &u);
  return u;
}

// Copies a JS string or byte view once, into a buffer with LWS_PRE headroom.
std::unique_ptr<OutMessage> CopyMessage(napi_env env, napi_value data, bool binary) {
  auto m = std::make_unique<OutMessage>();
  m->headroom = LWS_PRE;
  m->binary = binary;
  if (TypeOf(env, data) == napi_string) {
    size_t len = 0;
    if (napi_get_value_string_utf8(env, data, nullptr, 0, &len) != napi_ok) return nullptr;
    m->storage.resize(LWS_PRE + len + 1);
    size_t copied = 0;
    if (napi_get_value_string_utf8(env, data, reinterpret_cast<char*>(m->storage.data() + LWS_PRE),
                                   len + 1, &copied) != napi_ok)
      return nullptr;
    m->storage.resize(LWS_PRE + copied);
    return m;
  }
  const uint8_t* p = nullptr;
  size_t n = 0;
  if (!ByteView(env, data, &p, &n)) return nullptr;
  m->storage.resize(LWS_PRE + n);
  if (n) memcpy(m->storage.data() + LWS_PRE, p, n);
  return m;
}

uint32_t Id(napi_env env, napi_value v) { return static_cast<uint32_t>(Number(env, v, 0)); }

}  // namespace

Environment::Environment(napi_env env) : env_(env) {}

Environment::~Environment() { Teardown(); }

napi_value Environment::Init(napi_env env, napi_value exports) {
  // Our OpenSSL is private to the addon: keep it from registering an atexit
  // cleanup, which would free it under a service thread still running when
  // the process exits (process.exit() does not run environment cleanup).
  static std::once_flag openssl_once;
  std::call_once(openssl_once, [] { OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, nullptr); });

  auto* self = new Environment(env);
  if (napi_set_instance_data(env, self, Finalize, nullptr) != napi_ok) {
    delete self;
    return nullptr;
  }
  if (napi_add_env_cleanup_hook(env, Cleanup, self) == napi_ok) self->cleanup_registered_ = true;
  // lws logs to stderr until told otherwise: silence it from the start.
  LogSinkSetLevel(self, 0);

  struct Method {
    const char* name;
    napi_callback fn;
  } methods[] = {
      {"init", InitEvents},     {"connect", Connect},       {"sendBatch", SendBatch},
      {"close", Close},         {"terminate", Terminate},   {"ping", Ping},
      {"pong", Pong},           {"closeEcho", CloseEcho},
      {"setRef", SetRef},       {"setLogLevel", SetLogLevel}, {"shutdown", Shutdown},
      {"constants", Constants}, {"config", Config},             {"decision", Decision},
      {"onOpenDone", OnOpenDone}, {"sendPriority", SendPriority}, {"classify", ClassifyForTest},
      {"serviceInfo", ServiceInfo}, {"cpuBudget", CpuBudgetForTest}, {"timerQueue", TimerQueueForTest},
      {"reconnectDelay", ReconnectDelayForTest}, {"resolved", Resolved}, {"orderAddresses", OrderAddressesForTest},
  };
  std::vector<napi_property_descriptor> props;
  for (auto& m : methods)
    props.push_back({m.name, nullptr, m.fn, nullptr, nullptr, nullptr, napi_default, self});
  if (napi_define_properties(env, exports, props.size(), props.data()) != napi_ok) return nullptr;
  return exports;
}

void Environment::Cleanup(void* data) {
  auto* self = static_cast<Environment*>(data);
  self->cleanup_registered_ = false;
  self->Teardown();
}

void Environment::Finalize(napi_env env, void* data, void* /*hint*/) {
  auto* self = static_cast<Environment*>(data);
  if (self->cleanup_registered_) {
    napi_remove_env_cleanup_hook(env, Cleanup, self);
    self->cleanup_registered_ = false;
  }
  delete self;
}

void Environment::Teardown() {
  if (torn_down_) return;
  torn_down_ = true;
  LogSinkSetLevel(this, 0);
  service_.Stop();
  events_.Stop();
  if (tsfn_) {
    napi_release_threadsafe_function(tsfn_, napi_tsfn_abort);
    tsfn_ = nullptr;
  }
}

napi_value Environment::InitEvents(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_ || self->tsfn_) return Undefined(env);
  if (TypeOf(env, a.argv[0]) != napi_function) {
    napi_throw_type_error(env, nullptr, "init(handler) needs a function");
    return nullptr;
  }
  napi_value name;
  if (napi_create_string_utf8(env, "node-libwebsockets events", NAPI_AUTO_LENGTH, &name) != napi_ok)
    return nullptr;
  if (napi_create_threadsafe_function(env, a.argv[0], nullptr, name, 0, 1, nullptr, nullptr, self,
                                      CallJs, &self->tsfn_) != napi_ok)
    return nullptr;
  // Held only while a connection is connecting or open (setRef).
  napi_unref_threadsafe_function(env, self->tsfn_);
  napi_threadsafe_function tsfn = self->tsfn_;
  self->events_.Start([tsfn]() { napi_call_threadsafe_function(tsfn, nullptr, napi_tsfn_nonblocking); });
  return Undefined(env);
}

void Environment::CallJs(napi_env env, napi_value fn, void* context, void* /*data*/) {
  auto* self = static_cast<Environment*>(context);
  if (env == nullptr || fn == nullptr || self == nullptr || self->torn_down_) return;
  self->Deliver(env, fn);
}

void Environment::Deliver(napi_env env, napi_value fn) {
  events_.TakeReady(taken_);
  if (!taken_.empty()) {
    // Received bytes per connection: acknowledged once JS has them, so the
    // service thread can resume reading a connection it paused.
    std::unordered_map<uint32_t, uint64_t> acks;
    size_t n = taken_.index.size();
    for (size_t i = 0; i < n; i += kIndexStride) {
      auto type = static_cast<EventType>(static_cast<int>(taken_.index[i]));
      if (type == EventType::kText || type == EventType::kBinary || type == EventType::kPing)
        acks[static_cast<uint32_t>(taken_.index[i + 1])] += static_cast<uint64_t>(taken_.index[i + 5]) + kMessageOverhead;
    }

    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    bool ok = true;
    size_t nchunks = taken_.chunks.size();
    napi_value chunks = nullptr;
    ok = napi_create_array_with_length(env, nchunks, &chunks) == napi_ok;
    for (size_t i = 0; ok && i < nchunks; i++) {
      napi_value buf = nullptr;
      if (taken_.chunks[i].empty()) {
        ok = napi_create_buffer(env, 0, nullptr, &buf) == napi_ok;
      } else {
        // V8 counts an external buffer by its size, not by the capacity
        // behind it; a batch's shared chunk reserves 16 KiB, so mostly empty
        // chunks waiting for a GC would hold far more than V8 sees (the soak
        // measured tens of MiB). Those go over at their exact size.
        auto& chunk = taken_.chunks[i];
        if (chunk.capacity() > 2 * chunk.size() + 4096) chunk.shrink_to_fit();
        auto* v = new std::vector<uint8_t>(std::move(chunk));
        ok = napi_create_external_buffer(
                 env, v->size(), v->data(),
                 [](napi_env, void*, void* hint) { delete static_cast<std::vector<uint8_t>*>(hint); }, v,
                 &buf) == napi_ok;
        if (!ok) delete v;
      }
      ok = ok && napi_set_element(env, chunks, static_cast<uint32_t>(i), buf) == napi_ok;
    }
    napi_value ab = nullptr, index = nullptr;
    void* abData = nullptr;
    ok = ok && napi_create_arraybuffer(env, n * sizeof(double), &abData, &ab) == napi_ok;
    if (ok) memcpy(abData, taken_.index.data(), n * sizeof(double));
    ok = ok && napi_create_typedarray(env, napi_float64_array, n, ab, 0, &index) == napi_ok;
    taken_.clear();
    if (ok) {
      napi_value argv[2] = {chunks, index};
      napi_status st = napi_call_function(env, Undefined(env), fn, 2, argv, nullptr);
      if (st == napi_pending_exception) {
        // The façade reports listener errors itself; anything left is a bug
        // in it. Let Node report it as uncaught rather than stop delivery.
        napi_value e;
        if (napi_get_and_clear_last_exception(env, &e) == napi_ok) napi_fatal_exception(env, e);
      }
    }
    napi_close_handle_scope(env, scope);
    if (!ok) return;  // the environment is going away
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
      service_.PostAcks(std::move(cmds));
    }
  }
  events_.FinishDelivery();
}

// The record lib/options.ts builds (NativeConnectOptions); already valid.
static std::unique_ptr<ConnectOptions> ParseConnectOptions(napi_env env, napi_value o) {
  auto opts = std::make_unique<ConnectOptions>();
  opts->host = StringProp(env, o, "host");
  opts->port = static_cast<uint16_t>(Number(env, Prop(env, o, "port"), 80));
  opts->ipv6Literal = Bool(env, Prop(env, o, "ipv6Literal"), false);
  opts->path = StringProp(env, o, "path");
  opts->secure = Bool(env, Prop(env, o, "secure"), false);
  opts->servername = StringProp(env, o, "servername");
  opts->origin = StringProp(env, o, "origin");
  opts->protocols = StringProp(env, o, "protocols");
  napi_value headers = Prop(env, o, "headers");
  uint32_t len = 0;
  if (headers && napi_get_array_length(env, headers, &len) == napi_ok) {
    for (uint32_t i = 0; i + 1 < len; i += 2) {
      napi_value k, v;
      std::string ks, vs;
      if (napi_get_element(env, headers, i, &k) == napi_ok && napi_get_element(env, headers, i + 1, &v) == napi_ok &&
          String(env, k, &ks) && String(env, v, &vs))
        opts->headers.emplace_back(std::move(ks), std::move(vs));
    }
  }
  opts->followRedirects = Bool(env, Prop(env, o, "followRedirects"), false);
  opts->autoSelectFamily = Bool(env, Prop(env, o, "autoSelectFamily"), true);
  opts->attemptTimeoutMs = static_cast<uint32_t>(Number(env, Prop(env, o, "autoSelectFamilyAttemptTimeout"), 250));
  opts->family = static_cast<uint8_t>(Number(env, Prop(env, o, "family"), 0));
  opts->perMessageDeflate = Bool(env, Prop(env, o, "perMessageDeflate"), true);
  opts->autoPong = Bool(env, Prop(env, o, "autoPong"), true);
  opts->maxPayload = static_cast<uint64_t>(Number(env, Prop(env, o, "maxPayload"), 100.0 * 1024 * 1024));
  opts->skipUtf8Validation = Bool(env, Prop(env, o, "skipUtf8Validation"), false);
  opts->fragmentSize = static_cast<uint32_t>(Number(env, Prop(env, o, "fragmentSize"), 64 * 1024));
  opts->rxHighWater = static_cast<uint64_t>(Number(env, Prop(env, o, "rxHighWater"), 16.0 * 1024 * 1024));
  opts->closeTimeoutMs = static_cast<uint32_t>(Number(env, Prop(env, o, "closeTimeoutMs"), 5000));
  opts->handshakeTimeoutMs = static_cast<uint32_t>(Number(env, Prop(env, o, "handshakeTimeoutMs"), 30000));
  opts->tls.rejectUnauthorized = Bool(env, Prop(env, o, "rejectUnauthorized"), true);
  opts->tls.allowSelfSigned = Bool(env, Prop(env, o, "allowSelfSigned"), false);
  opts->tls.allowUnknownCA = Bool(env, Prop(env, o, "allowUnknownCA"), false);
  opts->tls.allowInvalidDates = Bool(env, Prop(env, o, "allowInvalidDates"), false);
  opts->tls.allowHostMismatch = Bool(env, Prop(env, o, "allowHostMismatch"), false);
  opts->tls.caKey = StringProp(env, o, "caKey");
  napi_value ca = Prop(env, o, "caDer");
  if (ca && napi_get_array_length(env, ca, &len) == napi_ok) {
    for (uint32_t i = 0; i < len; i++) {
      napi_value v;
      if (napi_get_element(env, ca, i, &v) == napi_ok) opts->tls.caDer.push_back(Bytes(env, v));
    }
  }
  opts->tls.certPem = Bytes(env, Prop(env, o, "cert"));
  opts->tls.keyPem = Bytes(env, Prop(env, o, "key"));
  opts->tls.passphrase = StringProp(env, o, "passphrase");
  opts->proxy.host = StringProp(env, o, "proxyHost");
  opts->proxy.port = static_cast<uint16_t>(Number(env, Prop(env, o, "proxyPort"), 0));
  opts->proxy.auth = StringProp(env, o, "proxyAuth");

  napi_value pol = Prop(env, o, "policy");
  if (TypeOf(env, pol) == napi_object) {
    SessionPolicy& p = opts->policy;
    p.reconnect = Bool(env, Prop(env, pol, "reconnect"), p.reconnect);
    napi_value table = Prop(env, pol, "backoffMs");
    if (table && napi_get_array_length(env, table, &len) == napi_ok && len > 0) {
      p.backoffMs.clear();
      for (uint32_t i = 0; i < len; i++) {
        napi_value v;
        if (napi_get_element(env, table, i, &v) == napi_ok) p.backoffMs.push_back(static_cast<uint32_t>(Number(env, v, 1000)));
      }
    }
    auto u32 = [&](const char* name, double dflt) { return static_cast<uint32_t>(Number(env, Prop(env, pol, name), dflt)); };
    p.jitter = u32("jitter", 0) == static_cast<uint32_t>(Jitter::kAdd) ? Jitter::kAdd : Jitter::kFull;
    p.jitterPercent = static_cast<uint8_t>(u32("jitterPercent", p.jitterPercent));
    p.maxRetryAfterMs = u32("maxRetryAfterMs", p.maxRetryAfterMs);
    p.maxAttempts = static_cast<uint16_t>(u32("maxAttempts", p.maxAttempts));
    p.resetAfterMs = u32("resetAfterMs", p.resetAfterMs);
    p.reconnectOnNormalClose = Bool(env, Prop(env, pol, "reconnectOnNormalClose"), p.reconnectOnNormalClose);
    p.heartbeatIntervalMs = u32("heartbeatIntervalMs", p.heartbeatIntervalMs);
    p.heartbeatTimeoutMs = u32("heartbeatTimeoutMs", p.heartbeatTimeoutMs);
    p.pongOnly = Bool(env, Prop(env, pol, "pongOnly"), p.pongOnly);
    p.stallTimeoutMs = u32("stallTimeoutMs", p.stallTimeoutMs);
    p.maxAgeMs = u32("maxAgeMs", p.maxAgeMs);
    p.maxAgeJitterPercent = static_cast<uint8_t>(u32("maxAgeJitterPercent", p.maxAgeJitterPercent));
    p.rotationOverlapMs = u32("rotationOverlapMs", p.rotationOverlapMs);
    p.queueMaxMessages = u32("queueMaxMessages", p.queueMaxMessages);
    p.queueMaxBytes = static_cast<uint64_t>(Number(env, Prop(env, pol, "queueMaxBytes"), static_cast<double>(p.queueMaxBytes)));
    p.queueTtlMs = u32("queueTtlMs", p.queueTtlMs);
    uint32_t overflow = u32("overflow", 0);
    p.overflow = overflow <= static_cast<uint32_t>(Overflow::kDropNewest) ? static_cast<Overflow>(overflow) : Overflow::kReject;
    p.hookConfig = Bool(env, Prop(env, pol, "hookConfig"), false);
    p.hookDecide = Bool(env, Prop(env, pol, "hookDecide"), false);
    p.hookOnOpen = Bool(env, Prop(env, pol, "hookOnOpen"), false);
    p.proxyRefresh = Bool(env, Prop(env, pol, "proxyRefresh"), false);
    p.hookLookup = Bool(env, Prop(env, pol, "hookLookup"), false);
  }
  return opts;
}

napi_value Environment::Connect(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  napi_value result = nullptr;
  if (!GetArgs(env, info, a, &self) || self->torn_down_ || TypeOf(env, a.argv[0]) != napi_object) {
    napi_create_int32(env, -1, &result);
    return result;
  }
  uint32_t id = self->next_id_++;
  Command c;
  c.type = CommandType::kConnect;
  c.id = id;
  c.options = ParseConnectOptions(env, a.argv[0]);
  self->service_.Post(std::move(c));
  napi_create_uint32(env, id, &result);
  return result;
}

// config(id, attempt, options | null, error, errorCode?): the url/headers
// functions' result for one attempt, or a redirect's target; errorCode names
// why the façade refused a redirect (default ERR_CONFIG).
napi_value Environment::Config(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kConfig;
  c.id = Id(env, a.argv[0]);
  c.generation = Id(env, a.argv[1]);
  if (TypeOf(env, a.argv[2]) == napi_object) c.options = ParseConnectOptions(env, a.argv[2]);
  String(env, a.argv[3], &c.text);
  String(env, a.argv[4], &c.errorCode);
  self->service_.Post(std::move(c));
  return Undefined(env);
}

// decision(id, retry, delayMs): shouldReconnect's answer (delayMs < 0: backoff).
napi_value Environment::Decision(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kDecision;
  c.id = Id(env, a.argv[0]);
  c.code = Bool(env, a.argv[1], false) ? 1 : 0;
  double delay = Number(env, a.argv[2], -1);
  c.bytes = delay >= 0 ? static_cast<uint64_t>(delay) + 1 : 0;
  self->service_.Post(std::move(c));
  return Undefined(env);
}

// onOpenDone(id, attempt, error): onOpen finished ('' when it succeeded).
napi_value Environment::OnOpenDone(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kOnOpenDone;
  c.id = Id(env, a.argv[0]);
  c.generation = Id(env, a.argv[1]);
  String(env, a.argv[2], &c.text);
  self->service_.Post(std::move(c));
  return Undefined(env);
}

// sendPriority(id, attempt, data, binary): onOpen's sends, ahead of the backlog.
napi_value Environment::SendPriority(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kSendPriority;
  c.id = Id(env, a.argv[0]);
  c.generation = Id(env, a.argv[1]);
  c.message = CopyMessage(env, a.argv[2], Bool(env, a.argv[3], false));
  if (c.message) self->service_.Post(std::move(c));
  return Undefined(env);
}

namespace {

napi_value BudgetObject(napi_env env, const CpuBudget& b, int64_t spinUs) {
  napi_value o = nullptr;
  if (napi_create_object(env, &o) != napi_ok) return nullptr;
  napi_value v;
  if (napi_create_int32(env, b.affinity, &v) == napi_ok) napi_set_named_property(env, o, "cpus", v);
  if (b.quota > 0) {
    napi_create_double(env, b.quota, &v);
  } else {
    napi_get_null(env, &v);
  }
  napi_set_named_property(env, o, "cpuQuota", v);
  if (napi_get_boolean(env, b.SpinAllowed(), &v) == napi_ok) napi_set_named_property(env, o, "spinAllowed", v);
  if (spinUs >= 0 && napi_create_double(env, static_cast<double>(spinUs), &v) == napi_ok)
    napi_set_named_property(env, o, "spinUs", v);
  return o;
}

}  // namespace

// serviceInfo(): what the service thread decided from the CPUs it has:
// {cpus, cpuQuota, spinAllowed, spinUs} (spinUs 0: it never busy-polls).
napi_value Environment::ServiceInfo(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self)) return Undefined(env);
  return BudgetObject(env, self->service_.cpuBudget(), self->service_.spinUs());
}

// cpuBudget(root, affinity): the CPU budget read below another root
// directory (a tree laid out like /proc and /sys/fs/cgroup), for its tests.
napi_value Environment::CpuBudgetForTest(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self)) return Undefined(env);
  std::string root;
  String(env, a.argv[0], &root);
  double n = Number(env, a.argv[1], -1);
  int affinity = n >= 0 && n <= 1 << 16 ? static_cast<int>(n) : -1;
  return BudgetObject(env, ReadCpuBudget(root, affinity), -1);
}

// timerQueue(timers, ops): the order timers fire in after a sequence of
// schedules and cancels (flat [kind, timer, offsetUs, ...]), for the queue's tests.
napi_value Environment::TimerQueueForTest(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self)) return Undefined(env);
  double n = Number(env, a.argv[0], 0);
  int timers = n >= 0 && n <= 100000 ? static_cast<int>(n) : 0;
  std::vector<TimerOp> ops;
  bool isArray = false;
  if (napi_is_array(env, a.argv[1], &isArray) == napi_ok && isArray) {
    uint32_t len = 0;
    napi_get_array_length(env, a.argv[1], &len);
    for (uint32_t i = 0; i + 2 < len && ops.size() < 1000000; i += 3) {
      double f[3];
      for (uint32_t k = 0; k < 3; k++) {
        napi_value v = nullptr;
        napi_get_element(env, a.argv[1], i + k, &v);
        f[k] = Number(env, v, 0);
        if (!(f[k] >= -1e12 && f[k] <= 1e12)) f[k] = 0;
      }
      ops.push_back(TimerOp{static_cast<int>(f[0]), static_cast<int>(f[1]), static_cast<int64_t>(f[2])});
    }
  }
  std::vector<int> fired = ReplayTimerOps(timers, ops);
  napi_value out = nullptr;
  if (napi_create_array_with_length(env, fired.size(), &out) != napi_ok) return nullptr;
  for (size_t i = 0; i < fired.size(); i++) {
    napi_value v;
    if (napi_create_int32(env, fired[i], &v) == napi_ok) napi_set_element(env, out, static_cast<uint32_t>(i), v);
  }
  return out;
}

// classify(failure): the reconnect policy, for its unit tests.
napi_value Environment::ClassifyForTest(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || TypeOf(env, a.argv[0]) != napi_object) return Undefined(env);
  napi_value o = a.argv[0];
  Failure f;
  std::string cause = StringProp(env, o, "cause");
  for (int i = 0; i <= static_cast<int>(Cause::kUser); i++) {
    if (cause == CauseName(static_cast<Cause>(i))) f.cause = static_cast<Cause>(i);
  }
  f.status = static_cast<int>(Number(env, Prop(env, o, "status"), 0));
  f.closeCode = static_cast<int>(Number(env, Prop(env, o, "code"), 0));
  f.retryAfter = StringProp(env, o, "retryAfter");
  f.refreshedOnce = Bool(env, Prop(env, o, "refreshedOnce"), false);
  f.proxyRefresh = Bool(env, Prop(env, o, "proxyRefresh"), false);
  f.reconnectOnNormalClose = Bool(env, Prop(env, o, "reconnectOnNormalClose"), true);
  f.nowMs = static_cast<int64_t>(Number(env, Prop(env, o, "nowMs"), WallMs()));
  nlws::Decision d = Classify(f);
  napi_value r, v;
  if (napi_create_object(env, &r) != napi_ok) return nullptr;
  if (napi_create_string_utf8(env, ActionName(d.action), NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, r, "action", v);
  if (napi_create_double(env, static_cast<double>(d.delayMs), &v) == napi_ok) napi_set_named_property(env, r, "delayMs", v);
  if (napi_create_string_utf8(env, d.reason.c_str(), NAPI_AUTO_LENGTH, &v) == napi_ok)
    napi_set_named_property(env, r, "reason", v);
  if (napi_get_boolean(env, d.spread, &v) == napi_ok) napi_set_named_property(env, r, "spread", v);
  if (napi_get_boolean(env, d.keepClimbing, &v) == napi_ok) napi_set_named_property(env, r, "keepClimbing", v);
  return r;
}

// reconnectDelay(input): the reconnect delay (native/backoff.h), for its
// unit tests: {schedule, attempt, jitter: 'full'|'add', jitterPercent,
// retryAfterMs, maxRetryAfterMs, spread, random} -> {delayMs, scheduleMs,
// floorMs, retryAfterWon}.
napi_value Environment::ReconnectDelayForTest(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || TypeOf(env, a.argv[0]) != napi_object) return Undefined(env);
  napi_value o = a.argv[0];
  std::vector<uint32_t> schedule;
  napi_value table = Prop(env, o, "schedule");
  uint32_t len = 0;
  if (table && napi_get_array_length(env, table, &len) == napi_ok) {
    for (uint32_t i = 0; i < len; i++) {
      napi_value v;
      if (napi_get_element(env, table, i, &v) == napi_ok) schedule.push_back(static_cast<uint32_t>(Number(env, v, 0)));
    }
  }
  DelayInput in;
  in.schedule = &schedule;
  in.attempt = static_cast<uint32_t>(Number(env, Prop(env, o, "attempt"), 1));
  in.jitter = StringProp(env, o, "jitter") == kJitterNames[static_cast<int>(Jitter::kAdd)] ? Jitter::kAdd : Jitter::kFull;
  in.jitterPercent = static_cast<uint32_t>(Number(env, Prop(env, o, "jitterPercent"), 30));
  in.retryAfterMs = static_cast<int64_t>(Number(env, Prop(env, o, "retryAfterMs"), -1));
  in.maxRetryAfterMs = static_cast<uint32_t>(Number(env, Prop(env, o, "maxRetryAfterMs"), 3600000));
  in.spread = Bool(env, Prop(env, o, "spread"), false);
  in.random = Number(env, Prop(env, o, "random"), 0);
  Delay d = ReconnectDelay(in);
  napi_value r, v;
  if (napi_create_object(env, &r) != napi_ok) return nullptr;
  auto num = [&](const char* name, double x) {
    if (napi_create_double(env, x, &v) == napi_ok) napi_set_named_property(env, r, name, v);
  };
  num("delayMs", d.ms);
  num("scheduleMs", d.scheduleMs);
  num("floorMs", d.floorMs);
  if (napi_get_boolean(env, d.retryAfterWon, &v) == napi_ok) napi_set_named_property(env, r, "retryAfterWon", v);
  return r;
}

// orderAddresses(addresses, family): the order the addresses of a name are
// tried in (native/resolver.h), for its unit tests.
napi_value Environment::OrderAddressesForTest(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self)) return Undefined(env);
  std::vector<std::string> in;
  uint32_t len = 0;
  if (a.argv[0] && napi_get_array_length(env, a.argv[0], &len) == napi_ok) {
    for (uint32_t i = 0; i < len; i++) {
      napi_value v;
      std::string s;
      if (napi_get_element(env, a.argv[0], i, &v) == napi_ok && String(env, v, &s)) in.push_back(s);
    }
  }
  std::vector<std::string> out = OrderForRacing(in, static_cast<int>(Number(env, a.argv[1], 0)));
  napi_value r;
  if (napi_create_array_with_length(env, out.size(), &r) != napi_ok) return nullptr;
  for (size_t i = 0; i < out.size(); i++) {
    napi_value v;
    if (napi_create_string_utf8(env, out[i].c_str(), out[i].size(), &v) == napi_ok)
      napi_set_element(env, r, static_cast<uint32_t>(i), v);
  }
  return r;
}

// resolved(id, attempt, addresses[] | null, error): the lookup option's
// answer for one attempt (numeric addresses, already checked by the façade),
// or an error code.
napi_value Environment::Resolved(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kResolved;
  c.id = Id(env, a.argv[0]);
  c.generation = Id(env, a.argv[1]);
  uint32_t len = 0;
  if (a.argv[2] && napi_get_array_length(env, a.argv[2], &len) == napi_ok && len > 0) {
    for (uint32_t i = 0; i < len; i++) {
      napi_value v;
      std::string s;
      if (napi_get_element(env, a.argv[2], i, &v) != napi_ok || !String(env, v, &s)) continue;
      if (!c.text.empty()) c.text += ',';
      c.text += s;
    }
  } else {
    c.code = 1;
    if (!String(env, a.argv[3], &c.text) || c.text.empty()) c.text = "ENOTFOUND";
  }
  self->service_.Post(std::move(c));
  return Undefined(env);
}

// sendBatch([id, data, binary, id, data, binary, ...]): every send() of one
// tick crosses to the service thread in one hand-over and one wake-up.
napi_value Environment::SendBatch(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  uint32_t n = 0;
  if (napi_get_array_length(env, a.argv[0], &n) != napi_ok) return Undefined(env);
  std::vector<Command> cmds;
  cmds.reserve(n / 3);
  for (uint32_t i = 0; i + 2 < n; i += 3) {
    napi_value id, data, binary;
    if (napi_get_element(env, a.argv[0], i, &id) != napi_ok ||
        napi_get_element(env, a.argv[0], i + 1, &data) != napi_ok ||
        napi_get_element(env, a.argv[0], i + 2, &binary) != napi_ok)
      break;
    Command c;
    c.type = CommandType::kSend;
    c.id = Id(env, id);
    c.message = CopyMessage(env, data, Bool(env, binary, false));
    if (c.message) cmds.push_back(std::move(c));
  }
  self->service_.PostMany(std::move(cmds));
  return Undefined(env);
}

napi_value Environment::Close(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kClose;
  c.id = Id(env, a.argv[0]);
  c.code = static_cast<int>(Number(env, a.argv[1], 1000));
  c.text = Bytes(env, a.argv[2]);
  self->service_.Post(std::move(c));
  return Undefined(env);
}

napi_value Environment::Terminate(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kTerminate;
  c.id = Id(env, a.argv[0]);
  self->service_.Post(std::move(c));
  return Undefined(env);
}

napi_value Environment::Ping(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kPing;
  c.id = Id(env, a.argv[0]);
  c.text = Bytes(env, a.argv[1]);
  self->service_.Post(std::move(c));
  return Undefined(env);
}

napi_value Environment::Pong(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kPong;
  c.id = Id(env, a.argv[0]);
  c.text = Bytes(env, a.argv[1]);
  self->service_.Post(std::move(c));
  return Undefined(env);
}

// closeEcho(id, attempt): JS has handled the events that came before the
// server's Close on that attempt (kCloseReceived).
napi_value Environment::CloseEcho(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  Command c;
  c.type = CommandType::kCloseEcho;
  c.id = Id(env, a.argv[0]);
  c.generation = Id(env, a.argv[1]);
  self->service_.Post(std::move(c));
  return Undefined(env);
}

napi_value Environment::SetRef(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_ || !self->tsfn_) return Undefined(env);
  bool want = Bool(env, a.argv[0], false);
  if (want != self->referenced_) {
    self->referenced_ = want;
    if (want) napi_ref_threadsafe_function(env, self->tsfn_);
    else napi_unref_threadsafe_function(env, self->tsfn_);
  }
  return Undefined(env);
}

napi_value Environment::SetLogLevel(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (!GetArgs(env, info, a, &self) || self->torn_down_) return Undefined(env);
  LogSinkSetLevel(self, static_cast<int>(Number(env, a.argv[0], 0)));
  return Undefined(env);
}

// From process 'exit': stop the service thread now, since Node does not run
// environment cleanup hooks on process.exit() or a fatal exception.
napi_value Environment::Shutdown(napi_env env, napi_callback_info info) {
  Args a;
  Environment* self;
  if (GetArgs(env, info, a, &self)) self->Teardown();
  return Undefined(env);
}

namespace {

// A wire.h list of names, as a JS array (index = number).
template <size_t N>
napi_value NameList(napi_env env, const char* const (&names)[N]) {
  napi_value a = nullptr;
  if (napi_create_array_with_length(env, N, &a) != napi_ok) return nullptr;
  for (size_t i = 0; i < N; i++) {
    napi_value v;
    if (napi_create_string_utf8(env, names[i], NAPI_AUTO_LENGTH, &v) == napi_ok)
      napi_set_element(env, a, static_cast<uint32_t>(i), v);
  }
  return a;
}

}  // namespace

// constants(): the wire contract (wire.h, event_batch.h) and lws's log levels
// and version; lib/wire.ts is compared with it by test/wire.test.ts.
napi_value Environment::Constants(napi_env env, napi_callback_info info) {
  napi_value o = nullptr;
  if (napi_create_object(env, &o) != napi_ok) return nullptr;
  auto setInt = [&](napi_value target, const char* name, int v) {
    napi_value n;
    if (napi_create_int32(env, v, &n) == napi_ok) napi_set_named_property(env, target, name, n);
  };
  auto setList = [&](const char* name, napi_value list) {
    if (list) napi_set_named_property(env, o, name, list);
  };
  setInt(o, "indexStride", kIndexStride);
  napi_value columns = nullptr;
  if (napi_create_object(env, &columns) == napi_ok) {
    setInt(columns, "type", kColType);
    setInt(columns, "id", kColId);
    setInt(columns, "value", kColValue);
    setInt(columns, "chunk", kColChunk);
    setInt(columns, "offset", kColOffset);
    setInt(columns, "length", kColLength);
    napi_set_named_property(env, o, "indexColumns", columns);
  }
  napi_value events = nullptr;
  if (napi_create_object(env, &events) == napi_ok) {
    const struct {
      const char* name;
      EventType type;
    } types[] = {
        {"Open", EventType::kOpen},           {"Text", EventType::kText},
        {"Binary", EventType::kBinary},       {"Close", EventType::kClose},
        {"Error", EventType::kError},         {"Pong", EventType::kPong},
        {"Sent", EventType::kSent},           {"Log", EventType::kLog},
        {"State", EventType::kState},         {"Disconnect", EventType::kDisconnect},
        {"Reconnecting", EventType::kReconnecting}, {"GiveUp", EventType::kGiveUp},
        {"Stall", EventType::kStall},         {"Rotate", EventType::kRotate},
        {"Drop", EventType::kDrop},           {"NeedConfig", EventType::kNeedConfig},
        {"Decide", EventType::kDecide},       {"OnOpen", EventType::kOnOpen},
        {"Gap", EventType::kGap},             {"CloseReceived", EventType::kCloseReceived},
        {"Ping", EventType::kPing},           {"NeedLookup", EventType::kNeedLookup},
    };
    for (auto& t : types) setInt(events, t.name, static_cast<int>(t.type));
    napi_set_named_property(env, o, "eventTypes", events);
  }
  setList("sessionStates", NameList(env, kSessionStateNames));
  setList("causes", NameList(env, kCauseNames));
  setList("actions", NameList(env, kActionNames));
  setList("dropReasons", NameList(env, kDropReasonNames));
  setList("overflow", NameList(env, kOverflowNames));
  setList("jitter", NameList(env, kJitterNames));
  napi_value drop = nullptr;
  if (napi_create_object(env, &drop) == napi_ok) {
    setInt(drop, "binary", kDropBinary);
    setInt(drop, "reasonShift", kDropReasonShift);
    setInt(drop, "reasonMask", kDropReasonMask);
    setInt(drop, "priority", kDropPriority);
    napi_set_named_property(env, o, "dropBits", drop);
  }
  setInt(o, "LLL_ERR", LLL_ERR);
  setInt(o, "LLL_WARN", LLL_WARN);
  setInt(o, "LLL_NOTICE", LLL_NOTICE);
  setInt(o, "LLL_INFO", LLL_INFO);
  setInt(o, "LLL_DEBUG", LLL_DEBUG);
  setInt(o, "LLL_CLIENT", LLL_CLIENT);
  // lws's own version string ends in the git commit of the tree it was
  // built in (ours): report the release, and our changes to it apart.
  auto setString = [&](const char* name, const std::string& v) {
    napi_value n;
    if (napi_create_string_utf8(env, v.c_str(), v.size(), &n) == napi_ok) napi_set_named_property(env, o, name, n);
  };
  setString("lwsVersion", std::to_string(LWS_LIBRARY_VERSION_MAJOR) + "." + std::to_string(LWS_LIBRARY_VERSION_MINOR) +
                              "." + std::to_string(LWS_LIBRARY_VERSION_PATCH));
  setString("lwsPatchSet", nlws_lws_patch_set());
  return o;
}

}  // namespace nlws
