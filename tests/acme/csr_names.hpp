#pragma once
// Reading a CSR back, as a CA does: its SAN dNSNames and its common name.

#include <string>
#include <vector>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::test {

inline std::vector<std::string> csr_dns_names(X509_REQ* req) {
  std::vector<std::string> out;
  STACK_OF(X509_EXTENSION)* exts = X509_REQ_get_extensions(req);
  auto* names = static_cast<GENERAL_NAMES*>(X509V3_get_d2i(exts, NID_subject_alt_name, nullptr, nullptr));
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names, i);
    if (gn->type != GEN_DNS) {
      out.push_back("<not a dNSName>");
      continue;
    }
    out.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(gn->d.dNSName)),
                     static_cast<std::size_t>(ASN1_STRING_length(gn->d.dNSName)));
  }
  GENERAL_NAMES_free(names);
  sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
  tls::drain_errors();
  return out;
}

// "" when the subject has no CN.
inline std::string csr_cn(X509_REQ* req) {
  const X509_NAME* subject = X509_REQ_get_subject_name(req);
  const int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at < 0) return {};
  const ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                     static_cast<std::size_t>(ASN1_STRING_length(data)));
}

}  // namespace vmsgate::test
