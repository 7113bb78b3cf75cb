// Caps on what a server can make a connection hold, in one place so the
// code that enforces them and the messages that quote them agree.
#pragma once

#include <cstddef>

namespace nlws {

// lws's header table per connecting wsi (context-wide; freed at open). It
// holds the request's URI, Host and Origin and then the whole response head
// (status line, header names and values): a response that does not fit
// fails the attempt with ERR_RESPONSE_HEADERS_TOO_LARGE. 16 KiB is Node's
// http maxHeaderSize default; lws's own default is 4 KiB.
constexpr unsigned kHeaderTableBytes = 16 * 1024;

}  // namespace nlws
