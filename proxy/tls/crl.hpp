#pragma once
// Certificate revocation lists of a role's CA (roles.R.crl): loaded with the role's
// certificates (all or nothing on reload), checked against the CA that must have
// signed them, and consulted for every peer certificate of the role at handshake.
//
// A CRL past its nextUpdate is a warning, not an error, and it is still used: by
// choice, a CA that is late publishing must not lock a site out of its own
// recording servers (the alert VmsgateCrlOutdated and `check` say so instead).

#include <chrono>
#include <string>
#include <vector>

#include "proxy/tls/openssl.hpp"
#include "proxy/tls/policy.hpp"

namespace vmsgate::tls {

using x509_crl_ptr = std::unique_ptr<X509_CRL, openssl_deleter<X509_CRL_free>>;

struct crl_file {
  std::string path;
  std::vector<x509_crl_ptr> crls;  // a PEM file may hold several
  std::string error;               // set when the file cannot be read or holds no CRL
};

// Reads PEM (one or more CRLs) or DER.
crl_file load_crl(const std::string& path);
// The same from bytes already read (`path` only names them in messages).
crl_file parse_crl(const std::string& path, const std::string& bytes);

// crl_unreadable, crl_not_signed_by_ca (errors), crl_outdated (warning).
std::vector<finding> check_crl(const role_policy& role, const ca_bundle& ca, const crl_file& crl,
                               clock::time_point now);

// The CRL among `crls` that revokes `cert` (its issuer's CRL, the serial listed),
// or nullptr.
const X509_CRL* revoked_by(X509* cert, const std::vector<x509_crl_ptr>& crls);

// For the gauge crl_next_update_timestamp_seconds and logs.
std::string crl_issuer(const X509_CRL* crl);
clock::time_point crl_next_update(const X509_CRL* crl);  // epoch when absent

}  // namespace vmsgate::tls
