#include "proxy/acme/certs.hpp"

#include <openssl/pem.h>
#include <openssl/rand.h>

#include "proxy/acme/jws.hpp"
#include "proxy/pki/builder.hpp"

namespace vmsgate::acme {

namespace {

using general_names_ptr = std::unique_ptr<GENERAL_NAMES, tls::openssl_deleter<GENERAL_NAMES_free>>;
using general_name_ptr = std::unique_ptr<GENERAL_NAME, tls::openssl_deleter<GENERAL_NAME_free>>;
using ia5_ptr = std::unique_ptr<ASN1_IA5STRING, tls::openssl_deleter<ASN1_IA5STRING_free>>;
using octet_ptr = std::unique_ptr<ASN1_OCTET_STRING, tls::openssl_deleter<ASN1_OCTET_STRING_free>>;
using object_ptr = std::unique_ptr<ASN1_OBJECT, tls::openssl_deleter<ASN1_OBJECT_free>>;
using x509_req_ptr = std::unique_ptr<X509_REQ, tls::openssl_deleter<X509_REQ_free>>;

struct extension_stack_free {
  void operator()(STACK_OF(X509_EXTENSION) * s) const noexcept { sk_X509_EXTENSION_pop_free(s, X509_EXTENSION_free); }
};
using extension_stack_ptr = std::unique_ptr<STACK_OF(X509_EXTENSION), extension_stack_free>;

// id-pe-acmeIdentifier, RFC 8737 section 6.1.
constexpr const char* acme_identifier_oid = "1.3.6.1.5.5.7.1.31";
// ub-common-name in RFC 5280: a longer first name goes in the SAN only.
constexpr std::size_t max_common_name = 64;

[[noreturn]] void fail(const std::string& what) {
  const std::string reason = tls::drain_errors();
  throw error(what + (reason.empty() ? std::string() : ": " + reason));
}

// The names as GENERAL_NAMES built field by field, not from a "DNS:a,DNS:b"
// configuration string, so that no name from outside can add a second entry.
general_names_ptr dns_general_names(const std::vector<std::string>& names) {
  general_names_ptr out(sk_GENERAL_NAME_new_null());
  if (!out) fail("cannot make the subject alternative names");
  for (const auto& name : names) {
    ia5_ptr text(ASN1_IA5STRING_new());
    general_name_ptr gn(GENERAL_NAME_new());
    if (!text || !gn || ASN1_STRING_set(text.get(), name.data(), static_cast<int>(name.size())) != 1) {
      fail("cannot encode the name " + name);
    }
    GENERAL_NAME_set0_value(gn.get(), GEN_DNS, text.release());
    if (sk_GENERAL_NAME_push(out.get(), gn.get()) <= 0) fail("cannot add the name " + name);
    gn.release();
  }
  return out;
}

void set_common_name(X509_NAME* subject, const std::string& name) {
  if (name.size() > max_common_name) return;
  if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(name.data()),
                                 static_cast<int>(name.size()), -1, 0) != 1) {
    fail("cannot set the common name " + name);
  }
}

// A random positive 127-bit serial: a challenge certificate is never looked up by
// its serial, but clients may refuse two certificates from one issuer sharing one.
void set_random_serial(X509* cert) {
  unsigned char bytes[16];
  if (RAND_bytes(bytes, sizeof bytes) != 1) fail("cannot make a serial number");
  bytes[0] &= 0x7f;
  tls::bn_ptr bn(BN_bin2bn(bytes, sizeof bytes, nullptr));
  if (!bn || BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) fail("cannot set a serial number");
}

