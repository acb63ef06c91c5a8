#include "proxy/tls/context_common.hpp"

#include <openssl/pem.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

#include "proxy/tls/ktls.hpp"

namespace vmsgate::tls {
namespace {

// TLS 1.2 suites: forward-secret AEAD only. TLS 1.3 suites are all AEAD already.
constexpr const char* tls12_rsa_ciphers =
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* tls12_ecdsa_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
constexpr const char* tls13_suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";

}  // namespace

void fail(const std::string& route, const std::string& what) {
  std::string msg = "route " + route + ": " + what;
  const std::string detail = drain_errors();
  if (!detail.empty()) msg += ": " + detail;
  throw std::runtime_error(msg);
}

void apply_common_settings(SSL_CTX* ctx, const std::string& route, bool allow_ecdsa) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_IGNORE_UNEXPECTED_EOF |
                               SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
  const std::string tls12 =
      allow_ecdsa ? std::string(tls12_rsa_ciphers) + ":" + tls12_ecdsa_ciphers : std::string(tls12_rsa_ciphers);
  if (SSL_CTX_set_cipher_list(ctx, tls12.c_str()) != 1) fail(route, "cannot set the TLS 1.2 cipher list");
  if (SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1) fail(route, "cannot set the TLS 1.3 cipher suites");
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) fail(route, "cannot set the key exchange groups");
  // NO_AUTO_CHAIN: the certificate file's chain is sent as it is. Without it, a file
  // that holds only the leaf makes OpenSSL build a chain on every handshake from the
  // context's store, which on a mutual-TLS route holds the peers' CAs: a signature
  // check per handshake (about 90 us here) and a CA certificate appended that the
  // peer already has.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_NO_AUTO_CHAIN);
  SSL_CTX_set_read_ahead(ctx, 1);
  // Where the kernel can take the record layer over, let OpenSSL hand it the keys
  // after the handshake (it falls back by itself for a cipher the kernel lacks).
  if (kernel_tls().available) SSL_CTX_set_options(ctx, SSL_OP_ENABLE_KTLS);
}

void use_identity(SSL_CTX* ctx, const std::string& route, const identity_pem& id, bool allow_ecdsa) {
  bio_ptr bio(BIO_new_mem_buf(id.cert_chain_pem.data(), static_cast<int>(id.cert_chain_pem.size())));
  x509_ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1) fail(route, "cannot use the certificate");
  while (x509_ptr extra{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    if (SSL_CTX_add1_chain_cert(ctx, extra.get()) != 1) fail(route, "cannot add a chain certificate");
  }
  ERR_clear_error();  // The loop above ends on a harmless "no start line".

  bio_ptr key_bio(BIO_new_mem_buf(id.key_pem.data(), static_cast<int>(id.key_pem.size())));
  pkey_ptr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail(route, "cannot parse the private key");
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) fail(route, "cannot use the private key");
  if (SSL_CTX_check_private_key(ctx) != 1) fail(route, "the private key does not match the certificate");
  if (!allow_ecdsa && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) fail(route, "the key is not RSA");
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace vmsgate::tls
