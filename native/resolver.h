// Name resolution off the service thread: lws would call getaddrinfo()
// synchronously inside lws_client_connect_via_info(), stalling every other
// connection of the environment for the length of a slow lookup. Each lookup
// runs on a short-lived helper thread and reports back as a command.
#pragma once
#include <functional>
#include <string>

namespace nlws {

// Calls done(address, error) on the helper thread: a numeric address, or an
// empty address and an errno-style code ("ENOTFOUND", "EAI_AGAIN", ...).
void ResolveAsync(const std::string& host, bool preferIpv4,
                  std::function<void(std::string address, std::string error)> done);

// True when `host` is already a numeric IPv4 or IPv6 address.
bool IsNumericHost(const std::string& host);

}  // namespace nlws
