// ThreadSanitizer stress of the native layer's threaded paths, without Node
// (TSan cannot be loaded into an uninstrumented node). Built with the real
// native/ sources (all but the Node-API boundary, native/js/)
// by scripts/test-tsan.sh; exits non-zero on a failed check, and TSan on a
// race (halt_on_error).
//
// What runs concurrently:
//  - CommandQueue: several producer threads against one consumer;
//  - EventBatch: a producer (the service thread's side) against a consumer
//    (the JS thread's side) that takes batches and finishes deliveries,
//    then Stop() while the producer still adds and flushes;
//  - whole environments, each a "JS thread" doing what environment.cc does
//    (post commands, take batches when the thread-safe function would call
//    JS, acknowledge received bytes, answer the hooks, tear down in the same
//    order) over a real ServiceThread with its lws context, connecting to
//    the echo server below: sends, echoes, reconnects after server drops,
//    refused connections, names resolved on resolver threads, rotation with
//    heartbeats, lws log lines; and finally shutdown with everything still
//    in flight. Several environments at once, like worker threads.
#include <arpa/inet.h>
#include <fcntl.h>
#include <libwebsockets.h>
#include <netinet/in.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "thread/mailbox.h"
#include "event_batch.h"
#include "log_sink.h"
#include "thread/service_thread.h"

using namespace nlws;
using Clock = std::chrono::steady_clock;

namespace {

std::atomic<int> g_failures{0};

void Check(bool ok, const std::string& what) {
  if (ok) return;
  g_failures++;
  fprintf(stderr, "FAILED: %s\n", what.c_str());
}

// ---------------------------------------------------------------------------
// A minimal WebSocket echo server on 127.0.0.1 (one thread, poll): echoes
// data frames as they come, answers PING and Close; a message "drop" makes
// it close the TCP connection without a Close frame.
class EchoServer {
 public:
  void Start() {
    listen_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || listen(listen_, 128) != 0) {
      perror("echo server");
      exit(2);
    }
    socklen_t len = sizeof a;
    getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    fcntl(listen_, F_SETFL, O_NONBLOCK);
    if (pipe(wake_) != 0) exit(2);
    thread_ = std::thread([this] { Run(); });
  }
  void Stop() {
    stop_ = true;
    (void)!write(wake_[1], "x", 1);
    thread_.join();
    for (auto& c : clients_) close(c.fd);
    close(listen_);
    close(wake_[0]);
    close(wake_[1]);
  }
  uint16_t port() const { return port_; }

 private:
  struct Client {
    int fd = -1;
    std::string in, out;
    bool upgraded = false;
    bool closeAfterWrite = false;
    bool dead = false;
  };

  static std::string Accept(const std::string& key) {
    std::string s = key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    unsigned char digest[SHA_DIGEST_LENGTH];
    SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
    unsigned char b64[64];
    int n = EVP_EncodeBlock(b64, digest, SHA_DIGEST_LENGTH);
    return std::string(reinterpret_cast<char*>(b64), static_cast<size_t>(n));
  }

  static void Frame(std::string& out, uint8_t b0, const std::string& payload) {
    out += static_cast<char>(b0);
    size_t n = payload.size();
    if (n < 126) {
      out += static_cast<char>(n);
    } else if (n < 65536) {
      out += static_cast<char>(126);
      out += static_cast<char>(n >> 8);
      out += static_cast<char>(n & 0xff);
    } else {
      out += static_cast<char>(127);
      for (int i = 7; i >= 0; i--) out += static_cast<char>((n >> (8 * i)) & 0xff);
    }
    out += payload;
  }

