#include "resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <algorithm>
#include <thread>

namespace nlws {

bool IsNumericHost(const std::string& host) { return AddressFamily(host) != 0; }

int AddressFamily(const std::string& address) {
  unsigned char buf[sizeof(struct in6_addr)];
  if (inet_pton(AF_INET, address.c_str(), buf) == 1) return 4;
  if (inet_pton(AF_INET6, address.c_str(), buf) == 1) return 6;
  return 0;
}

std::vector<std::string> OrderForRacing(const std::vector<std::string>& addresses, int family) {
  std::vector<std::string> v4, v6;
  int first = 0;
  for (const auto& a : addresses) {
    int f = AddressFamily(a);
    if (f == 0 || (family && f != family)) continue;
    auto& list = f == 4 ? v4 : v6;
    if (std::find(list.begin(), list.end(), a) != list.end()) continue;
    list.push_back(a);
    if (!first) first = f;
  }
  std::vector<std::string> out;
  auto& a = first == 6 ? v6 : v4;
  auto& b = first == 6 ? v4 : v6;
  for (size_t i = 0; i < a.size() || i < b.size(); i++) {
    if (i < a.size()) out.push_back(a[i]);
    if (i < b.size()) out.push_back(b[i]);
  }
  return out;
}

static std::string ErrorName(int rc) {
  switch (rc) {
    case EAI_NONAME: return "ENOTFOUND";
#ifdef EAI_NODATA
    case EAI_NODATA: return "ENOTFOUND";
#endif
    case EAI_AGAIN: return "EAI_AGAIN";
    case EAI_FAIL: return "EAI_FAIL";
    default: return "ENOTFOUND";
  }
}

void ResolveAsync(const std::string& host, int family,
                  std::function<void(std::vector<std::string>, std::string)> done) {
  std::thread([host, family, done = std::move(done)]() {
    struct addrinfo hints = {};
    hints.ai_family = family == 4 ? AF_INET : family == 6 ? AF_INET6 : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    // As Node's net.connect: with no family asked for, only families this
    // host has an address of (loopback aside), so a machine without IPv6
    // does not try AAAA ones.
    hints.ai_flags = family ? 0 : AI_ADDRCONFIG;
    struct addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
      done({}, ErrorName(rc));
      return;
    }
    std::vector<std::string> out;
    for (auto* a = res; a; a = a->ai_next) {
      if (a->ai_family != AF_INET && a->ai_family != AF_INET6) continue;
      char buf[INET6_ADDRSTRLEN] = {0};
      const void* src = a->ai_family == AF_INET
                            ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr)
                            : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr);
      if (!inet_ntop(a->ai_family, src, buf, sizeof buf)) continue;
      if (std::find(out.begin(), out.end(), buf) == out.end()) out.emplace_back(buf);
    }
    freeaddrinfo(res);
    if (out.empty()) {
      done({}, "ENOTFOUND");
      return;
    }
    done(std::move(out), "");
  }).detach();
}

}  // namespace nlws
