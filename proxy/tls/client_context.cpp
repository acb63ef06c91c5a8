#include "proxy/tls/client_context.hpp"

#include <openssl/x509v3.h>

#include "proxy/tls/name_match.hpp"
#include "proxy/tls/session_lifetime.hpp"

namespace vmsgate::tls {
namespace {

// TLS 1.3 tickets arrive after the handshake; each replaces the slot's session so
// the next connection to the same backend resumes instead of paying for RSA.
// A copy is cached, not the connection's own session: OpenSSL marks that one
// unresumable if the connection later ends uncleanly, and other workers read it.
int on_new_session(SSL* ssl, SSL_SESSION* session) {
  const auto* target = static_cast<const session_target*>(SSL_get_app_data(ssl));
  if (target == nullptr || target->cache == nullptr) return 0;
  ssl_session_ptr copy(SSL_SESSION_dup(session));
  // A resumption's ticket keeps the time of the full handshake it goes back to.
  const std::time_t born = SSL_session_reused(ssl) == 1 && target->born != 0 ? target->born : std::time(nullptr);
  if (copy) target->cache->put(target->backend, std::move(copy), born);
  return 0;  // OpenSSL keeps its reference
}

}  // namespace

std::shared_ptr<const client_context> make_client_context(const client_identity& id) {
  auto result = std::make_shared<client_context>();
  result->ctx.reset(SSL_CTX_new(TLS_client_method()));
  SSL_CTX* ctx = result->ctx.get();
  if (ctx == nullptr) fail(id.route, "cannot create a TLS context");
  apply_common_settings(ctx, id.route, id.allow_ecdsa);
  if (id.own) use_identity(ctx, id.route, *id.own, id.allow_ecdsa);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_sess_set_new_cb(ctx, on_new_session);
  try {
    result->trust = install_peer_verification(ctx, id.peers, usage::server, SSL_VERIFY_PEER);
  } catch (const std::exception& e) {
    fail(id.route, e.what());
  }
  return result;
}

session_cache::entry session_cache::take(std::size_t backend, std::time_t now) {
  std::lock_guard lock(mutex_);
  auto& q = sessions_[backend];
  while (!q.empty()) {
    entry e = std::move(q.back());
    q.pop_back();
    if (resumable_at(e.session.get(), e.born, lifetime_, now)) return e;
  }
  return {};
}

void session_cache::put(std::size_t backend, ssl_session_ptr session, std::time_t born) {
  std::lock_guard lock(mutex_);
  auto& q = sessions_[backend];
  q.push_back({std::move(session), born});
  if (q.size() > per_backend_) q.pop_front();
}

bool prepare_client(SSL* ssl, const std::string& server_name, session_target* target) {
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (canonical_ip(server_name)) {
    if (X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str()) != 1) return false;
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (SSL_set_tlsext_host_name(ssl, server_name.c_str()) != 1) return false;
    if (SSL_set1_host(ssl, server_name.c_str()) != 1) return false;
  }
  SSL_set_app_data(ssl, target);
  if (target != nullptr && target->cache != nullptr) {
    // SSL_set_session takes its own reference; ours goes when `resume` does.
    const session_cache::entry resume = target->cache->take(target->backend);
    target->born = resume.born;
    if (resume.session && SSL_set_session(ssl, resume.session.get()) != 1) return false;
  }
  return true;
}

}  // namespace vmsgate::tls
