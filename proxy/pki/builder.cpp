#include "proxy/pki/builder.hpp"

#include <openssl/pem.h>
#include <openssl/rand.h>

namespace vmsgate::pki {

namespace {

[[noreturn]] void fail(const std::string& what) {
  const std::string reason = tls::drain_errors();
  throw error(what + (reason.empty() ? std::string() : ": " + reason));
}

// A random positive 128-bit serial, as the CA/Browser Forum asks (at least 64
// bits of entropy), so that two issuances never collide without any state file.
void set_random_serial(X509* cert) {
  tls::bn_ptr bn(BN_new());
  if (!bn || BN_rand(bn.get(), 128, BN_RAND_TOP_ANY, BN_RAND_BOTTOM_ANY) != 1 ||
      BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert)) == nullptr) {
    fail("cannot make a serial number");
  }
}

void set_subject(X509* cert, const cert_spec& spec) {
  X509_NAME* name = X509_get_subject_name(cert);
  const auto add = [name](const char* field, const std::string& value) {
    if (value.empty()) return;
    if (X509_NAME_add_entry_by_txt(name, field, MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(value.c_str()),
                                   -1, -1, 0) != 1) {
      fail(std::string("cannot set subject ") + field + "=" + value);
    }
  };
  add("OU", spec.org_unit);
  add("CN", spec.common_name);
}

void set_validity(X509* cert, const cert_spec& spec) {
  if (ASN1_TIME_set(X509_getm_notBefore(cert), clock::to_time_t(spec.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(cert), clock::to_time_t(spec.not_after)) == nullptr) {
    fail("cannot set the validity period");
  }
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  tls::x509_extension_ptr ext(X509V3_EXT_nconf_nid(nullptr, ctx, nid, value.c_str()));
  if (!ext || X509_add_ext(cert, ext.get(), -1) != 1) fail(std::string("cannot add extension ") + OBJ_nid2sn(nid));
}

std::string san_value(const cert_spec& spec) {
  std::string out;
  for (const auto& d : spec.dns_names) out += (out.empty() ? "DNS:" : ",DNS:") + d;
  for (const auto& ip : spec.ip_addresses) out += (out.empty() ? "IP:" : ",IP:") + ip;
  for (const auto& uri : spec.uris) out += (out.empty() ? "URI:" : ",URI:") + uri;
  return out;
}

std::string eku_value(const cert_spec& spec) {
  std::string out = spec.server_auth ? "serverAuth" : "";
  if (spec.client_auth) out += out.empty() ? "clientAuth" : ",clientAuth";
  return out;
}

void add_extensions(X509* cert, X509* issuer, const cert_spec& spec) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : cert, cert, nullptr, nullptr, 0);
  if (spec.ca) {
    add_extension(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE");
    add_extension(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
  } else {
    add_extension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert, &ctx, NID_key_usage, "critical,digitalSignature,keyEncipherment");
    if (const std::string eku = eku_value(spec); spec.with_eku && !eku.empty()) {
      add_extension(cert, &ctx, NID_ext_key_usage, eku);
    }
  }
  if (const std::string san = san_value(spec); !san.empty()) add_extension(cert, &ctx, NID_subject_alt_name, san);
  // The subject key id must exist before the authority key id of a self-signed
  // certificate can refer to it.
  add_extension(cert, &ctx, NID_subject_key_identifier, "hash");
  add_extension(cert, &ctx, NID_authority_key_identifier, "keyid:always");
}

}  // namespace

tls::pkey_ptr generate_rsa(int bits) {
  tls::pkey_ptr key(EVP_RSA_gen(static_cast<unsigned>(bits)));
  if (!key) fail("cannot generate a " + std::to_string(bits) + "-bit RSA key");
  return key;
}

tls::pkey_ptr generate_ec(const std::string& curve) {
  tls::pkey_ptr key(EVP_EC_gen(curve.c_str()));
  if (!key) fail("cannot generate a " + curve + " key");
  return key;
}

tls::x509_ptr make_certificate(const cert_spec& spec, EVP_PKEY* subject_key, X509* issuer, EVP_PKEY* issuer_key) {
  tls::x509_ptr cert(X509_new());
  if (!cert || X509_set_version(cert.get(), X509_VERSION_3) != 1) fail("cannot make a certificate");
  set_random_serial(cert.get());
  set_subject(cert.get(), spec);
  const X509_NAME* issuer_name = issuer != nullptr ? X509_get_subject_name(issuer) : X509_get_subject_name(cert.get());
  if (X509_set_issuer_name(cert.get(), issuer_name) != 1) fail("cannot set the issuer");
  set_validity(cert.get(), spec);
  if (X509_set_pubkey(cert.get(), subject_key) != 1) fail("cannot set the public key");
  add_extensions(cert.get(), issuer, spec);
  if (X509_sign(cert.get(), issuer_key, EVP_sha256()) <= 0) fail("cannot sign the certificate");
  return cert;
}

std::string to_pem(X509* cert) {
  tls::bio_ptr mem(BIO_new(BIO_s_mem()));
  if (!mem || PEM_write_bio_X509(mem.get(), cert) != 1) fail("cannot encode the certificate");
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string to_pem(EVP_PKEY* key) {
  tls::bio_ptr mem(BIO_new(BIO_s_mem()));
  if (!mem || PEM_write_bio_PrivateKey(mem.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    fail("cannot encode the private key");
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

}  // namespace vmsgate::pki
