#include "proxy/tls/acme_answers.hpp"

#include <openssl/rand.h>

#include <algorithm>
#include <cctype>

#include "proxy/tls/client_hello.hpp"
#include "proxy/tls/peer_verify.hpp"

namespace vmsgate::tls {
namespace {

// Marks an SSL that answers a validation; the value is never dereferenced.
int validation_index() {
  static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return index;
}

char validation_mark;

// The length byte of `protocol` in an ALPN protocol list, or null; stops at the
// first entry that breaks the list's syntax.
const unsigned char* find_protocol(const unsigned char* list, std::size_t size, std::string_view protocol) noexcept {
  std::size_t i = 0;
  while (i < size) {
    const std::size_t len = list[i];
    if (len == 0 || i + 1 + len > size) return nullptr;
    if (std::string_view(reinterpret_cast<const char*>(list + i + 1), len) == protocol) return list + i;
    i += 1 + len;
  }
  return nullptr;
}

}  // namespace

void acme_answers::put(const std::string& name, x509_ptr cert, pkey_ptr key) {
  auto a = std::make_shared<answer>();
  a->cert = std::move(cert);
  a->key = std::move(key);
  const std::lock_guard lock(mutex_);
  by_name_[name] = std::move(a);
}

void acme_answers::remove(const std::string& name) {
  const std::lock_guard lock(mutex_);
  by_name_.erase(name);
}

std::shared_ptr<const acme_answers::answer> acme_answers::find(std::string_view name) const {
  const std::lock_guard lock(mutex_);
  // DNS names compare without regard to case.
  for (const auto& [key, value] : by_name_)
    if (key.size() == name.size() && std::equal(key.begin(), key.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) == std::tolower(static_cast<unsigned char>(b));
        }))
      return value;
  return nullptr;
}

bool alpn_list_has(const unsigned char* list, std::size_t size, std::string_view protocol) noexcept {
  return find_protocol(list, size, protocol) != nullptr;
}

bool hello_offers_protocol(SSL* ssl, std::string_view protocol) noexcept {
  const unsigned char* data = nullptr;
  std::size_t size = 0;
  if (SSL_client_hello_get0_ext(ssl, TLSEXT_TYPE_application_layer_protocol_negotiation, &data, &size) != 1)
    return false;
  // A two-byte length, then the list it covers exactly.
  if (size < 2 || static_cast<std::size_t>((data[0] << 8) | data[1]) != size - 2) return false;
  return alpn_list_has(data + 2, size - 2, protocol);
}

int answer_acme_hello(SSL* ssl, const acme_answers& answers, bool pending, int* alert) noexcept {
  if (hello_offers_protocol(ssl, acme_tls_protocol)) {
    const hello_server_name sni = client_hello_server_name(ssl);
    const auto found = sni.name ? answers.find(*sni.name) : nullptr;
    if (!found) {
      note_refusal(ssl, "an ACME tls-alpn-01 validation for " +
                            (sni.name ? std::string(*sni.name) : std::string("no name")) +
                            " arrived, and no authorization for that name is pending");
      *alert = SSL_AD_NO_APPLICATION_PROTOCOL;
      return SSL_CLIENT_HELLO_ERROR;
    }
    // Only the validation certificate: the route's own (an ECDSA one, say) must not
    // be chosen for a validator that prefers it.
    SSL_certs_clear(ssl);
    // The CA's validator has no client certificate to give, so this handshake asks
    // for none. It must leave nothing to resume: a session made here, resumed on an
    // ordinary connection, would reach the backend of a route that requires client
    // certificates without one. No tickets, and a session id context of its own,
    // random and its own, which no other connection's matches.
    unsigned char own_context[SSL_MAX_SID_CTX_LENGTH];
    if (RAND_bytes(own_context, sizeof own_context) != 1 ||
        SSL_use_cert_and_key(ssl, found->cert.get(), found->key.get(), nullptr, 1) != 1 ||
        SSL_set_num_tickets(ssl, 0) != 1 || SSL_set_session_id_context(ssl, own_context, sizeof own_context) != 1 ||
        SSL_set_ex_data(ssl, validation_index(), &validation_mark) != 1) {
      *alert = SSL_AD_INTERNAL_ERROR;
      return SSL_CLIENT_HELLO_ERROR;
    }
    SSL_set_options(ssl, SSL_OP_NO_TICKET);
    SSL_set_verify(ssl, SSL_VERIFY_NONE, nullptr);
    return SSL_CLIENT_HELLO_SUCCESS;
  }
  if (pending) {
    note_refusal(ssl, "the route has no certificate yet: ACME is still obtaining it");
    *alert = SSL_AD_HANDSHAKE_FAILURE;
    return SSL_CLIENT_HELLO_ERROR;
  }
  return SSL_CLIENT_HELLO_SUCCESS;
}

bool is_acme_validation(const SSL* ssl) noexcept {
  return ssl != nullptr && SSL_get_ex_data(ssl, validation_index()) != nullptr;
}

int select_acme_protocol(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                         unsigned int inlen, void* /*arg*/) noexcept {
  if (!is_acme_validation(ssl)) return SSL_TLSEXT_ERR_NOACK;
  const unsigned char* found = find_protocol(in, inlen, acme_tls_protocol);
  if (found == nullptr) return SSL_TLSEXT_ERR_ALERT_FATAL;
  *out = found + 1;
  *outlen = *found;
  return SSL_TLSEXT_ERR_OK;
}

}  // namespace vmsgate::tls
