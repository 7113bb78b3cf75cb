#include "resolver.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <thread>

namespace nlws {

bool IsNumericHost(const std::string& host) {
  unsigned char buf[sizeof(struct in6_addr)];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
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

void ResolveAsync(const std::string& host, bool preferIpv4,
                  std::function<void(std::string, std::string)> done) {
  std::thread([host, preferIpv4, done = std::move(done)]() {
    struct addrinfo hints = {};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_ADDRCONFIG;
    struct addrinfo* res = nullptr;
    int rc = getaddrinfo(host.c_str(), nullptr, &hints, &res);
    if (rc != 0 || res == nullptr) {
      done("", ErrorName(rc));
      return;
    }
    // getaddrinfo already orders by RFC 6724; preferIpv4 picks the first
    // IPv4 result when there is one (what Node's dns does with verbatim=false).
    struct addrinfo* pick = res;
    if (preferIpv4) {
      for (auto* a = res; a; a = a->ai_next) {
        if (a->ai_family == AF_INET) { pick = a; break; }
      }
    }
    char buf[INET6_ADDRSTRLEN] = {0};
    const void* src = pick->ai_family == AF_INET
                          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(pick->ai_addr)->sin_addr)
                          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(pick->ai_addr)->sin6_addr);
    inet_ntop(pick->ai_family, src, buf, sizeof buf);
    freeaddrinfo(res);
    done(buf, "");
  }).detach();
}

}  // namespace nlws
