#include "proxy/tls/server_context.hpp"

#include <array>
#include <stdexcept>
#include <string>

#include "proxy/tls/name_match.hpp"
#include "proxy/tls/record_layer.hpp"

namespace vmsgate::tls {
namespace {

// What a resumed session may stand for. OpenSSL resumes only within one session ID
// context and does not re-check the client certificate on resumption, and every
// route shares the ticket keys: so the context names the route and everything its
// client authentication depends on. A ticket from another route, or from before a
// reload that changed whom the route trusts, then gets a full handshake.
std::array<unsigned char, 32> session_context(const server_identity& id) {
  std::string material = "vmsgate\n" + id.route + "\n" + std::to_string(static_cast<int>(id.client_auth));
  for (const auto& peer : id.peers) {
    material += "\nrole " + peer.policy.name + "\n" + peer.ca_pem;
    for (const auto& name : peer.policy.peer_names) material += "\npeer " + name;
  }
  std::array<unsigned char, 32> digest{};
  unsigned int length = 0;
  if (EVP_Digest(material.data(), material.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1)
    fail(id.route, "cannot compute the session context");
  return digest;
}

int on_server_name(SSL* ssl, int* alert, void* arg) {
  const auto* ctx = static_cast<const server_context*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  // Clients that dial an IP address send no SNI (some wrongly send the address
  // itself); the certificate policy covers addresses through IP SANs.
  if (name == nullptr || canonical_ip(name)) return SSL_TLSEXT_ERR_OK;
  for (const auto& pattern : ctx->server_names)
    if (dns_name_matches(pattern, name)) return SSL_TLSEXT_ERR_OK;
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
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
  result->ctx.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = result->ctx.get();
  if (ctx == nullptr) fail(id.route, "cannot create a TLS context");
  apply_common_settings(ctx, id.route, id.allow_ecdsa);
  SSL_CTX_set_options(ctx, SSL_OP_CIPHER_SERVER_PREFERENCE);
  const auto sid_ctx = session_context(id);
  SSL_CTX_set_session_id_context(ctx, sid_ctx.data(), static_cast<unsigned int>(sid_ctx.size()));
  SSL_CTX_set_num_tickets(ctx, 1);
  try {
    result->tickets = install_ticket_keys(ctx, std::move(tickets));
  } catch (const std::exception& e) {
    fail(id.route, e.what());
  }

  use_identity(ctx, id.route, id.own, id.allow_ecdsa);
  SSL_CTX_set_tlsext_servername_callback(ctx, on_server_name);
  SSL_CTX_set_tlsext_servername_arg(ctx, result.get());
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
