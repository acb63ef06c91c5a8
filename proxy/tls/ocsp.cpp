#include "proxy/tls/ocsp.hpp"

#include <openssl/ocsp.h>

#include "proxy/tls/certificate.hpp"
#include "proxy/tls/context_common.hpp"

namespace vmsgate::tls {
namespace {

using ocsp_response_ptr = std::unique_ptr<OCSP_RESPONSE, openssl_deleter<OCSP_RESPONSE_free>>;
using ocsp_basic_ptr = std::unique_ptr<OCSP_BASICRESP, openssl_deleter<OCSP_BASICRESP_free>>;
using ocsp_certid_ptr = std::unique_ptr<OCSP_CERTID, openssl_deleter<OCSP_CERTID_free>>;

X509* find_issuer(X509* leaf, const std::vector<x509_ptr>& chain, const std::vector<x509_ptr>& cas) {
  for (const auto* list : {&chain, &cas})
    for (const auto& c : *list)
      if (X509_check_issued(c.get(), leaf) == X509_V_OK) return c.get();
  return nullptr;
}

}  // namespace

std::vector<finding> check_ocsp(const std::string& route, const std::string& path, const std::string& der, X509* leaf,
                                const std::vector<x509_ptr>& chain, const std::vector<x509_ptr>& cas,
                                clock::time_point now, std::optional<ocsp_staple>& out) {
  out.reset();
  std::vector<finding> found;
  const std::string who = "route " + route + ": OCSP response " + path;
  const auto warn = [&](const char* rule, const std::string& why) {
    found.push_back({severity::warning, rule, who + " " + why + "; it is not stapled"});
    ERR_clear_error();
    return found;
  };
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ocsp_response_ptr response(d2i_OCSP_RESPONSE(nullptr, &p, static_cast<long>(der.size())));
  if (!response) return warn("ocsp_unreadable", "is not a DER OCSP response");
  if (OCSP_response_status(response.get()) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
    return warn("ocsp_unreadable", std::string("says \"") + OCSP_response_status_str(OCSP_response_status(response.get())) +
                                       "\", not successful");
  ocsp_basic_ptr basic(OCSP_response_get1_basic(response.get()));
  if (!basic) return warn("ocsp_unreadable", "holds no basic response");
  X509* issuer = find_issuer(leaf, chain, cas);
  if (issuer == nullptr) return warn("ocsp_unverified", "cannot be checked: the certificate's issuer is in neither its file nor the role's CA");
  ocsp_certid_ptr id(OCSP_cert_to_id(nullptr, leaf, issuer));
  int status = -1, reason = -1;
  ASN1_GENERALIZEDTIME *revoked_at = nullptr, *this_update = nullptr, *next_update = nullptr;
  if (!id || OCSP_resp_find_status(basic.get(), id.get(), &status, &reason, &revoked_at, &this_update, &next_update) != 1)
    return warn("ocsp_not_for_certificate", "is not about this route's certificate (serial " + inspect(leaf).serial + ")");
  if (status != V_OCSP_CERTSTATUS_GOOD)
    return warn("ocsp_not_good", std::string("says the certificate is ") + OCSP_cert_status_str(status));
  // Signed by the issuer, or by a responder certificate the issuer delegated to.
  x509_stack_ptr issuers(sk_X509_new_null());
  x509_store_ptr store(X509_STORE_new());
  if (!issuers || !store || X509_STORE_add_cert(store.get(), issuer) != 1 || sk_X509_push(issuers.get(), issuer) == 0 ||
      X509_up_ref(issuer) != 1)
    return warn("ocsp_unverified", "cannot be checked");
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  if (OCSP_basic_verify(basic.get(), issuers.get(), store.get(), 0) != 1)
    return warn("ocsp_unverified", "is not signed by the certificate's issuer or a responder it delegated to");
  const std::time_t now_t = clock::to_time_t(now);
  if (next_update == nullptr || X509_cmp_time(next_update, const_cast<std::time_t*>(&now_t)) <= 0)
    return warn("ocsp_expired", "has expired (or names no nextUpdate): fetch a fresh one from the CA's responder");
  out = ocsp_staple{der, to_time_point(next_update).value_or(now)};
  return found;
}

std::vector<finding> load_ocsp(const std::string& route, const std::string& ocsp_path, const std::string& cert_path,
                               const std::string& ca_path, clock::time_point now, std::optional<ocsp_staple>& out) {
  out.reset();
  std::string der;
  try {
    der = read_file(ocsp_path);
  } catch (const std::exception& e) {
    return {{severity::warning, "ocsp_unreadable", "route " + route + ": " + e.what() + "; nothing is stapled"}};
  }
  std::string why;
  auto chain = load_certificates(cert_path, why);
  if (chain.empty()) return {};  // the route's own checks report it
  X509* leaf = chain.front().get();
  const ca_bundle ca = load_ca(ca_path);
  return check_ocsp(route, ocsp_path, der, leaf, chain, ca.certs, now, out);
}

}  // namespace vmsgate::tls