// extnValue is the DER of an OCTET STRING holding the 32-byte hash: 04 20 <hash>.
void add_acme_identifier(X509* cert, std::string_view key_authorization) {
  const std::string der = std::string("\x04\x20", 2) + sha256(key_authorization);
  object_ptr oid(OBJ_txt2obj(acme_identifier_oid, 1));
  octet_ptr value(ASN1_OCTET_STRING_new());
  if (!oid || !value ||
      ASN1_OCTET_STRING_set(value.get(), reinterpret_cast<const unsigned char*>(der.data()),
                            static_cast<int>(der.size())) != 1) {
    fail("cannot encode the acmeIdentifier extension");
  }
  tls::x509_extension_ptr ext(X509_EXTENSION_create_by_OBJ(nullptr, oid.get(), 1, value.get()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) fail("cannot add the acmeIdentifier extension");
}

void set_alpn_fields(X509* cert, const std::string& name, EVP_PKEY* key) {
  if (X509_set_version(cert, X509_VERSION_3) != 1) fail("cannot make a certificate");
  set_random_serial(cert);
  set_common_name(X509_get_subject_name(cert), name);
  if (X509_set_issuer_name(cert, X509_get_subject_name(cert)) != 1) fail("cannot set the issuer");
  // An hour back covers a validation server whose clock is behind ours.
  if (X509_gmtime_adj(X509_getm_notBefore(cert), -3600) == nullptr ||
      X509_gmtime_adj(X509_getm_notAfter(cert), 7L * 24 * 3600) == nullptr) {
    fail("cannot set the validity period");
  }
  if (X509_set_pubkey(cert, key) != 1) fail("cannot set the public key");
  general_names_ptr san = dns_general_names({name});
  if (X509_add1_ext_i2d(cert, NID_subject_alt_name, san.get(), 0, X509V3_ADD_DEFAULT) != 1) {
    fail("cannot add the subject alternative name");
  }
}

void set_csr_fields(X509_REQ* req, const std::vector<std::string>& names, EVP_PKEY* key) {
  if (X509_REQ_set_version(req, X509_REQ_VERSION_1) != 1) fail("cannot make a CSR");
  set_common_name(X509_REQ_get_subject_name(req), names.front());
  general_names_ptr san = dns_general_names(names);
  STACK_OF(X509_EXTENSION)* raw = nullptr;
  const int added = X509V3_add1_i2d(&raw, NID_subject_alt_name, san.get(), 0, X509V3_ADD_DEFAULT);
  extension_stack_ptr extensions(raw);
  if (added != 1 || X509_REQ_add_extensions(req, extensions.get()) != 1) fail("cannot add the names to the CSR");
  if (X509_REQ_set_pubkey(req, key) != 1) fail("cannot set the CSR's public key");
}

}  // namespace

challenge_cert make_alpn_certificate(std::string_view dns_name, std::string_view key_authorization) {
  if (dns_name.empty()) throw error("a tls-alpn-01 certificate needs a name");
  challenge_cert out;
  try {
    out.key = pki::generate_rsa(2048);
  } catch (const pki::error& e) {
    throw error(e.what());
  }
  out.cert.reset(X509_new());
  if (!out.cert) fail("cannot make a certificate");
  set_alpn_fields(out.cert.get(), std::string(dns_name), out.key.get());
  add_acme_identifier(out.cert.get(), key_authorization);
  if (X509_sign(out.cert.get(), out.key.get(), EVP_sha256()) <= 0) fail("cannot sign the tls-alpn-01 certificate");
  return out;
}

std::string make_csr_der(const std::vector<std::string>& dns_names, EVP_PKEY* key) {
  if (dns_names.empty()) throw error("a CSR needs at least one name");
  if (key == nullptr) throw error("a CSR needs a key");
  x509_req_ptr req(X509_REQ_new());
  if (!req) fail("cannot make a CSR");
  set_csr_fields(req.get(), dns_names, key);
  if (X509_REQ_sign(req.get(), key, EVP_sha256()) <= 0) fail("cannot sign the CSR");
  const int len = i2d_X509_REQ(req.get(), nullptr);
  if (len <= 0) fail("cannot encode the CSR");
  std::string der(static_cast<std::size_t>(len), '\0');
  auto* p = reinterpret_cast<unsigned char*>(der.data());
  if (i2d_X509_REQ(req.get(), &p) != len) fail("cannot encode the CSR");
  return der;
}

std::vector<tls::x509_ptr> parse_pem_chain(std::string_view pem) {
  std::vector<tls::x509_ptr> out;
  tls::bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) {
    tls::drain_errors();
    return out;
  }
  while (tls::x509_ptr c{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) out.push_back(std::move(c));
  tls::drain_errors();  // the loop ends on a harmless "no start line"
  return out;
}

}  // namespace vmsgate::acme
