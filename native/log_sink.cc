#include "log_sink.h"

#include <libwebsockets.h>

#include <cstring>
#include <map>
#include <mutex>

#include "event_batch.h"

namespace nlws {

// Never destroyed: static destructors run at exit, possibly while a worker's
// service thread still logs.
static std::mutex& g_mutex = *new std::mutex;
static std::map<void*, int>& g_levels = *new std::map<void*, int>;

static void Emit(int level, const char* line) {
  EventBatch* batch = ThreadEventBatch();
  if (batch == nullptr) return;
  size_t n = strlen(line);
  while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) n--;
  batch->Add(EventType::kLog, 0, level, line, n);
}

void LogSinkSetLevel(void* owner, int level) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (level) g_levels[owner] = level; else g_levels.erase(owner);
  int all = 0;
  for (auto& kv : g_levels) all |= kv.second;
  lws_set_log_level(all, Emit);
}

}  // namespace nlws
