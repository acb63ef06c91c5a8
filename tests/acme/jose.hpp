#pragma once
// The server's side of JOSE for the ACME tests, written apart from the client's
// code so that a test compares two implementations rather than one with itself:
// keys from JWKs, JWS decoding and signature verification, RFC 7638 thumbprints.

#include <boost/json.hpp>

#include <optional>
#include <string>
#include <string_view>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::test::jose {

// A public key from an RSA (n, e) or EC P-256 (crv, x, y) JWK; null otherwise.
tls::pkey_ptr key_from_jwk(const boost::json::object& jwk);

struct decoded_jws {
  boost::json::object header;  // the protected header
  std::string payload;         // decoded; "" for POST-as-GET
  std::string signing_input;   // protected "." payload, as sent
  std::string signature;       // decoded
};

// nullopt when the body is not a flattened JWS with decodable parts.
std::optional<decoded_jws> decode(std::string_view body);

// RS256 or ES256 (r||s) over the signing input, checked with OpenSSL.
bool verify(EVP_PKEY* key, std::string_view alg, const decoded_jws& jws);

// RFC 7638 thumbprint, from the JWK's members by name.
std::string thumbprint(const boost::json::object& jwk);

// SHA-256 of `bytes`, raw.
std::string sha256(std::string_view bytes);

}  // namespace vmsgate::test::jose
