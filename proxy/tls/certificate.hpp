#pragma once
// Certificate and key inspection: reads PEM files into owned OpenSSL objects and
// turns one X509 into plain values, so that the policy engine never touches the
// OpenSSL API for the facts it decides on.

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::tls {

using clock = std::chrono::system_clock;

enum class key_kind { rsa, ec, ed25519, ed448, dsa, other, none };

// "RSA", "ECDSA", ...; used in messages.
const char* key_kind_name(key_kind k);

// The facts of one certificate that policy rules decide on.
struct cert_info {
  std::string subject;      // one line, RFC 2253 ("CN=rec01,OU=recording")
  std::string common_name;  // the last CN of the subject, "" when absent
  std::vector<std::string> dns_names;
  std::vector<std::string> ip_addresses;  // canonical text (inet_ntop)
  std::vector<std::string> uris;          // URI SANs as written
  clock::time_point not_before;
  clock::time_point not_after;
  key_kind key = key_kind::none;
  int key_bits = 0;
  bool has_eku = false;  // the extendedKeyUsage extension is present
  bool eku_server_auth = false;
  bool eku_client_auth = false;
  bool is_ca = false;        // basicConstraints CA:TRUE
  std::string serial;        // upper-case hex, no separators
};

cert_info inspect(X509* cert);

// The URI SAN that binds a certificate to a vmsgate role: prefix + role name.
inline constexpr std::string_view role_uri_prefix = "urn:vmsgate:role:";
// The role names of the certificate's vmsgate role URIs, in order.
std::vector<std::string> role_uris(const cert_info& info);

// The PEM certificates of `path` in file order (leaf first). Empty with `error`
// set when the file cannot be read or holds no certificate.
// The subject in one line, RFC 2253 order, for logs.
std::string subject_of(X509* cert);

std::vector<x509_ptr> load_certificates(const std::string& path, std::string& error);

// The private key of `path` (unencrypted PEM); null with `error` set otherwise.
pkey_ptr load_private_key(const std::string& path, std::string& error);

// The permission bits of `path`, nullopt when it cannot be stat'ed.
std::optional<mode_t> file_mode(const std::string& path);

// "2026-03-01 12:00:00 UTC"
std::string format_time(clock::time_point t);

// OpenSSL's ASN1_TIME to a time point (nullopt when it is malformed).
std::optional<clock::time_point> to_time_point(const ASN1_TIME* t);

}  // namespace vmsgate::tls
