#include "log_sink.h"

#include <libwebsockets.h>

#include <atomic>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <string>

#include "event_batch.h"

namespace nlws {

// Never destroyed: static destructors run at exit, possibly while a worker's
// service thread still logs.
static std::mutex& g_mutex = *new std::mutex;
static std::map<void*, int>& g_levels = *new std::map<void*, int>;

// lws's warnings and errors are always formatted: the failure classifier
// reads this thread's recent ones to tell apart failures lws reports with
// one message (a response head too large for the header table, or malformed).
constexpr int kAlwaysLevels = LLL_ERR | LLL_WARN;
static std::atomic<int> g_requested{0};
// lws logs the cause ("Ran out of header data space") before the failure
// ("problems parsing header"): keep a few lines, not one.
constexpr size_t kProblemsKept = 4;
static thread_local std::deque<std::string> t_problems;

// `session` 0: a line about no session in particular.
static void Deliver(uint32_t session, int level, const char* line, size_t n) {
  if (level & kAlwaysLevels) {
    if (t_problems.size() == kProblemsKept) t_problems.pop_front();
    t_problems.emplace_back(line, n);
  }
  if (!(level & g_requested.load(std::memory_order_relaxed))) return;
  EventBatch* batch = ThreadEventBatch();
  if (batch == nullptr) return;
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  batch->Add(EventType::kLog, session, level, line, n);
}

static void Emit(int level, const char* line) { Deliver(0, level, line, strlen(line)); }

static void EmitSession(lws_log_cx_t* cx, int level, const char* line, size_t len) {
  Deliver(static_cast<SessionLog*>(cx->opaque)->session, level, line, len);
}

static void OnBindings(lws_log_cx_t* cx, int /*change*/) {
  auto* log = static_cast<SessionLog*>(cx->opaque);
  if (log->released && cx->refcount == 0) delete log;
}

SessionLog* SessionLogCreate(uint32_t session) {
  auto* log = new SessionLog;
  log->session = session;
  log->cx.u.emit_cx = EmitSession;
  log->cx.refcount_cb = OnBindings;
  log->cx.opaque = log;
  log->Refresh();
  return log;
}

void SessionLogRelease(SessionLog* log) {
  if (log == nullptr) return;
  log->released = true;
  if (log->cx.refcount == 0) delete log;
}

void SessionLog::Refresh() {
  cx.lll_flags = static_cast<uint32_t>(kAlwaysLevels | g_requested.load(std::memory_order_relaxed)) |
                 LLLF_LOG_CONTEXT_AWARE;
}

void LogSinkSetLevel(void* owner, int level) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (level) g_levels[owner] = level; else g_levels.erase(owner);
  int all = 0;
  for (auto& kv : g_levels) all |= kv.second;
  g_requested.store(all, std::memory_order_relaxed);
  // A known race, left alone: lws keeps the level in a process-wide int that
  // service threads read unlocked in every log call, and this stores it from
  // a JS thread (helgrind reports it). It is one aligned word, so a service
  // thread formats by the old or the new level for a line or two; lws
  // offers no locked way to change it, and the lines we rely on
  // (kAlwaysLevels) are in both. Emit is the same function every time.
  lws_set_log_level(all | kAlwaysLevels, Emit);
}

std::string LogSinkTakeRecentProblems() {
  std::string lines;
  for (auto& l : t_problems) lines += l;
  t_problems.clear();
  return lines;
}

}  // namespace nlws
