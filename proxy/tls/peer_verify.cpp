#include "proxy/tls/peer_verify.hpp"

#include <openssl/pem.h>

#include <chrono>
#include <new>
#include <stdexcept>

#include "proxy/tls/server_context.hpp"

namespace vmsgate::tls {
namespace {

int trust_index() {
  static const int index = SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

// The certificate the peer presented, kept on the SSL object by the verify callback:
// OpenSSL records the peer certificate only once it has verified, so without this a
// refused handshake could not be logged with the subject of what was refused.
void free_presented(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { X509_free(static_cast<X509*>(ptr)); }

int presented_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_presented);
  return index;
}

// Why the role check refused the peer, kept on the SSL for the close log.
void free_refusal(void*, void* ptr, CRYPTO_EX_DATA*, int, long, void*) { delete static_cast<std::string*>(ptr); }

int refusal_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, free_refusal);
  return index;
}

void note_first_error(SSL* ssl, const std::vector<finding>& found) {
  for (const finding& f : found) {
    if (f.level != severity::error) continue;
    note_refusal(ssl, f.message + " [" + f.rule + "]");
    return;
  }
}

std::vector<x509_ptr> parse_pem_certs(const std::string& pem) {
  std::vector<x509_ptr> out;
  bio_ptr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (x509_ptr c{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) out.push_back(std::move(c));
  ERR_clear_error();  // the loop ends on a harmless "no start line"
  return out;
}

bool anchored_in(STACK_OF(X509) * chain, const std::vector<x509_ptr>& cas) {
  for (int i = 0; i < sk_X509_num(chain); ++i)
    for (const auto& ca : cas)
      if (X509_cmp(sk_X509_value(chain, i), ca.get()) == 0) return true;
  return false;
}

// OpenSSL has verified the chain (signatures, validity, purpose) when `ok` is set;
// at the leaf we add the role's own rules. A refusal is reported as an application
// verification error, which the failure classifier reads as peer_not_allowed.
int verify_peer(int ok, X509_STORE_CTX* store) {
  auto* ssl = static_cast<SSL*>(X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (X509* presented = X509_STORE_CTX_get0_cert(store);
      ssl != nullptr && presented != nullptr && SSL_get_ex_data(ssl, presented_index()) == nullptr &&
      X509_up_ref(presented) == 1) {
    SSL_set_ex_data(ssl, presented_index(), presented);
  }
  if (ok == 0 || X509_STORE_CTX_get_error_depth(store) != 0) return ok;
  const auto* trust = static_cast<const peer_trust*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), trust_index()));
  if (trust == nullptr) return 0;
  X509* leaf = X509_STORE_CTX_get_current_cert(store);
  STACK_OF(X509)* chain = X509_STORE_CTX_get0_chain(store);
  const auto now = std::chrono::system_clock::now();
  for (const auto& role : trust->roles) {
    if (!anchored_in(chain, role.cas)) continue;
    if (const X509_CRL* crl = revoked_by(leaf, role.crls)) {
      const cert_info info = inspect(leaf);
      note_first_error(ssl, {{severity::error, "revoked",
                          "peer certificate " + info.subject + " (serial " + info.serial + ") is revoked by role " +
                              role.policy.name + "'s CRL from " + crl_issuer(crl)}});
      X509_STORE_CTX_set_error(store, X509_V_ERR_CERT_REVOKED);
      return 0;
    }
    const std::vector<finding> found = check_peer(role.policy, leaf, trust->peer_usage, now);
    if (!has_error(found)) return 1;
    note_first_error(ssl, found);
  }
  X509_STORE_CTX_set_error(store, X509_V_ERR_APPLICATION_VERIFICATION);
  return 0;
}

}  // namespace

void note_refusal(SSL* ssl, const std::string& why) noexcept {
  if (ssl == nullptr || SSL_get_ex_data(ssl, refusal_index()) != nullptr) return;
  try {
    auto* kept = new std::string(why);
    if (SSL_set_ex_data(ssl, refusal_index(), kept) != 1) delete kept;
  } catch (...) {
    // No memory for the words: the refusal still happens, unexplained.
  }
}

const std::string* peer_refusal(const SSL* ssl) {
  return static_cast<const std::string*>(SSL_get_ex_data(ssl, refusal_index()));
}

X509* presented_certificate(const SSL* ssl) {
  if (X509* verified = SSL_get0_peer_certificate(ssl)) return verified;
  return static_cast<X509*>(SSL_get_ex_data(ssl, presented_index()));
}

std::vector<peer_role_source> read_peer_roles(const std::vector<role_policy>& roles) {
  std::vector<peer_role_source> out;
  for (const auto& r : roles) {
    peer_role_source source{r, read_file(r.ca_path), {}};
    for (const auto& path : r.crl_paths) source.crls.push_back(read_file(path));
    out.push_back(std::move(source));
  }
  return out;
}

std::unique_ptr<peer_trust> install_peer_verification(SSL_CTX* ctx, const std::vector<peer_role_source>& roles,
                                                      usage peer_usage, int verify_mode) {
  auto trust = std::make_unique<peer_trust>();
  trust->peer_usage = peer_usage;
  x509_store_ptr store(X509_STORE_new());
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  for (const auto& source : roles) {
    peer_trust::role role{source.policy, parse_pem_certs(source.ca_pem), {}};
    for (std::size_t i = 0; i < source.crls.size(); ++i) {
      crl_file parsed = parse_crl(source.policy.crl_paths.at(i), source.crls[i]);
      if (!parsed.error.empty()) {
        sk_X509_NAME_pop_free(names, X509_NAME_free);
        throw std::runtime_error(parsed.path + ": " + parsed.error + " (role " + source.policy.name + ")");
      }
      for (auto& crl : parsed.crls) role.crls.push_back(std::move(crl));
    }
    if (role.cas.empty()) {
      sk_X509_NAME_pop_free(names, X509_NAME_free);
      throw std::runtime_error("no CA certificate in " + source.policy.ca_path + " (role " + source.policy.name + ")");
    }
    for (const auto& ca : role.cas) {
      X509_STORE_add_cert(store.get(), ca.get());
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
    }
    trust->roles.push_back(std::move(role));
  }
  ERR_clear_error();  // a CA listed by two roles is "already in hash table": harmless
  // A role's CA may be an intermediate: it is then the trust anchor, as in `check`.
  X509_STORE_set_flags(store.get(), X509_V_FLAG_PARTIAL_CHAIN);
  SSL_CTX_set_cert_store(ctx, store.release());
  // Tells clients which CAs we accept, so they pick the right certificate.
  SSL_CTX_set_client_CA_list(ctx, names);
  SSL_CTX_set_verify(ctx, verify_mode, verify_peer);
  SSL_CTX_set_verify_depth(ctx, 6);
  SSL_CTX_set_ex_data(ctx, trust_index(), trust.get());
  return trust;
}

}  // namespace vmsgate::tls
