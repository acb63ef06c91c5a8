#include "proxy/acme/jws.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/objects.h>

#include <array>
#include <cstdint>

namespace vmsgate::acme {

namespace {

constexpr std::string_view alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
constexpr std::size_t es256_half = 32;  // bytes of one P-256 coordinate, and of r and of s

using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, tls::openssl_deleter<ECDSA_SIG_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, tls::openssl_deleter<EVP_MD_CTX_free>>;

[[noreturn]] void fail(const std::string& what) {
  const std::string reason = tls::drain_errors();
  throw error(what + (reason.empty() ? std::string() : ": " + reason));
}

int sextet(char c) {
  const auto at = alphabet.find(c);
  return at == std::string_view::npos ? -1 : static_cast<int>(at);
}

tls::bn_ptr bn_param(EVP_PKEY* key, const char* name) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key, name, &bn) != 1) fail(std::string("cannot read the account key's ") + name);
  return tls::bn_ptr(bn);
}

// Big-endian bytes of `bn`, left-padded with zeros to `width` (0: the minimum).
std::string bn_bytes(const BIGNUM* bn, int width) {
  const int len = width > 0 ? width : BN_num_bytes(bn);
  std::string out(static_cast<std::size_t>(len), '\0');
  if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len) != len) fail("a key number is too long");
  return out;
}

bool is_p256(EVP_PKEY* key) {
  char name[64] = {};
  std::size_t len = 0;
  if (EVP_PKEY_get_group_name(key, name, sizeof name, &len) != 1) return false;
  return OBJ_txt2nid(name) == NID_X9_62_prime256v1 || EC_curve_nist2nid(name) == NID_X9_62_prime256v1;
}

const char* algorithm_of(EVP_PKEY* key) {
  if (key == nullptr) throw error("no account key");
  if (EVP_PKEY_is_a(key, "RSA")) {
    if (EVP_PKEY_get_bits(key) < 2048) {
      throw error("the RSA account key has " + std::to_string(EVP_PKEY_get_bits(key)) + " bits; ACME needs 2048 or more");
    }
    return "RS256";
  }
  if (EVP_PKEY_is_a(key, "EC")) {
    if (!is_p256(key)) throw error("the EC account key is not on P-256, the only curve ES256 allows");
    return "ES256";
  }
  throw error(std::string("the account key is ") + EVP_PKEY_get0_type_name(key) + "; ACME needs RSA or EC P-256");
}

// RFC 7638 section 3: the required members only, in lexicographic order, no spaces.
// Every value is base64url or a fixed name, so none needs escaping.
std::string canonical_jwk(EVP_PKEY* key, const char* alg) {
  if (std::string_view(alg) == "RS256") {
    const std::string e = base64url(bn_bytes(bn_param(key, OSSL_PKEY_PARAM_RSA_E).get(), 0));
    const std::string n = base64url(bn_bytes(bn_param(key, OSSL_PKEY_PARAM_RSA_N).get(), 0));
    return R"({"e":")" + e + R"(","kty":"RSA","n":")" + n + R"("})";
  }
  const std::string x = base64url(bn_bytes(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X).get(), es256_half));
  const std::string y = base64url(bn_bytes(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y).get(), es256_half));
  return R"({"crv":"P-256","kty":"EC","x":")" + x + R"(","y":")" + y + R"("})";
}

std::string der_to_raw_ecdsa(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  ecdsa_sig_ptr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) fail("cannot decode the ECDSA signature");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  return bn_bytes(r, es256_half) + bn_bytes(s, es256_half);
}

}  // namespace

std::string base64url(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : bytes) {
    acc = (acc << 8) | static_cast<unsigned char>(c);
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += alphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += alphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) return std::nullopt;  // no byte count leaves one sextet over
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (const char c : text) {
    const int v = sextet(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string sha256(std::string_view bytes) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> md{};
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md.data(), &len, EVP_sha256(), nullptr) != 1) fail("cannot hash");
  return std::string(reinterpret_cast<const char*>(md.data()), len);
}

account_key::account_key(tls::pkey_ptr key)
    : key_(std::move(key)), alg_(algorithm_of(key_.get())), canonical_jwk_(canonical_jwk(key_.get(), alg_)) {}

boost::json::object account_key::jwk() const { return boost::json::parse(canonical_jwk_).as_object(); }

std::string account_key::thumbprint() const { return base64url(sha256(canonical_jwk_)); }

std::string account_key::sign(std::string_view signing_input) const {
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  std::size_t len = 0;
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key_.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, reinterpret_cast<const unsigned char*>(signing_input.data()),
                     signing_input.size()) != 1) {
    fail("cannot sign with the account key");
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len,
                     reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size()) != 1) {
    fail("cannot sign with the account key");
  }
  sig.resize(len);
  return std::string_view(alg_) == "ES256" ? der_to_raw_ecdsa(sig) : sig;
}

std::string jws(const account_key& key, std::string_view url, std::string_view nonce, const std::string& kid,
                std::optional<std::string_view> payload) {
  boost::json::object header;
  header["alg"] = key.alg();
  if (kid.empty()) {
    header["jwk"] = key.jwk();
  } else {
    header["kid"] = kid;
  }
  header["nonce"] = nonce;
  header["url"] = url;
  const std::string protected_b64 = base64url(boost::json::serialize(header));
  const std::string payload_b64 = payload ? base64url(*payload) : std::string();
  const std::string signature = key.sign(protected_b64 + "." + payload_b64);
  boost::json::object out;
  out["protected"] = protected_b64;
  out["payload"] = payload_b64;
  out["signature"] = base64url(signature);
  return boost::json::serialize(out);
}

std::string key_authorization(std::string_view token, const account_key& key) {
  return std::string(token) + "." + key.thumbprint();
}

}  // namespace vmsgate::acme
