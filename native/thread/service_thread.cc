#include "service_thread.h"

#include <pthread.h>

#include <cstdlib>
#include <openssl/ssl.h>

#include <cstring>

#include "../server_limits.h"
#include "../lws_glue.h"
#include "../session/session.h"

namespace nlws {

// lws context creation and destruction touch process-wide state (OpenSSL
// init, the log emitter); several environments (worker threads) take turns.
static std::mutex g_context_mutex;

void Mailbox::Post(Command&& c) {
  queue_.Push(std::move(c));
  Posted(true);
}

void Mailbox::PostMany(std::vector<Command>&& cs, bool wake) {
  if (cs.empty()) return;
  queue_.PushMany(std::move(cs));
  Posted(wake);
}

void Mailbox::Posted(bool wake) {
  if (!wake) return;
  wanted_.store(true);
  if (!spinning_.load()) Wake();
}

void Mailbox::Wake() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (context_) lws_cancel_service(context_);
}

void Mailbox::Open(struct lws_context* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  context_ = ctx;
}

void Mailbox::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  context_ = nullptr;
}

// Spinning after a hand-off. A request/response exchange crosses threads
// twice: the service thread hands a message to JS, and JS's answer comes
// back through the mailbox. Waking a thread asleep in poll() costs tens of
// microseconds across cores, so after publishing a batch the service thread
// busy-polls (lws_service without waiting, and the mailbox) for up to
// NLWS_SPIN_US microseconds, default below, and only when the process has
// two CPUs at least (cpu_budget.h): on one, the spin would take the CPU from
// the very JS thread whose answer it waits for. It only does so while JS has
// recently answered within that window; rounds that JS leaves unanswered
// (receive-only feeds) switch it off after kMaxSpinMisses of them in a row.
static constexpr int64_t kDefaultSpinUs = 100;
static constexpr int kMaxSpinMisses = 8;
// Each turn of the busy-poll is a poll() over every socket: with many
// connections that costs more than the wake-up it saves (opening 10,000
// connections took 1.5x as long with spinning), so only few spin.
static constexpr size_t kMaxSpinSessions = 64;

// While spinning, the sockets are polled this often (a poll() costs a system
// call over every socket; the mailbox is a memory load).
static constexpr int64_t kSpinPollUs = 10;

static inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

static int64_t SpinUsFromEnv() {
  const char* v = getenv("NLWS_SPIN_US");
  if (!v || !*v) return kDefaultSpinUs;
  char* end = nullptr;
  long long n = strtoll(v, &end, 10);
  if (*end || n < 0) return kDefaultSpinUs;
  return n > 10000 ? 10000 : n;
}

ServiceThread::ServiceThread(EventBatch& events)
    : events_(events), budget_(ReadCpuBudget()), spinUs_(SpinUsFromEnv()) {}

ServiceThread::~ServiceThread() { Stop(); }

void ServiceThread::EnsureStarted() {
  if (started_ || stopped_) return;
  started_ = true;
  // The mask or quota may have changed since the environment was made; the
  // new thread inherits the calling thread's mask.
  budget_ = ReadCpuBudget();
  thread_ = std::thread([this] { Run(); });
}

void ServiceThread::Post(Command&& c) {
  EnsureStarted();
  mailbox_->Post(std::move(c));
}

void ServiceThread::PostMany(std::vector<Command>&& cs) {
  EnsureStarted();
  mailbox_->PostMany(std::move(cs));
}

void ServiceThread::PostAcks(std::vector<Command>&& cs) {
  if (!started_) return;
  mailbox_->PostMany(std::move(cs), pausedSessions_.load() > 0);
}

void ServiceThread::Stop() {
  stopped_ = true;
  if (!started_) return;
  Command c;
  c.type = CommandType::kShutdown;
  mailbox_->Post(std::move(c));
  if (thread_.joinable()) thread_.join();
  started_ = false;
}

Session* ServiceThread::FindSession(uint32_t id) {
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second.get();
}

void ServiceThread::Bury(std::unique_ptr<Connection> c) { buried_.push_back(std::move(c)); }

void ServiceThread::ForgetSession(uint32_t id) {
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return;
  finishedSessions_.push_back(std::move(it->second));
  sessions_.erase(it);
}

void ServiceThread::FreeFinished() {
  buried_.clear();  // attempts before the sessions they point to
  finishedSessions_.clear();
}

std::string TlsSettings::Key() const {
  std::string k = rejectUnauthorized ? "v" : "n";
  // The relaxations are per connection in lws, but a vhost's connections
  // could share TLS state: keep strict and relaxed connections apart.
  k += allowSelfSigned ? "s" : "-";
  k += allowUnknownCA ? "u" : "-";
  k += allowInvalidDates ? "d" : "-";
  k += allowHostMismatch ? "h" : "-";
  k += "|" + caKey + "|" + certPem + "|" + keyPem + "|" + passphrase;
  return k;
}

