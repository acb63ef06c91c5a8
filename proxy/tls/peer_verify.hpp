#pragma once
// Who may be on the other end of a connection: the peer's chain must verify to the
// CA of one of the route's peer roles, and the leaf must then pass that role's peer
// rules (tls::check_peer: validity, the usage's EKU, peer_names). Shared by server
// contexts (client certificates) and client contexts (upstream servers).

#include <memory>
#include <string>
#include <vector>

#include "proxy/tls/crl.hpp"
#include "proxy/tls/openssl.hpp"
#include "proxy/tls/policy.hpp"

namespace vmsgate::tls {

// One peer role as read from disk, once per build.
struct peer_role_source {
  role_policy policy;
  std::string ca_pem;
  std::vector<std::string> crls;  // the bytes of each of policy.crl_paths
};

// One context's copy, parsed for it alone: workers share no X509 objects.
struct peer_trust {
  struct role {
    role_policy policy;
    std::vector<x509_ptr> cas;
    std::vector<x509_crl_ptr> crls;
  };
  usage peer_usage = usage::server;
  std::vector<role> roles;
};

// Installs a trust store holding only these roles' CAs, `verify_mode`
// (SSL_VERIFY_PEER, optionally with FAIL_IF_NO_PEER_CERT) and the callback that
// applies each role's peer rules. The returned object must outlive `ctx`.
// Throws std::runtime_error naming what could not be loaded.
std::unique_ptr<peer_trust> install_peer_verification(SSL_CTX* ctx, const std::vector<peer_role_source>& roles,
                                                      usage peer_usage, int verify_mode);

// The peer's certificate: the verified one, or, when verification refused it, the
// one the peer presented (for logging a refusal with its subject); nullptr if none.
X509* presented_certificate(const SSL* ssl);
// Why the role's own check (names, usage, key rules) refused the peer, with the
// rule's id; null if it did not.
const std::string* peer_refusal(const SSL* ssl);
// Keeps `why` as the SSL's refusal (the first one noted wins), for a refusal made
// outside certificate verification: the ClientHello callback's.
void note_refusal(SSL* ssl, const std::string& why) noexcept;

// Reads the CA file and the CRL files of each role; throws std::runtime_error
// naming the file.
std::vector<peer_role_source> read_peer_roles(const std::vector<role_policy>& roles);

}  // namespace vmsgate::tls
