// OpenSSL's side of the opening handshake: the certificate check the allow*
// options relax, the server's fatal alerts (they name a refused session),
// and the client SSL_CTX's read buffers.
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "internal.h"

namespace nlws::conn {

namespace {

// OpenSSL's read buffer with read-ahead (see ConfigureClientTls).
constexpr size_t kTlsReadBuffer = 64 * 1024;

}  // namespace

// LWS_CALLBACK_OPENSSL_PERFORM_SERVER_CERT_VERIFICATION. store: the
// X509_STORE_CTX; preverifyOk: OpenSSL's. lws calls this only for errors
// its flags did not accept (the allow* options). rejectUnauthorized: false
// accepts the rest too (a purpose or CA constraint no flag covers):
// clearing the error makes lws go on. Otherwise the first error is noted:
// it names the failure.
void OnVerifyCertificate(struct lws* wsi, void* store, size_t preverifyOk) {
  Connection* c = ConnOf(wsi);
  if (!c || preverifyOk != 0 || !store) return;
  auto* ctx = static_cast<X509_STORE_CTX*>(store);
  if (c->opts && !c->opts->tls.rejectUnauthorized) {
    X509_STORE_CTX_set_error(ctx, X509_V_OK);
    return;
  }
  if (c->tlsVerifyError == 0) c->tlsVerifyError = X509_STORE_CTX_get_error(ctx);
}

// LWS_CALLBACK_SSL_INFO: alerts only (the vhost's ssl_info_event_mask). A
// fatal alert read from the server says why it refused the handshake.
void OnSslInfo(struct lws* wsi, const void* info) {
  Connection* c = ConnOf(wsi);
  auto* si = static_cast<const struct lws_ssl_info*>(info);
  if (c && si && (si->where & SSL_CB_READ) && ((si->ret >> 8) & 0xff) == SSL3_AL_FATAL &&
      c->tlsAlert < 0)
    c->tlsAlert = si->ret & 0xff;
}

// LWS_CALLBACK_OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS: a TLS vhost's new
// client SSL_CTX. With read-ahead one read() takes as many records as a
// 64 KiB buffer holds, instead of a header read and a body read per record
// (lws sees the records buffered so: deps/patch-lws.py, 16); OpenSSL's
// buffers are freed while a connection has nothing buffered, so an idle
// connection holds neither.
void ConfigureClientTls(void* sslCtx) {
  auto* ctx = static_cast<SSL_CTX*>(sslCtx);
  if (!ctx) return;
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_default_read_buffer_len(ctx, kTlsReadBuffer);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
}

}  // namespace nlws::conn