struct lws_vhost* ServiceThread::VhostFor(const Connection& conn) {
  const ConnectOptions& o = *conn.opts;
  std::string proxy;
  if (o.proxy.enabled()) {
    // lws parses "[user:pass@]address:port"; IPv6 goes in brackets.
    std::string a = conn.proxyAddress.find(':') != std::string::npos ? "[" + conn.proxyAddress + "]"
                                                                    : conn.proxyAddress;
    proxy = (o.proxy.auth.empty() ? "" : o.proxy.auth + "@") + a + ":" + std::to_string(o.proxy.port);
  }
  std::string key = (o.perMessageDeflate ? "d|" : "p|") + proxy + "|" + o.tls.Key();
  auto it = vhosts_.find(key);
  if (it != vhosts_.end()) return it->second;

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  std::string name = "nlws-" + std::to_string(vhosts_.size());
  info.vhost_name = name.c_str();
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = ClientProtocols();
  info.extensions = o.perMessageDeflate ? ClientExtensions() : nullptr;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
  // TLS alerts reach the connection (LWS_CALLBACK_SSL_INFO): a server that
  // refuses us names why (certificate required, unknown CA, ...) only there.
  info.ssl_info_event_mask = SSL_CB_ALERT;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  // A server that drops TCP without a TLS close_notify (most, when they
  // restart) would otherwise be a fatal TLS error, and OpenSSL discards the
  // session of a connection that ended in one: the reconnect could not
  // resume it. WebSocket frames its messages itself (a cut-off one is
  // never delivered), so TLS-level truncation detection adds nothing here.
  info.ssl_client_options_set = SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
  // lws reads $http_proxy when no proxy is given; Node does not, and neither
  // do we: "<none>:0" parses as "no proxy" (port 0) and stops that lookup.
  info.http_proxy_address = proxy.empty() ? "none:0" : proxy.c_str();
  const std::vector<std::string>& ca = trustStores_[o.tls.caKey];
  if (!ca.empty()) {
    // The first certificate replaces OpenSSL's default store (the build
    // machine's paths); the rest are added to it below.
    info.client_ssl_ca_mem = ca[0].data();
    info.client_ssl_ca_mem_len = static_cast<unsigned int>(ca[0].size());
  }
  if (!o.tls.certPem.empty()) {
    info.client_ssl_cert_mem = o.tls.certPem.data();
    info.client_ssl_cert_mem_len = static_cast<unsigned int>(o.tls.certPem.size());
  }
  if (!o.tls.keyPem.empty()) {
    info.client_ssl_key_mem = o.tls.keyPem.data();
    info.client_ssl_key_mem_len = static_cast<unsigned int>(o.tls.keyPem.size());
  }
  if (!o.tls.passphrase.empty()) info.client_ssl_private_key_password = o.tls.passphrase.c_str();
  struct lws_vhost* vh = lws_create_vhost(context_, &info);
  if (!vh) return nullptr;
  for (size_t i = 1; i < ca.size(); i++) {
    lws_tls_client_vhost_extra_cert_mem(vh, reinterpret_cast<const uint8_t*>(ca[i].data()),
                                        ca[i].size());
  }
  vhosts_[key] = vh;
  return vh;
}

void ServiceThread::DrainCommands() {
  if (spinUs() > 0 && mailbox_->Wanted()) lastCommandUs_ = lws_now_usecs();
  mailbox_->TakeAll(drained_);
  for (auto& c : drained_) Handle(c);
  drained_.clear();
}

void ServiceThread::Handle(Command& cmd) {
  if (cmd.type == CommandType::kShutdown) {
    stopping_ = true;
    return;
  }
  if (cmd.type == CommandType::kConnect) {
    ConnectOptions& o = *cmd.options;
    if (!o.tls.caDer.empty()) trustStores_[o.tls.caKey] = std::move(o.tls.caDer);
    auto s = std::make_unique<Session>(*this, cmd.id, std::shared_ptr<ConnectOptions>(std::move(cmd.options)));
    Session& ref = *s;
    sessions_[cmd.id] = std::move(s);
    ref.Start();
    return;
  }
  Session* s = FindSession(cmd.id);
  if (!s) return;  // already closed: late sends, acks and answers are dropped
  switch (cmd.type) {
    case CommandType::kSend: s->Send(std::move(cmd.message)); break;
    case CommandType::kSendPriority: s->SendPriority(cmd.generation, std::move(cmd.message)); break;
    case CommandType::kClose: s->Close(cmd.code, cmd.text); break;
    case CommandType::kTerminate: s->Terminate(); break;
    case CommandType::kPing: s->Ping(cmd.text); break;
    case CommandType::kPong: s->Pong(cmd.text); break;
    case CommandType::kCloseEcho: s->CloseEchoReady(cmd.generation); break;
    case CommandType::kAck: s->Ack(cmd.bytes); break;
    case CommandType::kResolved:
      s->Resolved(cmd.generation, cmd.code ? "" : cmd.text, cmd.code ? cmd.text : "");
      break;
    case CommandType::kConfig: {
      std::shared_ptr<ConnectOptions> fresh;
      if (cmd.options) {
        if (!cmd.options->tls.caDer.empty()) trustStores_[cmd.options->tls.caKey] = std::move(cmd.options->tls.caDer);
        fresh = std::shared_ptr<ConnectOptions>(std::move(cmd.options));
      }
      s->Config(cmd.generation, std::move(fresh), cmd.text, cmd.errorCode);
      break;
    }
    case CommandType::kDecision:
      s->Decide(cmd.code == 1, cmd.bytes ? static_cast<int64_t>(cmd.bytes) - 1 : -1);
      break;
    case CommandType::kOnOpenDone: s->OnOpenDone(cmd.generation, cmd.text); break;
    default: break;
  }
}

