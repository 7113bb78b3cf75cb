// lws logs through one process-global emit callback. Lines go to the event
// batch of the service thread that logged them (so each environment sees its
// own), as kLog events; lines from other threads are dropped. Lines reach
// JS at the union of the levels the environments asked for (none by default);
// warnings and errors are also kept briefly for the failure classifier.
#pragma once

#include <libwebsockets.h>

#include <cstdint>
#include <string>

namespace nlws {

void LogSinkSetLevel(void* owner, int level);  // level 0 removes the owner

// The last few lws warning and error lines logged on this thread (whatever
// level was asked for), concatenated; forgets them.
std::string LogSinkTakeRecentProblems();

// A log context for lws's lines about one session's connections
// (lws_client_connect_info.log_cx): they reach JS as kLog events of that
// session, for its `logger`. Service thread only, like the session. lws
// counts the connections bound to it; a connection can outlive its session
// (abandoned ones close later), so the context is freed once the session
// has released it and no connection is bound any more.
struct SessionLog {
  lws_log_cx_t cx{};
  uint32_t session = 0;
  bool released = false;
  // The levels to format for the next connection: warnings and errors
  // always (the failure classifier reads them), the rest as asked.
  void Refresh();
};
SessionLog* SessionLogCreate(uint32_t session);
void SessionLogRelease(SessionLog* log);

}  // namespace nlws
