// The vhost cache of one service thread. lws keeps TLS settings (trust
// store, client certificate), the proxy and the compression extension per
// vhost, so connections with equal settings share one, created on first
// use and kept until the context goes. Service thread only.
#pragma once
#include <libwebsockets.h>

#include <map>
#include <string>
#include <vector>

#include "../connect_options.h"

namespace nlws {

struct Connection;

class Vhosts {
 public:
  // The vhost for `c`'s settings in `ctx`; nullptr if lws could not make it.
  struct lws_vhost* For(struct lws_context* ctx, const Connection& c);
  // Keeps a trust store sent with a connect (its DER certificates, moved
  // out of `tls`) for the vhosts made with its caKey.
  void KeepTrustStore(TlsSettings& tls);
  // The context is gone, and its vhosts with it.
  void Clear();

 private:
  std::map<std::string, struct lws_vhost*> vhosts_;
  std::map<std::string, std::vector<std::string>> trustStores_;  // caKey -> DER certs
};

}  // namespace nlws
