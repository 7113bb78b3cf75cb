// lws logs through one process-global emit callback. Lines go to the event
// batch of the service thread that logged them (so each environment sees its
// own), as kLog events; lines from other threads are dropped. Lines reach
// JS at the union of the levels the environments asked for (none by default);
// warnings and errors are also kept briefly for the failure classifier.
#pragma once

#include <string>

namespace nlws {

void LogSinkSetLevel(void* owner, int level);  // level 0 removes the owner

// The last few lws warning and error lines logged on this thread (whatever
// level was asked for), concatenated; forgets them.
std::string LogSinkTakeRecentProblems();

}  // namespace nlws
