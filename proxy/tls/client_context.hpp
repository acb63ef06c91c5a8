#pragma once
// Immutable client-side TLS contexts for originate routes: the upstream is always
// verified (chain to a peer role's CA, host name, the role's peer rules); there is
// no way to turn that off. One context per worker, as on the server side.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "proxy/tls/context_common.hpp"
#include "proxy/tls/openssl.hpp"
#include "proxy/tls/peer_verify.hpp"

namespace vmsgate::tls {

struct client_identity {
  std::string route;
  std::optional<identity_pem> own;  // presented for mutual TLS when set
  bool allow_ecdsa = false;
  std::vector<peer_role_source> peers;  // roles the upstream server may belong to
};

struct client_context {
  std::unique_ptr<peer_trust> trust;
  ssl_ctx_ptr ctx;
};

// Throws std::runtime_error.
std::shared_ptr<const client_context> make_client_context(const client_identity& id);

// Prepares one connection: SNI (unless `server_name` is an IP address), the name the
// certificate must carry, and the session to resume. New sessions the server sends
// are stored in `*session_slot`, which must outlive the SSL object.
bool prepare_client(SSL* ssl, const std::string& server_name, ssl_session_ptr* session_slot);

}  // namespace vmsgate::tls