  void Handshake(Client& c) {
    size_t end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) return;
    std::string req = c.in.substr(0, end);
    c.in.erase(0, end + 4);
    std::string lower = req;
    for (auto& ch : lower) ch = static_cast<char>(tolower(ch));
    size_t k = lower.find("sec-websocket-key:");
    if (k == std::string::npos) {
      c.dead = true;
      return;
    }
    size_t v = k + 18;
    while (v < req.size() && req[v] == ' ') v++;
    std::string key = req.substr(v, req.find("\r\n", v) - v);
    c.out += "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             "Sec-WebSocket-Accept: " + Accept(key) + "\r\n\r\n";
    c.upgraded = true;
  }

  void Frames(Client& c) {
    for (;;) {
      if (c.in.size() < 2) return;
      auto b = reinterpret_cast<const uint8_t*>(c.in.data());
      uint64_t len = b[1] & 0x7f;
      size_t hdr = 2;
      if (len == 126) {
        if (c.in.size() < 4) return;
        len = (uint64_t{b[2]} << 8) | b[3];
        hdr = 4;
      } else if (len == 127) {
        if (c.in.size() < 10) return;
        len = 0;
        for (int i = 0; i < 8; i++) len = (len << 8) | b[2 + i];
        hdr = 10;
      }
      bool masked = b[1] & 0x80;
      size_t maskAt = hdr;
      if (masked) hdr += 4;
      if (c.in.size() < hdr + len) return;
      std::string payload = c.in.substr(hdr, len);
      if (masked) {
        for (size_t i = 0; i < payload.size(); i++) payload[i] = static_cast<char>(payload[i] ^ c.in[maskAt + (i & 3)]);
      }
      uint8_t b0 = b[0];
      c.in.erase(0, hdr + len);
      uint8_t op = b0 & 0x0f;
      if (op <= 2) {
        if (payload == "drop") {
          c.dead = true;
          return;
        }
        Frame(c.out, b0, payload);
      } else if (op == 8) {
        Frame(c.out, 0x88, payload.substr(0, 125));
        c.closeAfterWrite = true;
        return;
      } else if (op == 9) {
        Frame(c.out, 0x8a, payload);
      }
    }
  }

  void Run() {
    while (!stop_) {
      std::vector<pollfd> fds;
      fds.push_back({wake_[0], POLLIN, 0});
      fds.push_back({listen_, POLLIN, 0});
      for (auto& c : clients_) fds.push_back({c.fd, static_cast<short>(POLLIN | (c.out.empty() ? 0 : POLLOUT)), 0});
      if (poll(fds.data(), fds.size(), 1000) < 0) continue;
      if (fds[1].revents & POLLIN) {
        for (;;) {
          int fd = accept(listen_, nullptr, nullptr);
          if (fd < 0) break;
          fcntl(fd, F_SETFL, O_NONBLOCK);
          Client c;
          c.fd = fd;
          clients_.push_back(std::move(c));
        }
      }
      for (size_t i = 2; i < fds.size(); i++) {
        Client& c = clients_[i - 2];
        if (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) {
          char buf[65536];
          ssize_t n = recv(c.fd, buf, sizeof buf, 0);
          if (n <= 0) {
            c.dead = true;
            continue;
          }
          c.in.append(buf, static_cast<size_t>(n));
          if (!c.upgraded) Handshake(c);
          if (c.upgraded && !c.closeAfterWrite) Frames(c);
        }
        if (!c.dead && !c.out.empty()) {
          ssize_t n = send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL);
          if (n > 0) c.out.erase(0, static_cast<size_t>(n));
          else if (n < 0 && errno != EAGAIN) c.dead = true;
        }
        if (c.closeAfterWrite && c.out.empty()) c.dead = true;
      }
      for (size_t i = clients_.size(); i-- > 0;) {
        if (clients_[i].dead) {
          close(clients_[i].fd);
          clients_.erase(clients_.begin() + static_cast<long>(i));
        }
      }
    }
  }

  int listen_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
  std::vector<Client> clients_;  // server thread only
};

