// base64url, the account key (JWK, thumbprint, signatures, its file) and the JWS.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "proxy/acme/jws.hpp"
#include "proxy/pki/builder.hpp"
#include "tests/acme/jose.hpp"
#include "tests/support/gateway.hpp"

namespace vmsgate::test {
namespace {

namespace json = boost::json;

const acme::account_key& rsa_account() {
  static const acme::account_key key(pki::generate_rsa(2048));
  return key;
}

const acme::account_key& ec_account() {
  static const acme::account_key key(pki::generate_ec());
  return key;
}

std::string read_all(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string text(const json::value& v) { return v.is_string() ? std::string(v.get_string()) : "<not a string>"; }

mode_t mode_of(const std::filesystem::path& p) {
  struct stat st {};
  EXPECT_EQ(::stat(p.c_str(), &st), 0) << p;
  return st.st_mode & 07777;
}

TEST(AcmeBase64url, EncodesWithoutPaddingInTheUrlAlphabet) {
  EXPECT_EQ(acme::base64url(""), "");
  EXPECT_EQ(acme::base64url("f"), "Zg");
  EXPECT_EQ(acme::base64url("fo"), "Zm8");
  EXPECT_EQ(acme::base64url("foo"), "Zm9v");
  EXPECT_EQ(acme::base64url("\xfb\xff"), "-_8");
  EXPECT_EQ(acme::base64url("\xfb\xff\xfe"), "-__-");
}

TEST(AcmeBase64url, RoundTripsEveryByteAndLength) {
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t len = 0; len <= all.size(); len += 1 + len / 8) {
    const std::string bytes = all.substr(all.size() - len);
    const auto back = acme::base64url_decode(acme::base64url(bytes));
    ASSERT_TRUE(back) << len;
    EXPECT_EQ(*back, bytes) << len;
  }
}

TEST(AcmeBase64url, RefusesPaddingOtherAlphabetsAndImpossibleLengths) {
  EXPECT_FALSE(acme::base64url_decode("Zg=="));
  EXPECT_FALSE(acme::base64url_decode("+/8"));
  EXPECT_FALSE(acme::base64url_decode("Zm9vY"));  // 5 sextets cannot be whole bytes
  EXPECT_FALSE(acme::base64url_decode("Zm 9v"));
  EXPECT_EQ(acme::base64url_decode("-_8"), std::optional<std::string>("\xfb\xff"));
}

// RFC 7638 section 3.1: the example RSA key and its thumbprint.
TEST(AcmeAccountKey, ThumbprintMatchesRfc7638Example) {
  const json::object jwk{
      {"kty", "RSA"},
      {"e", "AQAB"},
      {"n",
       "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMs"
       "tn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5haj"
       "rn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"}};
  tls::pkey_ptr key = jose::key_from_jwk(jwk);  // OSSL_PARAM_BLD + EVP_PKEY_fromdata
  ASSERT_TRUE(key);
  const acme::account_key account(std::move(key));
  EXPECT_STREQ(account.alg(), "RS256");
  EXPECT_EQ(account.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
  EXPECT_EQ(json::serialize(account.jwk()), R"({"e":"AQAB","kty":"RSA","n":")" + std::string(jwk.at("n").as_string()) +
                                                R"("})");
}

TEST(AcmeAccountKey, EcJwkHasPaddedCoordinatesAndAMatchingThumbprint) {
  const json::object jwk = ec_account().jwk();
  EXPECT_STREQ(ec_account().alg(), "ES256");
  EXPECT_EQ(jwk.size(), 4u);
  EXPECT_EQ(jwk.at("crv"), "P-256");
  EXPECT_EQ(jwk.at("kty"), "EC");
  EXPECT_EQ(acme::base64url_decode(jwk.at("x").as_string())->size(), 32u);
  EXPECT_EQ(acme::base64url_decode(jwk.at("y").as_string())->size(), 32u);
  EXPECT_EQ(ec_account().thumbprint(), jose::thumbprint(jwk));
  EXPECT_EQ(rsa_account().thumbprint(), jose::thumbprint(rsa_account().jwk()));
  EXPECT_EQ(acme::key_authorization("tok_1", ec_account()), "tok_1." + ec_account().thumbprint());
}

TEST(AcmeAccountKey, RefusesKeysAcmeDoesNotTake) {
  EXPECT_THROW(acme::account_key(pki::generate_rsa(1024)), acme::error);
  EXPECT_THROW(acme::account_key(tls::pkey_ptr(EVP_EC_gen("P-384"))), acme::error);
  EXPECT_THROW(acme::account_key(tls::pkey_ptr(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"))), acme::error);
  EXPECT_THROW(acme::account_key(nullptr), acme::error);
}

void expect_verified_jws(const acme::account_key& key, const std::string& kid, std::optional<std::string> payload) {
  const std::string url = "https://ca.test/new-order";
  const std::string body = acme::jws(key, url, "nonce-42", kid, payload);
  const auto decoded = jose::decode(body);
  ASSERT_TRUE(decoded) << body;
  EXPECT_EQ(json::parse(body).as_object().size(), 3u);
  const json::object& h = decoded->header;
  EXPECT_EQ(text(h.at("alg")), key.alg());
  EXPECT_EQ(text(h.at("nonce")), "nonce-42");
  EXPECT_EQ(text(h.at("url")), url);
  EXPECT_NE(h.contains("jwk"), h.contains("kid"));
  if (kid.empty()) {
    EXPECT_EQ(h.at("jwk"), key.jwk());
  } else {
    EXPECT_EQ(text(h.at("kid")), kid);
  }
  EXPECT_EQ(decoded->payload, payload.value_or(""));
  if (!payload) {
    EXPECT_EQ(text(json::parse(body).at("payload")), "");
  }
  if (std::string_view(key.alg()) == "ES256") {
    EXPECT_EQ(decoded->signature.size(), 64u);
  }
  const tls::pkey_ptr pub = jose::key_from_jwk(key.jwk());
  ASSERT_TRUE(pub);
  EXPECT_TRUE(jose::verify(pub.get(), key.alg(), *decoded));
  auto tampered = *decoded;
  tampered.signing_input += "x";
  EXPECT_FALSE(jose::verify(pub.get(), key.alg(), tampered));
}

TEST(AcmeJws, Rs256WithJwkVerifies) { expect_verified_jws(rsa_account(), "", R"({"termsOfServiceAgreed":true})"); }
TEST(AcmeJws, Rs256PostAsGetWithKidVerifies) { expect_verified_jws(rsa_account(), "https://ca.test/acct/1", std::nullopt); }
TEST(AcmeJws, Es256WithJwkVerifies) { expect_verified_jws(ec_account(), "", R"({"identifiers":[]})"); }
TEST(AcmeJws, Es256WithKidVerifies) { expect_verified_jws(ec_account(), "https://ca.test/acct/1", "{}"); }

TEST(AcmeAccountKey, EcSignaturesAreAlways64BytesRaw) {
  // r or s with a leading zero byte is shorter in DER; the JWS form pads it back.
  for (int i = 0; i < 64; ++i) {
    EXPECT_EQ(ec_account().sign("input " + std::to_string(i)).size(), 64u);
  }
}

TEST(AcmeAccountKeyFile, CreatesA0600KeyInA0700DirectoryAndReloadsIt) {
  const temp_dir dir("acme-key");
  const auto path = dir.path() / "state" / "acme" / "account.key";
  const acme::account_key made = acme::account_key::load_or_create(path.string());
  EXPECT_STREQ(made.alg(), "ES256");
  EXPECT_EQ(mode_of(path), 0600u);
  EXPECT_EQ(mode_of(path.parent_path()), 0700u);
  EXPECT_EQ(mode_of(path.parent_path().parent_path()), 0700u);
  const acme::account_key again = acme::account_key::load_or_create(path.string());
  EXPECT_EQ(again.thumbprint(), made.thumbprint());
  // Nothing but the key is left in the directory: the temporary file was renamed.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(path.parent_path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(AcmeAccountKeyFile, LoadsAnExistingRsaKey) {
  const temp_dir dir("acme-key");
  const auto path = dir.write_file("rsa.key", pki::to_pem(rsa_account().get()));
  EXPECT_EQ(acme::account_key::load_or_create(path.string()).thumbprint(), rsa_account().thumbprint());
}

TEST(AcmeAccountKeyFile, RefusesGarbageAndLeavesItAlone) {
  const temp_dir dir("acme-key");
  const auto path = dir.write_file("account.key", "not a key\n");
  try {
    acme::account_key::load_or_create(path.string());
    ADD_FAILURE() << "no error";
  } catch (const acme::error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_all(path), "not a key\n");
}

TEST(AcmeAccountKeyFile, RefusesAKeyOfTheWrongKindNamingTheFile) {
  const temp_dir dir("acme-key");
  const tls::pkey_ptr small = pki::generate_rsa(1024);
  const auto path = dir.write_file("small.key", pki::to_pem(small.get()));
  try {
    acme::account_key::load_or_create(path.string());
    ADD_FAILURE() << "no error";
  } catch (const acme::error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("1024"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vmsgate::test
