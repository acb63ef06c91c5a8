#pragma once
// OCSP stapling for a terminate route (routes[].ocsp_response): a DER OCSP response
// for the route's certificate, obtained by the operator or a script from the CA's
// responder, is checked against that certificate and stapled to handshakes whose
// client asks (status_request). A response that does not match, is not "good", is
// not signed by the certificate's issuer (or a responder it delegated to), or has
// expired, is dropped with a warning rather than stapled: a phone then asks the CA
// itself, as it would with no staple.

#include <optional>
#include <string>
#include <vector>

#include "proxy/tls/openssl.hpp"
#include "proxy/tls/policy.hpp"

namespace vmsgate::tls {

struct ocsp_staple {
  std::string der;
  clock::time_point next_update;  // not stapled from then on
};

// Judges `der` (the file's bytes; `path` names it in messages) for `leaf`, whose
// issuer is found in `chain` (the rest of the route's cert file) or `cas` (the
// role's CA bundle). Findings are warnings (ocsp_unreadable, ocsp_not_for_certificate,
// ocsp_not_good, ocsp_unverified, ocsp_expired); `out` is set only when none applies.
std::vector<finding> check_ocsp(const std::string& route, const std::string& path, const std::string& der, X509* leaf,
                                const std::vector<x509_ptr>& chain, const std::vector<x509_ptr>& cas,
                                clock::time_point now, std::optional<ocsp_staple>& out);

// Reads the route's files and judges its response; what check, run and reload use.
std::vector<finding> load_ocsp(const std::string& route, const std::string& ocsp_path, const std::string& cert_path,
                               const std::string& ca_path, clock::time_point now, std::optional<ocsp_staple>& out);

}  // namespace vmsgate::tls
