#pragma once
// Building keys and X.509 certificates with OpenSSL's API. Used by `pki init`,
// `pki issue` and `pki renew`, and by tests that need certificates breaking one
// rule each.

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::pki {

using clock = std::chrono::system_clock;

// Every failure of the pki layer; the message is fit for the operator.
struct error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct cert_spec {
  std::string common_name;
  std::string org_unit;  // the role, for a leaf
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;
  std::vector<std::string> uris;  // URI SANs, e.g. urn:vmsgate:role:recording
  clock::time_point not_before;
  clock::time_point not_after;
  bool ca = false;           // a CA: basicConstraints CA:TRUE, keyCertSign and cRLSign
  bool server_auth = true;   // leaf EKU serverAuth
  bool client_auth = false;  // leaf EKU clientAuth
  bool with_eku = true;      // false leaves the extendedKeyUsage extension out
};

tls::pkey_ptr generate_rsa(int bits);
tls::pkey_ptr generate_ec(const std::string& curve = "P-256");  // a named curve, e.g. P-256

// Signs with SHA-256 by `issuer_key`; `issuer` null means self-signed.
tls::x509_ptr make_certificate(const cert_spec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key);

std::string to_pem(X509* cert);
std::string to_pem(EVP_PKEY* key);  // unencrypted PKCS#8

}  // namespace vmsgate::pki
