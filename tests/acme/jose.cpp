#include "tests/acme/jose.hpp"

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/param_build.h>

#include "proxy/acme/jws.hpp"

namespace vmsgate::test::jose {

namespace {

namespace json = boost::json;

using param_bld_ptr = std::unique_ptr<OSSL_PARAM_BLD, tls::openssl_deleter<OSSL_PARAM_BLD_free>>;
using params_ptr = std::unique_ptr<OSSL_PARAM, tls::openssl_deleter<OSSL_PARAM_free>>;
using md_ctx_ptr = std::unique_ptr<EVP_MD_CTX, tls::openssl_deleter<EVP_MD_CTX_free>>;
using ecdsa_sig_ptr = std::unique_ptr<ECDSA_SIG, tls::openssl_deleter<ECDSA_SIG_free>>;

std::string member(const json::object& o, std::string_view name) {
  const auto* v = o.if_contains(name);
  return v != nullptr && v->is_string() ? std::string(v->get_string()) : std::string();
}

std::optional<std::string> decoded_member(const json::object& o, std::string_view name) {
  const std::string text = member(o, name);
  if (text.empty()) return std::nullopt;
  return acme::base64url_decode(text);
}

tls::bn_ptr to_bn(const std::string& bytes) {
  return tls::bn_ptr(BN_bin2bn(reinterpret_cast<const unsigned char*>(bytes.data()), static_cast<int>(bytes.size()),
                               nullptr));
}

tls::pkey_ptr from_params(const char* type, OSSL_PARAM_BLD* bld) {
  params_ptr params(OSSL_PARAM_BLD_to_param(bld));
  tls::pkey_ctx_ptr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
  EVP_PKEY* key = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &key, EVP_PKEY_PUBLIC_KEY, params.get()) != 1) {
    tls::drain_errors();
    return nullptr;
  }
  return tls::pkey_ptr(key);
}

tls::pkey_ptr rsa_from_jwk(const json::object& jwk) {
  const auto n = decoded_member(jwk, "n");
  const auto e = decoded_member(jwk, "e");
  if (!n || !e) return nullptr;
  const tls::bn_ptr n_bn = to_bn(*n);
  const tls::bn_ptr e_bn = to_bn(*e);
  param_bld_ptr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, n_bn.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, e_bn.get()) != 1) {
    return nullptr;
  }
  return from_params("RSA", bld.get());
}

tls::pkey_ptr ec_from_jwk(const json::object& jwk) {
  const auto x = decoded_member(jwk, "x");
  const auto y = decoded_member(jwk, "y");
  if (member(jwk, "crv") != "P-256" || !x || !y || x->size() != 32 || y->size() != 32) return nullptr;
  const std::string point = "\x04" + *x + *y;  // uncompressed point
  param_bld_ptr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1) {
    return nullptr;
  }
  return from_params("EC", bld.get());
}

// JWS ES256 is r||s; OpenSSL verifies the DER SEQUENCE of the two.
std::optional<std::string> raw_to_der(const std::string& raw) {
  if (raw.size() != 64) return std::nullopt;
  ecdsa_sig_ptr sig(ECDSA_SIG_new());
  tls::bn_ptr r = to_bn(raw.substr(0, 32));
  tls::bn_ptr s = to_bn(raw.substr(32));
  if (!sig || !r || !s || ECDSA_SIG_set0(sig.get(), r.get(), s.get()) != 1) return std::nullopt;
  r.release();
  s.release();
  unsigned char* der = nullptr;
  const int len = i2d_ECDSA_SIG(sig.get(), &der);
  if (len <= 0) return std::nullopt;
  std::string out(reinterpret_cast<const char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace

tls::pkey_ptr key_from_jwk(const json::object& jwk) {
  const std::string kty = member(jwk, "kty");
  if (kty == "RSA") return rsa_from_jwk(jwk);
  if (kty == "EC") return ec_from_jwk(jwk);
  return nullptr;
}

std::optional<decoded_jws> decode(std::string_view body) {
  boost::system::error_code ec;
  const json::value doc = json::parse(body, ec);
  if (ec || !doc.is_object()) return std::nullopt;
  const json::object& o = doc.get_object();
  const auto* p = o.if_contains("protected");
  const auto* pl = o.if_contains("payload");
  const auto* sig = o.if_contains("signature");
  if (p == nullptr || pl == nullptr || sig == nullptr || !p->is_string() || !pl->is_string() || !sig->is_string()) {
    return std::nullopt;
  }
  const auto header = acme::base64url_decode(p->get_string());
  const auto payload = acme::base64url_decode(pl->get_string());
  const auto signature = acme::base64url_decode(sig->get_string());
  if (!header || !payload || !signature) return std::nullopt;
  const json::value h = json::parse(*header, ec);
  if (ec || !h.is_object()) return std::nullopt;
  return decoded_jws{h.get_object(), *payload, std::string(p->get_string()) + "." + std::string(pl->get_string()),
                     *signature};
}

bool verify(EVP_PKEY* key, std::string_view alg, const decoded_jws& jws) {
  std::optional<std::string> sig = jws.signature;
  if (alg == "ES256") {
    sig = raw_to_der(jws.signature);
  } else if (alg != "RS256") {
    return false;
  }
  md_ctx_ptr ctx(EVP_MD_CTX_new());
  const bool ok = sig && ctx && EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(sig->data()), sig->size(),
                                   reinterpret_cast<const unsigned char*>(jws.signing_input.data()),
                                   jws.signing_input.size()) == 1;
  tls::drain_errors();
  return ok;
}

std::string thumbprint(const json::object& jwk) {
  const std::string kty = member(jwk, "kty");
  std::string canonical;
  if (kty == "RSA") {
    canonical = R"({"e":")" + member(jwk, "e") + R"(","kty":"RSA","n":")" + member(jwk, "n") + R"("})";
  } else {
    canonical = R"({"crv":")" + member(jwk, "crv") + R"(","kty":")" + kty + R"(","x":")" + member(jwk, "x") +
                R"(","y":")" + member(jwk, "y") + R"("})";
  }
  return acme::base64url(sha256(canonical));
}

std::string sha256(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}

}  // namespace vmsgate::test::jose
