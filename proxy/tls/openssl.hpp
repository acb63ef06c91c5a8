#pragma once
// RAII owners for OpenSSL objects and the one way to turn OpenSSL's error queue
// into words. Every OpenSSL object in the project is held by one of these.

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>
#include <string>

namespace vmsgate::tls {

template <auto Free>
struct openssl_deleter {
  template <typename T>
  void operator()(T* p) const noexcept {
    Free(p);
  }
};

using bio_ptr = std::unique_ptr<BIO, openssl_deleter<BIO_free_all>>;
using x509_ptr = std::unique_ptr<X509, openssl_deleter<X509_free>>;
using pkey_ptr = std::unique_ptr<EVP_PKEY, openssl_deleter<EVP_PKEY_free>>;
using pkey_ctx_ptr = std::unique_ptr<EVP_PKEY_CTX, openssl_deleter<EVP_PKEY_CTX_free>>;
using cipher_ctx_ptr = std::unique_ptr<EVP_CIPHER_CTX, openssl_deleter<EVP_CIPHER_CTX_free>>;
using ssl_ctx_ptr = std::unique_ptr<SSL_CTX, openssl_deleter<SSL_CTX_free>>;
using ssl_ptr = std::unique_ptr<SSL, openssl_deleter<SSL_free>>;
using ssl_session_ptr = std::unique_ptr<SSL_SESSION, openssl_deleter<SSL_SESSION_free>>;
using x509_store_ptr = std::unique_ptr<X509_STORE, openssl_deleter<X509_STORE_free>>;
using x509_store_ctx_ptr = std::unique_ptr<X509_STORE_CTX, openssl_deleter<X509_STORE_CTX_free>>;

struct x509_stack_free {
  void operator()(STACK_OF(X509) * s) const noexcept { sk_X509_pop_free(s, X509_free); }
};
using x509_stack_ptr = std::unique_ptr<STACK_OF(X509), x509_stack_free>;

// Empties the calling thread's OpenSSL error queue into one readable string
// ("" when it was empty), so that a failure never leaves errors behind for the
// next, unrelated call to trip over.
std::string drain_errors();

}  // namespace vmsgate::tls

namespace vmsgate::tls {

// Added for certificate building (proxy/pki) and inspection.
using bn_ptr = std::unique_ptr<BIGNUM, openssl_deleter<BN_free>>;
using x509_extension_ptr = std::unique_ptr<X509_EXTENSION, openssl_deleter<X509_EXTENSION_free>>;
using x509_name_ptr = std::unique_ptr<X509_NAME, openssl_deleter<X509_NAME_free>>;

}  // namespace vmsgate::tls
