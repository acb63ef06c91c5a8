#pragma once
// The X.509 pieces of ACME: the tls-alpn-01 challenge certificate (RFC 8737), the
// CSR sent at finalize, the chain that comes back, and ACME Renewal Information
// (RFC 9773): the certificate's ID and the renewal window the CA suggests.

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/acme/error.hpp"
#include "proxy/tls/openssl.hpp"

namespace vmsgate::acme {

struct challenge_cert {
  tls::x509_ptr cert;
  tls::pkey_ptr key;
};

// Self-signed, RSA 2048, valid from an hour ago for seven days, with `dns_name` as
// its only SAN and the critical id-pe-acmeIdentifier extension holding
// SHA-256(key_authorization). Served to a ClientHello whose ALPN is "acme-tls/1".
// Throws acme::error.
challenge_cert make_alpn_certificate(std::string_view dns_name, std::string_view key_authorization);

// The DER CSR for `dns_names` (CN = the first when it fits the 64 characters X.509
// allows, SAN = all), signed with SHA-256 by `key`. Throws acme::error.
std::string make_csr_der(const std::vector<std::string>& dns_names, EVP_PKEY* key);

// The PEM certificates of `pem` in order (leaf first); empty when there is none.
std::vector<tls::x509_ptr> parse_pem_chain(std::string_view pem);

// RFC 9773 section 4.1: base64url(AKI keyIdentifier) "." base64url(serial's DER
// content octets). nullopt when the certificate has no authority key identifier.
std::optional<std::string> renewal_info_id(X509* cert);

struct renewal_window {
  std::chrono::system_clock::time_point start, end;
  std::optional<std::string> explanation_url;
};

// The body of a renewalInfo response; nullopt when it is not JSON, lacks the
// window, has a malformed time, or a window that ends before it starts.
std::optional<renewal_window> parse_renewal_info(std::string_view json);

// An RFC 3339 date-time ("2025-01-02T04:00:00Z", "...T04:00:00.123+02:00").
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

}  // namespace vmsgate::acme
