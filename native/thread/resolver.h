// Name resolution off the service thread: lws would call getaddrinfo()
// synchronously inside lws_client_connect_via_info(), stalling every other
// connection of the environment for the length of a slow lookup. Each lookup
// runs on a short-lived helper thread and reports back as a command.
#pragma once
#include <functional>
#include <string>
#include <vector>

namespace nlws {

// Calls done(addresses, error) on the helper thread: every numeric address
// getaddrinfo gave (its RFC 6724 order, duplicates removed), or none and an
// errno-style code ("ENOTFOUND", "EAI_AGAIN", ...). family 4 or 6 asks for
// that family only; 0 for both.
void ResolveAsync(const std::string& host, int family,
                  std::function<void(std::vector<std::string> addresses, std::string error)> done);

// True when `host` is already a numeric IPv4 or IPv6 address.
bool IsNumericHost(const std::string& host);
// 4 or 6 for a numeric address, else 0.
int AddressFamily(const std::string& address);

// The order in which to try addresses (RFC 8305 section 4): the first
// address's family first, then the families alternate, each keeping its
// own order. Keeps only `family` (4 or 6) when given.
std::vector<std::string> OrderForRacing(const std::vector<std::string>& addresses, int family);

}  // namespace nlws