bool ServiceThread::SpinNext(bool published, int64_t nowUs) {
  if (roundOpen_) {
    bool answered = lastCommandUs_ >= lastPublishUs_;
    if (answered || published || nowUs - lastPublishUs_ > spinUs_) {
      roundOpen_ = false;
      if (answered && lastCommandUs_ - lastPublishUs_ <= spinUs_) {
        spinEnabled_ = true;
        spinMisses_ = 0;
      } else if (++spinMisses_ >= kMaxSpinMisses) {
        spinEnabled_ = false;
      }
    }
  }
  if (published) {
    roundOpen_ = true;
    lastPublishUs_ = nowUs;
  }
  return spinEnabled_ && roundOpen_ && nowUs - lastPublishUs_ <= spinUs_;
}

void ServiceThread::Run() {
  // Named so profilers and the benchmark (bench/client.js) can tell its CPU
  // time from the JS thread's (at most 15 characters).
  pthread_setname_np(pthread_self(), "nlws-service");
  SetThreadEventBatch(&events_);
  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_EXPLICIT_VHOSTS |
                 LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
  info.protocols = ClientProtocols();
  info.user = this;
  // Sizes tables from this instead of RLIMIT_NOFILE (which may be huge).
  info.fd_limit_per_thread = 16384;
  // The whole handshake request, extra headers included, must fit here.
  // It is also the read buffer of every connection on this thread: a read
  // takes up to this much, and payload goes from it straight into the
  // events JS gets (deps/patch-lws.py, 15).
  info.pt_serv_buf_size = 64 * 1024;
  // Bounds the response head a server can make a connecting wsi hold.
  info.max_http_header_data = kHeaderTableBytes;
  // Our own timers bound the handshake; lws's apply to its inner steps.
  info.timeout_secs = 120;
  {
    std::lock_guard<std::mutex> lock(g_context_mutex);
    context_ = lws_create_context(&info);
  }
  if (!context_) {
    // Without a context nothing can connect: fail every connection posted.
    std::vector<Command> cmds;
    for (;;) {
      mailbox_->TakeAll(cmds);
      bool stop = false;
      for (auto& c : cmds) {
        if (c.type == CommandType::kConnect) {
          events_.Add(EventType::kError, c.id, 0,
                      ErrorJson("ERR_LWS_CONTEXT", "could not create the libwebsockets context"));
          events_.Add(EventType::kClose, c.id, 1006, std::string("{\"code\":1006,\"reason\":\"\"}"));
        }
        if (c.type == CommandType::kShutdown) stop = true;
      }
      events_.Flush();
      if (stop) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    SetThreadEventBatch(nullptr);
    return;
  }
  timers_.Attach(context_);
  mailbox_->Open(context_);
  DrainCommands();  // commands posted before the context existed
  uint64_t published = events_.published();
  bool spinning = false;
  while (!stopping_) {
    events_.Flush();
    FreeFinished();
    bool fresh = events_.published() != published;
    published = events_.published();
    bool spin = spinUs() > 0 && sessions_.size() <= kMaxSpinSessions && SpinNext(fresh, lws_now_usecs());
    if (spin != spinning) {
      spinning = spin;
      mailbox_->SetSpinning(spin);
      // A post that saw us spinning did not wake us: look before sleeping.
      if (!spin && mailbox_->Wanted()) {
        DrainCommands();
        continue;
      }
    }
    if (spin) {
      // Between looks at the sockets (a poll() each), watch the mailbox
      // only: JS's answer is seen within nanoseconds, with no system call.
      int64_t until = lws_now_usecs() + kSpinPollUs;
      while (!mailbox_->Wanted() && lws_now_usecs() < until) CpuRelax();
      DrainCommands();
    }
    if (lws_service(context_, spin ? -1 : 0) < 0) break;
    // The cancel wake also reaches DrainCommands through the protocol
    // callback, but only once a vhost exists: drain here as well.
    DrainCommands();
  }
  mailbox_->SetSpinning(false);
  mailbox_->Close();
  for (auto& kv : sessions_) kv.second->Detach();
  FreeFinished();
  timers_.Detach();
  {
    std::lock_guard<std::mutex> lock(g_context_mutex);
    lws_context_destroy(context_);
  }
  context_ = nullptr;
  sessions_.clear();
  FreeFinished();
  vhosts_.clear();
  trustStores_.clear();
  events_.Flush();
  SetThreadEventBatch(nullptr);
}

}  // namespace nlws
