// lws logs through one process-global emit callback. Lines go to the event
// batch of the service thread that logged them (so each environment sees its
// own), as kLog events; lines from other threads are dropped. The lws level
// is the union of what the environments asked for, and 0 (off) by default.
#pragma once

namespace nlws {

void LogSinkSetLevel(void* owner, int level);  // level 0 removes the owner

}  // namespace nlws
