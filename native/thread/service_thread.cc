#include "service_thread.h"

#include <pthread.h>

#include <chrono>
#include <cstring>
#include <mutex>

#include "../connection/connection.h"
#include "../server_limits.h"
#include "../session/session.h"

namespace nlws {

// lws context creation and destruction touch process-wide state (OpenSSL
// init, the log emitter); several environments (worker threads) take turns.
static std::mutex g_context_mutex;

// A stream of small messages is handed to JS in batches of up to
// kGatherMaxBytes: after a turn that received at least kGatherTurnBytes of
// them (a read-ahead's worth, not an echo's), the next turn looks at the
// sockets without waiting and adds to the same batch, until a turn brings
// less or the batch is full. Each hand-off wakes the JS thread (an eventfd
// write and, inside Node's thread-safe function, a mutex the woken thread
// then waits for): with one CPU that is two context switches per thread per
// batch, 38 per 1,000 messages of 1 KiB with a batch per read, 4 with
// batches of 1 MiB (bench/NOTES.md, fifth round). Small traffic (a turn
// below the mark) is published at once, as before, so latency does not
// move. A paused connection reads nothing, which ends the gathering. Large
// messages (own chunks) do not count: one per hand-off costs little per
// byte, and gathering them measured slower (16 x 64 KiB of cold memory
// before JS reads any).
static constexpr uint64_t kGatherTurnBytes = 16 * 1024;
static constexpr uint64_t kGatherMaxBytes = 1024 * 1024;

ServiceThread::ServiceThread(EventBatch& events)
    : events_(events), budget_(ReadCpuBudget()) {}

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

void ServiceThread::DrainCommands() {
  if (spinUs() > 0 && mailbox_->Wanted()) spin_.Answered(lws_now_usecs());
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
    vhosts_.KeepTrustStore(cmd.options->tls);
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
    case CommandType::kClose: s->Close(cmd.closeCode, cmd.text); break;
    case CommandType::kTerminate: s->Terminate(); break;
    case CommandType::kPing: s->Ping(cmd.text); break;
    case CommandType::kPong: s->Pong(cmd.text); break;
    case CommandType::kCloseEcho: s->CloseEchoReady(cmd.generation); break;
    case CommandType::kAck: s->Ack(cmd.ackBytes); break;
    case CommandType::kResolved:
      s->Resolved(cmd.generation, cmd.failed ? "" : cmd.text, cmd.failed ? cmd.text : "");
      break;
    case CommandType::kConfig: {
      std::shared_ptr<ConnectOptions> fresh;
      if (cmd.options) {
        vhosts_.KeepTrustStore(cmd.options->tls);
        fresh = std::shared_ptr<ConnectOptions>(std::move(cmd.options));
      }
      s->Config(cmd.generation, std::move(fresh), cmd.text, cmd.errorCode);
      break;
    }
    case CommandType::kDecision:
      s->Decide(cmd.retry, cmd.delayMs);
      break;
    case CommandType::kOnOpenDone: s->OnOpenDone(cmd.generation, cmd.text); break;
    default: break;
  }
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
  bool gather = false;  // the last turn received a stream's worth: go on
  while (!stopping_) {
    if (gather) {
      uint64_t before = events_.sharedBytesAdded();
      if (lws_service(context_, -1) < 0) break;
      DrainCommands();
      uint64_t added = events_.sharedBytesAdded() - before;
      gather = added >= kGatherTurnBytes && events_.pendingBytes() < kGatherMaxBytes;
      continue;
    }
    events_.Flush();
    FreeFinished();
    bool fresh = events_.published() != published;
    published = events_.published();
    bool spin = spinUs() > 0 && sessions_.size() <= Spin::kMaxSessions && spin_.Next(fresh, lws_now_usecs());
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
      Spin::WatchMailbox(*mailbox_);
      DrainCommands();
    }
    uint64_t before = events_.sharedBytesAdded();
    if (lws_service(context_, spin ? -1 : 0) < 0) break;
    // The cancel wake also reaches DrainCommands through the protocol
    // callback, but only once a vhost exists: drain here as well.
    DrainCommands();
    uint64_t added = events_.sharedBytesAdded() - before;
    gather = added >= kGatherTurnBytes && events_.pendingBytes() < kGatherMaxBytes;
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
  vhosts_.Clear();
  events_.Flush();
  SetThreadEventBatch(nullptr);
}

}  // namespace nlws
