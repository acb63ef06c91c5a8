#pragma once
// JSON Web Signatures as ACME (RFC 8555 section 6.2) uses them: the account key,
// its JWK and RFC 7638 thumbprint, and the flattened JWS of every POST.

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "proxy/acme/error.hpp"
#include "proxy/tls/openssl.hpp"

namespace vmsgate::acme {

// RFC 4648 section 5 without padding, as JOSE writes it.
std::string base64url(std::string_view bytes);
// nullopt on a character outside the alphabet, on padding, or on an impossible length.
std::optional<std::string> base64url_decode(std::string_view text);

// SHA-256 of `bytes`, raw (32 bytes).
std::string sha256(std::string_view bytes);

// The ACME account key: RSA of at least 2048 bits (RS256) or EC P-256 (ES256),
// the two algorithms every ACME server must accept.
class account_key {
 public:
  // Throws acme::error for any other key (type, curve or size).
  explicit account_key(tls::pkey_ptr key);

  // Reads the PEM private key at `path`. When there is no file, makes a P-256 key
  // and writes it there (0600, parent directory 0700 when it has to be made),
  // atomically, so that a crash leaves either no file or a whole one. A file that
  // exists but cannot be read or used is an error naming it: it is never replaced,
  // because losing an account key loses the account.
  static account_key load_or_create(const std::string& path);

  const char* alg() const { return alg_; }  // "RS256" | "ES256"
  boost::json::object jwk() const;         // public members only, in lexicographic order
  std::string thumbprint() const;          // base64url(SHA-256(RFC 7638 canonical JWK))
  // The JWS signature of `signing_input`: PKCS#1 v1.5 for RS256, r||s (64 bytes)
  // for ES256 (RFC 7518 section 3.4), not OpenSSL's DER.
  std::string sign(std::string_view signing_input) const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  tls::pkey_ptr key_;
  const char* alg_ = "";
  std::string canonical_jwk_;  // RFC 7638 form; the JWK never changes, so it is made once
};

// The flattened JSON serialization {"protected","payload","signature"} of one ACME
// request to `url`. An empty `kid` embeds the JWK instead (newAccount). A nullopt
// payload is a POST-as-GET (the empty payload); "{}" is not the same thing.
std::string jws(const account_key& key, std::string_view url, std::string_view nonce, const std::string& kid,
                std::optional<std::string_view> payload);

// token "." thumbprint (RFC 8555 section 8.1).
std::string key_authorization(std::string_view token, const account_key& key);

}  // namespace vmsgate::acme