// A port nothing listens on: connections to it are refused.
uint16_t ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// ---------------------------------------------------------------------------
void StressCommandQueue() {
  CommandQueue q;
  constexpr int kProducers = 4, kEach = 20000;
  std::vector<std::thread> producers;
  for (int p = 0; p < kProducers; p++) {
    producers.emplace_back([&q, p] {
      for (int i = 0; i < kEach;) {
        if (i % 7 == 0) {
          std::vector<Command> many;
          for (int j = 0; j < 5 && i < kEach; j++, i++) {
            Command c;
            c.type = CommandType::kAck;
            c.id = static_cast<uint32_t>(p);
            c.ackBytes = static_cast<uint64_t>(i);  // the sequence number
            many.push_back(std::move(c));
          }
          q.PushMany(std::move(many));
        } else {
          Command c;
          c.type = CommandType::kSend;
          c.id = static_cast<uint32_t>(p);
          c.ackBytes = static_cast<uint64_t>(i++);  // the sequence number
          c.message = std::make_unique<OutMessage>();
          q.Push(std::move(c));
        }
      }
    });
  }
  std::vector<uint64_t> next(kProducers, 0);
  long received = 0;
  std::vector<Command> taken;
  auto deadline = Clock::now() + std::chrono::seconds(60);
  while (received < long{kProducers} * kEach && Clock::now() < deadline) {
    q.TakeAll(taken);
    for (auto& c : taken) {
      Check(c.ackBytes == next[c.id], "command queue keeps each producer's order");
      next[c.id] = c.ackBytes + 1;
      received++;
    }
    if (taken.empty()) std::this_thread::yield();
  }
  for (auto& t : producers) t.join();
  Check(received == long{kProducers} * kEach, "command queue delivers every command");
}

void StressEventBatch() {
  EventBatch batch;
  std::mutex m;
  std::condition_variable cv;
  int calls = 0;  // scheduled JS calls not yet run (the thread-safe function's queue)
  batch.Start([&] {
    std::lock_guard<std::mutex> lock(m);
    calls++;
    cv.notify_one();
  });
  std::atomic<bool> producing{true};
  std::atomic<uint32_t> produced{0};
  std::thread producer([&] {
    std::vector<uint8_t> big(EventBatch::kOwnChunkThreshold + 17, 'b');
    for (uint32_t seq = 0; producing; seq++) {
      std::string s = std::to_string(seq);
      if (seq % 97 == 0) {
        memcpy(big.data(), s.data(), s.size());
        big[s.size()] = ' ';
        batch.Add(EventType::kBinary, 1, seq, big.data(), big.size());
      } else {
        batch.Add(EventType::kText, 1, seq, s);
      }
      batch.AddSent(2, 10, 1);
      batch.AddSent(2, 10, 1);  // merges into the previous row
      produced = seq + 1;
      if (seq % 5 == 0) batch.Flush();
      if (seq % 1000 == 0) std::this_thread::yield();
    }
    batch.Flush();
  });
  uint32_t expect = 0;
  Batch taken;
  auto until = Clock::now() + std::chrono::milliseconds(1500);
  while (Clock::now() < until) {
    {
      std::unique_lock<std::mutex> lock(m);
      cv.wait_for(lock, std::chrono::milliseconds(50), [&] { return calls > 0; });
      if (calls == 0) continue;
      calls--;
    }
    batch.TakeReady(taken);
    for (size_t i = 0; i < taken.index.size(); i += kIndexStride) {
      auto type = static_cast<EventType>(static_cast<int>(taken.index[i]));
      if (type == EventType::kSent) {
        Check(taken.index[i + 2] == 20 && taken.index[i + 4] == 2, "kSent rows merge");
        continue;
      }
      auto seq = static_cast<uint32_t>(taken.index[i + 2]);
      Check(seq == expect, "event batch keeps order: got " + std::to_string(seq) + ", want " + std::to_string(expect));
      const auto& chunk = taken.chunks[static_cast<size_t>(taken.index[i + 3])];
      std::string text(reinterpret_cast<const char*>(chunk.data()) + static_cast<size_t>(taken.index[i + 4]),
                       static_cast<size_t>(taken.index[i + 5]));
      Check(text.compare(0, std::to_string(seq).size(), std::to_string(seq)) == 0, "event payload matches its row");
      expect = seq + 1;
    }
    batch.FinishDelivery();
  }
  Check(expect > 1000, "event batch delivered (" + std::to_string(expect) + " events)");
  batch.Stop();  // teardown while the producer still adds and flushes
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  producing = false;
  producer.join();
  batch.TakeReady(taken);
  Check(taken.empty(), "nothing is published after Stop()");
}

// ---------------------------------------------------------------------------
// One Node environment, as environment.cc drives it, on a "JS thread".
enum class Kind { kEcho, kDropper, kRefused, kResolved, kRotating, kConfigured };

