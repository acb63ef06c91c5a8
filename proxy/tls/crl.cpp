#include "proxy/tls/crl.hpp"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "proxy/tls/certificate.hpp"
#include "proxy/tls/context_common.hpp"

namespace vmsgate::tls {

crl_file parse_crl(const std::string& path, const std::string& bytes) {
  crl_file out;
  out.path = path;
  bio_ptr bio(BIO_new_mem_buf(bytes.data(), static_cast<int>(bytes.size())));
  while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) out.crls.emplace_back(crl);
  ERR_clear_error();  // the PEM loop ends on "no start line"
  if (out.crls.empty()) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    if (X509_CRL* der = d2i_X509_CRL(nullptr, &p, static_cast<long>(bytes.size()))) out.crls.emplace_back(der);
    ERR_clear_error();
  }
  if (out.crls.empty()) out.error = "no CRL in it (PEM or DER expected)";
  return out;
}

crl_file load_crl(const std::string& path) {
  try {
    return parse_crl(path, read_file(path));
  } catch (const std::exception& e) {
    crl_file out;
    out.path = path;
    out.error = e.what();
    return out;
  }
}

std::vector<finding> check_crl(const role_policy& role, const ca_bundle& ca, const crl_file& file,
                               clock::time_point now) {
  std::vector<finding> out;
  const std::string who = "CRL " + file.path + " of role " + role.name;
  if (!file.error.empty()) {
    out.push_back({severity::error, "crl_unreadable", who + ": " + file.error});
    return out;
  }
  for (const auto& crl : file.crls) {
    const std::string issuer = crl_issuer(crl.get());
    bool signed_by_ca = false;
    for (const auto& cert : ca.certs) {
      if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_subject_name(cert.get())) != 0) continue;
      EVP_PKEY* key = X509_get0_pubkey(cert.get());
      if (key != nullptr && X509_CRL_verify(crl.get(), key) == 1) signed_by_ca = true;
    }
    ERR_clear_error();
    if (!signed_by_ca) {
      out.push_back({severity::error, "crl_not_signed_by_ca",
                     who + " (issuer " + issuer + ") is not signed by a certificate of the role's CA file " + ca.path +
                         ": a CRL only counts from the CA that issued the certificates it revokes"});
      continue;
    }
    const auto next = crl_next_update(crl.get());
    if (X509_CRL_get0_nextUpdate(crl.get()) != nullptr && next < now) {
      out.push_back({severity::warning, "crl_outdated",
                     who + " (issuer " + issuer + ") was due to be replaced at " + format_time(next) +
                         "; it is still used, but revocations since are unknown: publish a fresh one "
                         "(vmsgate pki crl --dir DIR) and reload"});
    }
  }
  return out;
}

const X509_CRL* revoked_by(X509* cert, const std::vector<x509_crl_ptr>& crls) {
  for (const auto& crl : crls) {
    if (X509_NAME_cmp(X509_CRL_get_issuer(crl.get()), X509_get_issuer_name(cert)) != 0) continue;
    X509_REVOKED* entry = nullptr;
    // 1: listed; 2: listed with reason removeFromCRL (not revoked any more).
    if (X509_CRL_get0_by_cert(crl.get(), &entry, cert) == 1) return crl.get();
  }
  return nullptr;
}

std::string crl_issuer(const X509_CRL* crl) {
  bio_ptr bio(BIO_new(BIO_s_mem()));
  X509_NAME_print_ex(bio.get(), X509_CRL_get_issuer(crl), 0, XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB);
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return n > 0 ? std::string(data, static_cast<std::size_t>(n)) : std::string();
}

clock::time_point crl_next_update(const X509_CRL* crl) {
  return to_time_point(X509_CRL_get0_nextUpdate(crl)).value_or(clock::time_point{});
}

}  // namespace vmsgate::tls
