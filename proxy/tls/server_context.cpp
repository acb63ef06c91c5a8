#include "proxy/tls/server_context.hpp"

#include <openssl/pem.h>
#include <openssl/rand.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <strings.h>

namespace vmsgate::tls {
namespace {

// TLS 1.2 suites: forward-secret AEAD only. TLS 1.3 suites are all AEAD already.
constexpr const char* tls12_rsa_ciphers =
    "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-CHACHA20-POLY1305";
constexpr const char* tls12_ecdsa_ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305";
constexpr const char* tls13_suites = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256";
constexpr unsigned char session_id_context[] = "vmsgate";

[[noreturn]] void fail(const server_identity& id, const std::string& what) {
  std::string msg = "route " + id.route + ": " + what;
  const std::string detail = drain_errors();
  if (!detail.empty()) msg += ": " + detail;
  throw std::runtime_error(msg);
}

int on_server_name(SSL* ssl, int* alert, void* arg) {
  const auto* ctx = static_cast<const server_context*>(arg);
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  // Clients that dial an IP address send no SNI; the certificate policy covers them.
  if (name == nullptr) return SSL_TLSEXT_ERR_OK;
  const std::string sni(name);
  for (const auto& pattern : ctx->server_names)
    if (sni_matches(pattern, sni)) return SSL_TLSEXT_ERR_OK;
  *alert = SSL_AD_UNRECOGNIZED_NAME;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

void use_identity(SSL_CTX* ctx, const server_identity& id) {
  bio_ptr bio(BIO_new_mem_buf(id.cert_chain_pem.data(), static_cast<int>(id.cert_chain_pem.size())));
  x509_ptr leaf(PEM_read_bio_X509_AUX(bio.get(), nullptr, nullptr, nullptr));
  if (!leaf || SSL_CTX_use_certificate(ctx, leaf.get()) != 1) fail(id, "cannot use the certificate");
  while (x509_ptr extra{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    if (SSL_CTX_add1_chain_cert(ctx, extra.get()) != 1) fail(id, "cannot add a chain certificate");
  }
  ERR_clear_error();  // The loop above ends on a harmless "no start line".

  bio_ptr key_bio(BIO_new_mem_buf(id.key_pem.data(), static_cast<int>(id.key_pem.size())));
  pkey_ptr key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) fail(id, "cannot parse the private key");
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1) fail(id, "cannot use the private key");
  if (SSL_CTX_check_private_key(ctx) != 1) fail(id, "the private key does not match the certificate");
  if (!id.allow_ecdsa && EVP_PKEY_get_base_id(key.get()) != EVP_PKEY_RSA) fail(id, "the key is not RSA");
}

}  // namespace

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + path);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

ticket_keys random_ticket_keys() {
  ticket_keys keys{};
  if (RAND_bytes(keys.data(), static_cast<int>(keys.size())) != 1)
    throw std::runtime_error("cannot make session ticket keys: " + drain_errors());
  return keys;
}

bool sni_matches(const std::string& pattern, const std::string& name) {
  if (pattern.size() == name.size() && strcasecmp(pattern.c_str(), name.c_str()) == 0) return true;
  if (pattern.size() < 3 || pattern.compare(0, 2, "*.") != 0) return false;
  const auto dot = name.find('.');
  if (dot == std::string::npos || dot == 0) return false;
  const std::string rest = name.substr(dot + 1);
  const std::string pattern_rest = pattern.substr(2);
  return rest.size() == pattern_rest.size() && strcasecmp(rest.c_str(), pattern_rest.c_str()) == 0;
}

std::shared_ptr<const server_context> make_server_context(const server_identity& id, const ticket_keys& keys) {
  auto result = std::make_shared<server_context>();
  result->server_names = id.server_names;
  result->ctx.reset(SSL_CTX_new(TLS_server_method()));
  SSL_CTX* ctx = result->ctx.get();
  if (ctx == nullptr) fail(id, "cannot create a TLS context");

  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_IGNORE_UNEXPECTED_EOF | SSL_OP_NO_TLSv1 | SSL_OP_NO_TLSv1_1);
  const std::string tls12 = id.allow_ecdsa ? std::string(tls12_rsa_ciphers) + ":" + tls12_ecdsa_ciphers
                                           : std::string(tls12_rsa_ciphers);
  if (SSL_CTX_set_cipher_list(ctx, tls12.c_str()) != 1) fail(id, "cannot set the TLS 1.2 cipher list");
  if (SSL_CTX_set_ciphersuites(ctx, tls13_suites) != 1) fail(id, "cannot set the TLS 1.3 cipher suites");
  if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256:P-384") != 1) fail(id, "cannot set the key exchange groups");

  // Buffers are released whenever a connection is idle, and the record layer reads
  // ahead so that one read(2) brings in several records.
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
  SSL_CTX_set_read_ahead(ctx, 1);
  SSL_CTX_set_session_id_context(ctx, session_id_context, sizeof session_id_context - 1);
  SSL_CTX_set_num_tickets(ctx, 1);
  unsigned char key_copy[80];
  std::copy(keys.begin(), keys.end(), key_copy);
  if (SSL_CTX_set_tlsext_ticket_keys(ctx, key_copy, sizeof key_copy) != 1) fail(id, "cannot set ticket keys");

  use_identity(ctx, id);
  SSL_CTX_set_tlsext_servername_callback(ctx, on_server_name);
  SSL_CTX_set_tlsext_servername_arg(ctx, result.get());
  return result;
}

}  // namespace vmsgate::tls