struct SessionModel {
  Kind kind = Kind::kEcho;
  std::deque<std::string> expected;  // echoes still to come, in order
  int opens = 0;
  bool closed = false;
  bool closeSent = false;
};

class Env {
 public:
  Env(uint16_t echoPort, uint16_t closedPort, int seed) : echoPort_(echoPort), closedPort_(closedPort), seed_(seed) {
    // environment.cc InitEvents: the batch schedules one JS call per
    // delivery through the thread-safe function (here: a counter and a
    // condition variable the JS thread waits on).
    events_.Start([this] {
      std::lock_guard<std::mutex> lock(m_);
      calls_++;
      cv_.notify_one();
    });
  }

  // Rounds of connections that all end; then a last round torn down in flight.
  void Run(int rounds) {
    // environment.cc Init silences lws (which logs to stderr until told
    // otherwise); every other environment here then asks for its log lines.
    LogSinkSetLevel(this, seed_ % 2 ? LLL_ERR | LLL_WARN | LLL_NOTICE | LLL_INFO : 0);
    for (int r = 0; r < rounds; r++) {
      StartRound(r);
      auto deadline = Clock::now() + std::chrono::seconds(30);
      while (!AllClosed() && Clock::now() < deadline) Pump();
      for (auto& kv : sessions_) {
        const SessionModel& s = kv.second;
        Check(s.closed, "env " + std::to_string(seed_) + " round " + std::to_string(r) + ": session " +
                            std::to_string(kv.first) + " (kind " + std::to_string(static_cast<int>(s.kind)) +
                            ", opens " + std::to_string(s.opens) + ", echoes due " +
                            std::to_string(s.expected.size()) + ", close sent " + std::to_string(s.closeSent) +
                            ") ends");
      }
      for (auto& kv : sessions_) {
        if (kv.second.kind == Kind::kEcho)
          Check(kv.second.expected.empty(), "echo session " + std::to_string(kv.first) + " got every echo");
        if (kv.second.kind == Kind::kDropper)
          Check(kv.second.opens >= 2, "dropper session reconnected");
      }
      sessions_.clear();
    }
    StartRound(rounds);
    auto until = Clock::now() + std::chrono::milliseconds(5 + 7 * (seed_ % 5));
    while (Clock::now() < until) Pump();
    Teardown();
  }

 private:
  std::unique_ptr<ConnectOptions> Options(Kind kind) {
    auto o = std::make_unique<ConnectOptions>();
    o->host = kind == Kind::kResolved ? "localhost" : "127.0.0.1";
    o->port = kind == Kind::kRefused ? closedPort_ : echoPort_;
    o->path = "/";
    // Every field the paths below read (ConnectOptions has no defaults:
    // the façade sends them all).
    o->perMessageDeflate = false;
    o->autoPong = true;
    o->autoSelectFamily = true;
    o->attemptTimeoutMs = 250;
    o->maxPayload = 1 << 20;
    o->fragmentSize = 64 * 1024;
    o->tls.rejectUnauthorized = true;
    o->closeTimeoutMs = 2000;
    o->handshakeTimeoutMs = 5000;
    // Small: the 70000-byte echo pauses reading until the JS side's
    // acknowledgement wakes the service thread (PostAcks).
    o->receiveHighWaterMark = 32 * 1024;
    SessionPolicy& p = o->policy;
    p.reconnect = kind == Kind::kDropper || kind == Kind::kRotating;
    p.backoffMs = {5, 10};
    p.jitterPercent = 1;
    p.maxRetryAfterMs = 1000;
    p.reconnectOnNormalClose = true;
    p.queueMaxMessages = 1000;
    p.queueMaxBytes = 1 << 20;
    if (kind == Kind::kDropper) {
      p.hookDecide = true;
      p.hookOnOpen = true;
    }
    if (kind == Kind::kRotating) {
      p.heartbeatIntervalMs = 40;
      p.heartbeatTimeoutMs = 2000;
      p.maxConnectionAgeMs = 120;
      p.rotationOverlapMs = 20;
    }
    p.hookConfig = kind == Kind::kConfigured;
    return o;
  }

