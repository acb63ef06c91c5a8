#include "proxy/tls/server_context.hpp"

#include <algorithm>
#include <array>
#include <ctime>
#include <stdexcept>
#include <string>

#include "proxy/tls/name_match.hpp"
#include "proxy/tls/record_layer.hpp"
#include "proxy/tls/session_lifetime.hpp"

namespace vmsgate::tls {
namespace {

// What a resumed session may stand for. OpenSSL resumes only within one session ID
// context and does not re-check the client certificate on resumption, and every
// route shares the ticket keys: so the context names the route and everything its
// client authentication depends on (CAs, names, key rules). A ticket from another route, or from before a
// reload that changed whom the route trusts, then gets a full handshake.
int context_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

std::array<unsigned char, 32> session_context(const server_identity& id) {
  std::string material = "vmsgate\n" + id.route + "\n" + std::to_string(static_cast<int>(id.client_auth));
  for (const auto& peer : id.peers) {
    material += "\nrole " + peer.policy.name + "\n" + peer.ca_pem + "\nkeys " +
                std::to_string(peer.policy.min_rsa_bits) + (peer.policy.allow_ecdsa ? " ecdsa" : " rsa");
    for (const auto& name : peer.policy.peer_names) material += "\npeer " + name;
    // A new CRL (a revocation) or a stricter role-URI rule ends every session that
    // an earlier trust let in: each client shows its certificate again.
    material += peer.policy.require_role_uri ? "\nrole-uri required" : "\nrole-uri optional";
    for (const auto& crl : peer.crls) material += "\ncrl " + crl;
  }
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  if (EVP_Digest(material.data(), material.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
    fail(id.route, "cannot compute the session context");
  return digest;
}

// A client asked for the certificate's status (status_request): the route's OCSP
// response, while it is current. Past its nextUpdate nothing is stapled, and the
// client asks the CA itself.
int on_status_request(SSL* ssl, void* arg) {
  const auto* ctx = static_cast<const server_context*>(arg);
  if (!ctx->staple || clock::now() >= ctx->staple->next_update) return SSL_TLSEXT_ERR_NOACK;
  const std::string& der = ctx->staple->der;
  auto* copy = static_cast<unsigned char*>(OPENSSL_memdup(der.data(), der.size()));  // OpenSSL frees it
  if (copy == nullptr) return SSL_TLSEXT_ERR_NOACK;
  if (SSL_set_tlsext_status_ocsp_resp(ssl, copy, static_cast<long>(der.size())) != 1) {
    OPENSSL_free(copy);
    return SSL_TLSEXT_ERR_NOACK;
  }
  return SSL_TLSEXT_ERR_OK;
}

int on_server_name(SSL* ssl, int* alert, void* arg) {
  const auto* ctx = static_cast<const server_context*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  // Clients that dial an IP address send no SNI (some wrongly send the address
  // itself); the certificate policy covers addresses through IP SANs.
  if (name == nullptr || ctx->any_name || canonical_ip(name)) return SSL_TLSEXT_ERR_OK;
  for (const auto& pattern : ctx->server_names)
    if (dns_name_matches(pattern, name)) return SSL_TLSEXT_ERR_OK;
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

// Resumption never outlives trust (session_lifetime.hpp). Each ticket carries the time
// of the full handshake its session came from, and its lifetime (the hint the client
// gets, and the limit OpenSSL checks) ends at that time plus tls.session_lifetime, or
// at the client certificate's notAfter if sooner.
int on_ticket_made(SSL* ssl, void* arg) {
  const auto* ctx = static_cast<const server_context*>(arg);
  SSL_SESSION* session = SSL_get_session(ssl);
  if (session == nullptr) return 1;
  const std::time_t born = ticket_born(session).value_or(SSL_SESSION_get_time(session));
  if (!set_ticket_born(session, born)) return 0;
  const std::time_t left = resumable_until(session, born, ctx->session_lifetime) - SSL_SESSION_get_time(session);
  SSL_SESSION_set_timeout(session, static_cast<long>(std::max<std::time_t>(left, 1)));
  return 1;
}

// A ticket that decrypted is used only while its session may still be resumed now;
// otherwise the client gets a full handshake (its certificate checked as it is now)
// and a fresh ticket, never a refusal.
SSL_TICKET_RETURN on_ticket_read(SSL*, SSL_SESSION* session, const unsigned char*, std::size_t,
                                 SSL_TICKET_STATUS status, void* arg) {
  const auto* ctx = static_cast<const server_context*>(arg);
  if (status != SSL_TICKET_SUCCESS && status != SSL_TICKET_SUCCESS_RENEW) return SSL_TICKET_RETURN_IGNORE_RENEW;
  const std::time_t born = ticket_born(session).value_or(SSL_SESSION_get_time(session));
  if (!resumable_at(session, born, ctx->session_lifetime, std::time(nullptr))) return SSL_TICKET_RETURN_IGNORE_RENEW;
  return SSL_TICKET_RETURN_USE_RENEW;
}

// A TLS 1.2 session cached by id (a client that takes no tickets) ends the same way.
int on_session_cached(SSL* ssl, SSL_SESSION* session) {
  const auto* ctx = static_cast<const server_context*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
  if (ctx != nullptr && SSL_version(ssl) != TLS1_3_VERSION) {
    const std::time_t left =
        resumable_until(session, SSL_SESSION_get_time(session), ctx->session_lifetime) - SSL_SESSION_get_time(session);
    SSL_SESSION_set_timeout(session, static_cast<long>(std::max<std::time_t>(left, 1)));
  }
  return 0;  // OpenSSL keeps its reference
}

// The ClientHello callback of a route on a shared address or with ACME: the route
// is chosen first (which may swap the SSL's context), then the chosen route's
// ACME answers apply.
int on_client_hello(SSL* ssl, int* alert, void* arg) {
  const auto* first = static_cast<const server_context*>(arg);
  if (first->route_hello != nullptr) {
    const int chosen = first->route_hello(ssl, alert, nullptr);
    if (chosen != SSL_CLIENT_HELLO_SUCCESS) return chosen;
  }
  const auto* ctx = static_cast<const server_context*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), context_index()));
  if (ctx == nullptr || !ctx->acme) return SSL_CLIENT_HELLO_SUCCESS;
  return answer_acme_hello(ssl, *ctx->acme, ctx->pending, alert);
}

int verify_mode(client_auth auth) {
  switch (auth) {
    case client_auth::none: return SSL_VERIFY_NONE;
    case client_auth::optional: return SSL_VERIFY_PEER;
    case client_auth::required: return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
  }
  return SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
}

}  // namespace

std::shared_ptr<const server_context> make_server_context(const server_identity& id,
                                                          std::shared_ptr<const ticket_keyring> tickets) {
  auto result = std::make_shared<server_context>();
  result->server_names = id.server_names;
  result->any_name = id.any_name;
  result->session_lifetime = id.session_lifetime;
  result->staple = id.staple;
  result->ctx.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = result->ctx.get();
  if (ctx == nullptr) fail(id.route, "cannot create a TLS context");
  apply_common_settings(ctx, id.route, id.allow_ecdsa);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  const auto sid_ctx = session_context(id);
  SSL_CTX_set_session_id_context(ctx, sid_ctx.data(), static_cast<unsigned int>(sid_ctx.size()));
  SSL_CTX_set_num_tickets(ctx, 1);
  if (context_index() < 0 || SSL_CTX_set_ex_data(ctx, context_index(), result.get()) != 1 ||
      SSL_CTX_set_session_ticket_cb(ctx, on_ticket_made, on_ticket_read, result.get()) != 1) {
    fail(id.route, "cannot install the session lifetime callbacks");
  }
  SSL_CTX_sess_set_new_cb(ctx, on_session_cached);
  try {
    result->tickets = install_ticket_keys(ctx, std::move(tickets));
  } catch (const std::exception& e) {
    fail(id.route, e.what());
  }

  use_identity(ctx, id.route, id.own, id.allow_ecdsa);
  SSL_CTX_set_tlsext_servername_callback(ctx, on_server_name);
  SSL_CTX_set_tlsext_servername_arg(ctx, result.get());
  result->route_hello = id.on_client_hello;
  result->acme = id.acme;
  result->pending = id.pending;
  if (id.on_client_hello != nullptr || id.acme) SSL_CTX_set_client_hello_cb(ctx, on_client_hello, result.get());
  if (id.acme) SSL_CTX_set_alpn_select_cb(ctx, select_acme_protocol, nullptr);
  if (result->staple) {
    SSL_CTX_set_tlsext_status_cb(ctx, on_status_request);
    SSL_CTX_set_tlsext_status_arg(ctx, result.get());
  }
  if (id.client_auth != client_auth::none) {
    try {
      result->trust = install_peer_verification(ctx, id.peers, usage::client, verify_mode(id.client_auth));
    } catch (const std::exception& e) {
      fail(id.route, e.what());
    }
  }
  return result;
}

void forget_tls12_session(SSL_CTX* ctx, std::span<const unsigned char> id) noexcept {
  // The cache finds a session by protocol version and id: a stand-in with both finds
  // the cached one.
  const ssl_session_ptr key(SSL_SESSION_new());
  if (ctx == nullptr || id.empty() || !key || SSL_SESSION_set_protocol_version(key.get(), TLS1_2_VERSION) != 1 ||
      SSL_SESSION_set1_id(key.get(), id.data(), static_cast<unsigned int>(id.size())) != 1) {
    return;
  }
  SSL_CTX_remove_session(ctx, key.get());
}

}  // namespace vmsgate::tls
