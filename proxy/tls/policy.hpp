#pragma once
// The per-role certificate policy engine. Loading (files -> owned OpenSSL objects)
// is kept apart from judging (objects + policy + the current time -> findings), so
// that the judging is pure: no globals, no sockets, no clock of its own. `check`,
// `run`, reload and the handshake's peer verification all call the same functions.
//
// Rule ids are stable; scripts and tests match on them:
//   cert_unreadable, chain_untrusted, name_not_covered, expired, not_yet_valid,
//   expires_soon (warning), key_not_rsa, key_too_small, missing_server_auth,
//   missing_client_auth, eku_absent (warning), key_unreadable,
//   key_permissions (warning), key_mismatch, ca_unreadable, ca_expired,
//   ca_expiring (warning), peer_name_not_allowed (peer checks only),
//   role_uri_mismatch, role_uri_missing (peer checks only).

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "proxy/tls/certificate.hpp"

namespace vmsgate::tls {

enum class severity { error, warning };

// What the certificate is used for: a route in terminate mode presents a server
// certificate, one in originate mode a client certificate (and vice versa for peers).
enum class usage { server, client };

struct finding {
  severity level = severity::error;
  std::string rule;     // stable id from the list above
  std::string message;  // plain words naming the route, the file and the rule
};

struct role_policy {
  std::string name;
  std::string ca_path;
  int min_rsa_bits = 2048;
  bool allow_ecdsa = false;
  std::chrono::seconds expiry_warning{std::chrono::hours(24 * 30)};
  std::vector<std::string> peer_names;  // patterns a peer's DNS SAN (or CN) must match one of
  // A peer of this role must carry urn:vmsgate:role:NAME. Whatever this says, a
  // certificate that carries any vmsgate role URI must carry this role's.
  bool require_role_uri = false;
  std::vector<std::string> crl_paths;  // the role CA's CRLs (tls/crl.hpp)
};

// A role's trust anchors: every certificate of the CA bundle.
struct ca_bundle {
  std::string path;
  std::vector<x509_ptr> certs;
  std::string error;  // set when the file cannot be read or holds no certificate
};

// A route's own certificate chain (leaf first) and its private key.
struct cert_file {
  std::string path;
  std::vector<x509_ptr> chain;
  std::string error;
};
struct key_file {
  std::string path;
  pkey_ptr key;
  std::string error;
  std::optional<mode_t> mode;
};

// What a route presents and for what.
struct own_certificate {
  std::string route;
  enum usage usage = usage::server;
  std::vector<std::string> server_names;  // each must be covered (server usage)
  cert_file cert;
  key_file key;
};

ca_bundle load_ca(const std::string& path);
cert_file load_cert_file(const std::string& path);
key_file load_key_file(const std::string& path);  // empty path: "no key file is configured"

// The role's CA itself: unreadable, expired, or expiring within expiry_warning.
std::vector<finding> check_ca(const role_policy& role, const ca_bundle& ca, clock::time_point now);

// Every rule for a route's own certificate and key. Chain verification is skipped
// when the CA could not be loaded, because check_ca reports that once per role.
std::vector<finding> check_own(const role_policy& role, const ca_bundle& ca, const own_certificate& own,
                               clock::time_point now);

// The rules that apply to a peer's certificate once OpenSSL has verified its chain
// against the role's CA: validity, the EKU for `peer_usage`, and the role's
// peer_names. Messages name the peer by subject and serial.
std::vector<finding> check_peer(const role_policy& role, X509* peer, usage peer_usage, clock::time_point now);

// Convenience for callers holding paths: loads and runs check_own.
std::vector<finding> check_files(const role_policy& role, const ca_bundle& ca, const std::string& route,
                                 usage use, const std::vector<std::string>& server_names,
                                 const std::string& cert_path, const std::string& key_path,
                                 clock::time_point now);

bool has_error(const std::vector<finding>& findings);

}  // namespace vmsgate::tls