  void Connect(Kind kind) {
    uint32_t id = nextId_++;
    Command c;
    c.type = CommandType::kConnect;
    c.id = id;
    c.options = Options(kind);
    service_.Post(std::move(c));
    sessions_[id].kind = kind;
    if (kind == Kind::kEcho || kind == Kind::kConfigured) {
      // Sent before the open: they wait in the session's queue.
      std::vector<Command> sends;
      for (int i = 0; i < 20; i++) {
        std::string text = "m" + std::to_string(id) + "-" + std::to_string(i);
        if (i == 7) text.append(70000, 'x');  // a message with a chunk of its own
        sends.push_back(Send(id, text, i % 2 == 1));
        sessions_[id].expected.push_back(text);
      }
      service_.PostMany(std::move(sends));
    }
  }

  static Command Send(uint32_t id, const std::string& text, bool binary) {
    Command c;
    c.type = CommandType::kSend;
    c.id = id;
    auto m = std::make_unique<OutMessage>();
    m->headroom = LWS_PRE;
    m->binary = binary;
    m->storage.resize(LWS_PRE + text.size());
    memcpy(m->storage.data() + LWS_PRE, text.data(), text.size());
    c.message = std::move(m);
    return c;
  }

  void Post(CommandType type, uint32_t id, uint32_t generation = 0) {
    Command c;
    c.type = type;
    c.id = id;
    c.generation = generation;
    service_.Post(std::move(c));
  }

  void StartRound(int r) {
    Connect(Kind::kEcho);
    Connect(Kind::kEcho);
    Connect(Kind::kDropper);
    Connect(Kind::kRefused);
    Connect(Kind::kResolved);
    Connect(Kind::kConfigured);
    if (r % 2 == 0) Connect(Kind::kRotating);
  }

  bool AllClosed() const {
    for (auto& kv : sessions_)
      if (!kv.second.closed) return false;
    return true;
  }

  // Waits for the next JS call (or a little while), runs it, then does what
  // is due (closing sessions that have done their part).
  void Pump() {
    bool call = false;
    {
      std::unique_lock<std::mutex> lock(m_);
      cv_.wait_for(lock, std::chrono::milliseconds(10), [this] { return calls_ > 0; });
      if (calls_ > 0) {
        calls_--;
        call = true;
      }
    }
    if (call) Deliver();
    auto now = Clock::now();
    for (auto& kv : sessions_) {
      SessionModel& s = kv.second;
      if (s.closed || s.closeSent) continue;
      bool done = false;
      if (s.kind == Kind::kEcho || s.kind == Kind::kConfigured) done = s.expected.empty();
      if (s.kind == Kind::kDropper) done = s.opens >= 2;
      if (s.kind == Kind::kResolved) done = s.opens >= 1;
      if (s.kind == Kind::kRotating) done = s.opens >= 1 && now - roundStart(kv.first) > std::chrono::milliseconds(400);
      if (done) {
        s.closeSent = true;
        if (kv.first % 3 == 0) {
          Post(CommandType::kTerminate, kv.first);
        } else {
          Command c;
          c.type = CommandType::kClose;
          c.id = kv.first;
          c.closeCode = 1000;
          c.text = "bye";
          service_.Post(std::move(c));
        }
      }
    }
  }

  Clock::time_point roundStart(uint32_t id) {
    auto it = started_.find(id);
    if (it == started_.end()) it = started_.emplace(id, Clock::now()).first;
    return it->second;
  }

