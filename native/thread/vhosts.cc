#include "vhosts.h"

#include <openssl/ssl.h>

#include <cstring>

#include "../connection/connection.h"

namespace nlws {

// The TLS part of a vhost's key: connections with equal settings share one.
static std::string TlsKey(const TlsSettings& t) {
  std::string k = t.rejectUnauthorized ? "v" : "n";
  // The relaxations are per connection in lws, but a vhost's connections
  // could share TLS state: keep strict and relaxed connections apart.
  k += t.allowSelfSigned ? "s" : "-";
  k += t.allowUnknownCA ? "u" : "-";
  k += t.allowInvalidDates ? "d" : "-";
  k += t.allowHostMismatch ? "h" : "-";
  k += "|" + t.caKey + "|" + t.certPem + "|" + t.keyPem + "|" + t.passphrase;
  return k;
}

struct lws_vhost* Vhosts::For(struct lws_context* ctx, const Connection& conn) {
  const ConnectOptions& o = *conn.opts;
  std::string proxy;
  if (o.proxy.enabled()) {
    // lws parses "[user:pass@]address:port"; IPv6 goes in brackets.
    std::string a = conn.proxyAddress.find(':') != std::string::npos ? "[" + conn.proxyAddress + "]"
                                                                    : conn.proxyAddress;
    proxy = (o.proxy.auth.empty() ? "" : o.proxy.auth + "@") + a + ":" + std::to_string(o.proxy.port);
  }
  std::string key = (o.perMessageDeflate ? "d|" : "p|") + proxy + "|" + TlsKey(o.tls);
  auto it = vhosts_.find(key);
  if (it != vhosts_.end()) return it->second;

  struct lws_context_creation_info info;
  memset(&info, 0, sizeof info);
  std::string name = "nlws-" + std::to_string(vhosts_.size());
  info.vhost_name = name.c_str();
  info.port = CONTEXT_PORT_NO_LISTEN;
  info.protocols = ClientProtocols();
  info.extensions = o.perMessageDeflate ? ClientExtensions() : nullptr;
  info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_JUST_USE_RAW_ORIGIN;
  // TLS alerts reach the connection (LWS_CALLBACK_SSL_INFO): a server that
  // refuses us names why (certificate required, unknown CA, ...) only there.
  info.ssl_info_event_mask = SSL_CB_ALERT;
#ifdef SSL_OP_IGNORE_UNEXPECTED_EOF
  // A server that drops TCP without a TLS close_notify (most, when they
  // restart) would otherwise be a fatal TLS error, and OpenSSL discards the
  // session of a connection that ended in one: the reconnect could not
  // resume it. WebSocket frames its messages itself (a cut-off one is
  // never delivered), so TLS-level truncation detection adds nothing here.
  info.ssl_client_options_set = SSL_OP_IGNORE_UNEXPECTED_EOF;
#endif
  // lws reads $http_proxy when no proxy is given; Node does not, and neither
  // do we: "<none>:0" parses as "no proxy" (port 0) and stops that lookup.
  info.http_proxy_address = proxy.empty() ? "none:0" : proxy.c_str();
  const std::vector<std::string>& ca = trustStores_[o.tls.caKey];
  if (!ca.empty()) {
    // The first certificate replaces OpenSSL's default store (the build
    // machine's paths); the rest are added to it below.
    info.client_ssl_ca_mem = ca[0].data();
    info.client_ssl_ca_mem_len = static_cast<unsigned int>(ca[0].size());
  }
  if (!o.tls.certPem.empty()) {
    info.client_ssl_cert_mem = o.tls.certPem.data();
    info.client_ssl_cert_mem_len = static_cast<unsigned int>(o.tls.certPem.size());
  }
  if (!o.tls.keyPem.empty()) {
    info.client_ssl_key_mem = o.tls.keyPem.data();
    info.client_ssl_key_mem_len = static_cast<unsigned int>(o.tls.keyPem.size());
  }
  if (!o.tls.passphrase.empty()) info.client_ssl_private_key_password = o.tls.passphrase.c_str();
  struct lws_vhost* vh = lws_create_vhost(ctx, &info);
  if (!vh) return nullptr;
  for (size_t i = 1; i < ca.size(); i++) {
    lws_tls_client_vhost_extra_cert_mem(vh, reinterpret_cast<const uint8_t*>(ca[i].data()),
                                        ca[i].size());
  }
  vhosts_[key] = vh;
  return vh;
}

void Vhosts::KeepTrustStore(TlsSettings& tls) {
  if (!tls.caDer.empty()) trustStores_[tls.caKey] = std::move(tls.caDer);
}

void Vhosts::Clear() {
  vhosts_.clear();
  trustStores_.clear();
}

}  // namespace nlws
