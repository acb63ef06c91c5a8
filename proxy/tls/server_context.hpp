#pragma once
// Immutable server-side TLS contexts. Each worker gets its own SSL_CTX built from the
// same identity: OpenSSL 3.0 serialises handshakes that share objects across threads
// (openssl#20286), so nothing mutable is shared between workers.

#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "proxy/tls/acme_answers.hpp"
#include "proxy/tls/context_common.hpp"
#include "proxy/tls/ocsp.hpp"
#include "proxy/tls/openssl.hpp"
#include "proxy/tls/peer_verify.hpp"
#include "proxy/tls/ticket_keys.hpp"

namespace vmsgate::tls {

enum class client_auth { none, optional, required };

// What a terminate route presents and whom it accepts, read from disk once and
// parsed once per worker.
struct server_identity {
  std::string route;  // for messages
  identity_pem own;
  std::vector<std::string> server_names;  // SNI values accepted (DNS names; '*.' wildcards)
  bool allow_ecdsa = false;
  enum client_auth client_auth = client_auth::none;
  std::vector<peer_role_source> peers;  // roles a client certificate may belong to
  // How long after its full handshake a session may be resumed (tls.session_lifetime).
  std::chrono::seconds session_lifetime = std::chrono::hours(12);
  std::optional<ocsp_staple> staple;  // stapled when a client asks, until its nextUpdate
  // The route is its address's default: it takes a name none of its server_names cover.
  bool any_name = false;
  // Set on the routes of a shared address: chooses the route from the SNI
  // (net_io::session::on_client_hello).
  SSL_client_hello_cb_fn on_client_hello = nullptr;
  // Set on a route whose certificate comes from ACME: tls-alpn-01 validations are
  // answered from here. `pending`: the route has no certificate of its own yet
  // (`own` is a stand-in) and refuses every client but the validator.
  std::shared_ptr<const acme_answers> acme = nullptr;
  bool pending = false;
};

// The SSL_CTX and the data its callbacks read; the address is stable for the
// lifetime of the context. The trust data is declared first so it outlives ctx.
struct server_context {
  std::unique_ptr<peer_trust> trust;
  std::unique_ptr<ticket_crypto> tickets;
  std::vector<std::string> server_names;
  bool any_name = false;
  std::chrono::seconds session_lifetime = std::chrono::hours(12);
  std::optional<ocsp_staple> staple;
  SSL_client_hello_cb_fn route_hello = nullptr;
  std::shared_ptr<const acme_answers> acme;
  bool pending = false;
  ssl_ctx_ptr ctx;
};

// Builds one worker's context: common settings, SNI checked against server_names,
// client certificates per client_auth. Throws std::runtime_error.
std::shared_ptr<const server_context> make_server_context(const server_identity& id,
                                                          std::shared_ptr<const ticket_keyring> tickets);

// Removes the TLS 1.2 session with this id from `ctx`'s cache, as OpenSSL does
// after a fatal alert sent or received (RFC 5246 section 7.2.2): the record layer
// says when, once the SSL is long gone. A ticket, being the client's, stays.
void forget_tls12_session(SSL_CTX* ctx, std::span<const unsigned char> id) noexcept;

}  // namespace vmsgate::tls