  // environment.cc Deliver: take the batch, hand it to "JS", acknowledge
  // the received bytes, finish the delivery.
  void Deliver() {
    if (tornDown_) return;
    events_.TakeReady(taken_);
    std::map<uint32_t, uint64_t> acks;
    for (size_t i = 0; i < taken_.index.size(); i += kIndexStride) {
      auto type = static_cast<EventType>(static_cast<int>(taken_.index[i]));
      auto id = static_cast<uint32_t>(taken_.index[i + 1]);
      double value = taken_.index[i + 2];
      std::string payload;
      if (taken_.index[i + 3] >= 0) {
        const auto& chunk = taken_.chunks[static_cast<size_t>(taken_.index[i + 3])];
        payload.assign(reinterpret_cast<const char*>(chunk.data()) + static_cast<size_t>(taken_.index[i + 4]),
                       static_cast<size_t>(taken_.index[i + 5]));
      }
      if (type == EventType::kText || type == EventType::kBinary)
        acks[id] += static_cast<uint64_t>(taken_.index[i + 5]) + kMessageOverhead;
      auto it = sessions_.find(id);
      if (it == sessions_.end()) continue;  // logs (id 0), or an earlier round
      SessionModel& s = it->second;
      switch (type) {
        case EventType::kOpen:
          s.opens++;
          roundStart(id);
          if (s.kind == Kind::kDropper && s.opens == 1) {
            std::vector<Command> one;
            one.push_back(Send(id, "drop", false));
            service_.PostMany(std::move(one));
          }
          if (s.kind == Kind::kRotating) {
            std::vector<Command> few;
            for (int k = 0; k < 3; k++) few.push_back(Send(id, "r" + std::to_string(k), false));
            service_.PostMany(std::move(few));
          }
          break;
        case EventType::kText:
        case EventType::kBinary:
          if (s.kind == Kind::kEcho || s.kind == Kind::kConfigured) {
            Check(!s.expected.empty() && s.expected.front() == payload,
                  "session " + std::to_string(id) + " echo in order");
            if (!s.expected.empty()) s.expected.pop_front();
          }
          break;
        case EventType::kClose:
          s.closed = true;
          break;
        case EventType::kNeedConfig: {
          Command c;
          c.type = CommandType::kConfig;
          c.id = id;
          c.generation = static_cast<uint32_t>(value);
          c.options = Options(Kind::kEcho);
          service_.Post(std::move(c));
          break;
        }
        case EventType::kDecide: {
          Command c;
          c.type = CommandType::kDecision;
          c.id = id;
          c.retry = true;
          c.delayMs = 5;
          service_.Post(std::move(c));
          break;
        }
        case EventType::kOnOpen:
          Post(CommandType::kOnOpenDone, id, static_cast<uint32_t>(value));
          break;
        default:
          break;
      }
    }
    taken_.clear();
    if (!acks.empty()) {
      std::vector<Command> cmds;
      for (auto& kv : acks) {
        Command c;
        c.type = CommandType::kAck;
        c.id = kv.first;
        c.ackBytes = kv.second;
        cmds.push_back(std::move(c));
      }
      service_.PostAcks(std::move(cmds));
    }
    events_.FinishDelivery();
  }

  // environment.cc Teardown, same order.
  void Teardown() {
    tornDown_ = true;
    LogSinkSetLevel(this, 0);
    service_.Stop();
    events_.Stop();
  }

  uint16_t echoPort_, closedPort_;
  int seed_;
  EventBatch events_;
  ServiceThread service_{events_};
  std::mutex m_;
  std::condition_variable cv_;
  int calls_ = 0;
  bool tornDown_ = false;
  uint32_t nextId_ = 1;
  Batch taken_;
  std::map<uint32_t, SessionModel> sessions_;
  std::map<uint32_t, Clock::time_point> started_;
};

}  // namespace

int main(int argc, char** argv) {
  int envs = argc > 1 ? atoi(argv[1]) : 4;
  int rounds = argc > 2 ? atoi(argv[2]) : 6;
  auto t0 = Clock::now();

  StressCommandQueue();
  StressEventBatch();

  EchoServer server;
  server.Start();
  uint16_t closed = ClosedPort();
  // Environments side by side, and each replaced by a new one once torn
  // down (worker threads starting and stopping).
  std::vector<std::thread> threads;
  for (int e = 0; e < envs; e++) {
    threads.emplace_back([&, e] {
      for (int gen = 0; gen < 2; gen++) {
        Env env(server.port(), closed, e * 2 + gen);
        env.Run(gen == 0 ? rounds : 1);
      }
    });
  }
  for (auto& t : threads) t.join();
  server.Stop();

  double s = std::chrono::duration<double>(Clock::now() - t0).count();
  printf("threads stress: %d environments x %d rounds, %.1f s, %d failed checks\n", envs, rounds, s, g_failures.load());
  return g_failures ? 1 : 0;
}
