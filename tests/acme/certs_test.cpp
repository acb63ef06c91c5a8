// The tls-alpn-01 certificate, the CSR, the chain parser and ARI.

#include <gtest/gtest.h>

#include "proxy/acme/certs.hpp"
#include "proxy/acme/jws.hpp"
#include "proxy/pki/builder.hpp"
#include "proxy/tls/certificate.hpp"
#include "tests/acme/csr_names.hpp"
#include "tests/acme/jose.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono;
using x509_req_ptr = std::unique_ptr<X509_REQ, tls::openssl_deleter<X509_REQ_free>>;

const X509_EXTENSION* acme_identifier(X509* cert) {
  const std::unique_ptr<ASN1_OBJECT, tls::openssl_deleter<ASN1_OBJECT_free>> oid(OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1));
  const int at = X509_get_ext_by_OBJ(cert, oid.get(), -1);
  return at < 0 ? nullptr : X509_get_ext(cert, at);
}

TEST(AcmeAlpnCertificate, HoldsTheCriticalAcmeIdentifierAndOnlyTheName) {
  const std::string keyauth = "tok_abc.thumbprint-xyz";
  const acme::challenge_cert c = acme::make_alpn_certificate("rec01.example.local", keyauth);
  ASSERT_TRUE(c.cert && c.key);
  const X509_EXTENSION* ext = acme_identifier(c.cert.get());
  ASSERT_NE(ext, nullptr);
  EXPECT_EQ(X509_EXTENSION_get_critical(ext), 1);
  const ASN1_OCTET_STRING* data = X509_EXTENSION_get_data(const_cast<X509_EXTENSION*>(ext));
  const std::string value(reinterpret_cast<const char*>(ASN1_STRING_get0_data(data)),
                          static_cast<std::size_t>(ASN1_STRING_length(data)));
  EXPECT_EQ(value, std::string("\x04\x20", 2) + jose::sha256(keyauth));

  const tls::cert_info info = tls::inspect(c.cert.get());
  EXPECT_EQ(info.dns_names, std::vector<std::string>{"rec01.example.local"});
  EXPECT_TRUE(info.ip_addresses.empty());
  EXPECT_TRUE(info.uris.empty());
  EXPECT_EQ(info.key, tls::key_kind::rsa);
  EXPECT_EQ(info.key_bits, 2048);
  const auto now = system_clock::now();
  EXPECT_LT(info.not_before, now);
  EXPECT_GT(info.not_after, now + hours(24));
  EXPECT_LT(info.not_after, now + hours(24 * 8));
  EXPECT_EQ(X509_verify(c.cert.get(), c.key.get()), 1);  // self-signed with its own key
  EXPECT_EQ(X509_check_private_key(c.cert.get(), c.key.get()), 1);
}

x509_req_ptr parse_csr(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  return x509_req_ptr(d2i_X509_REQ(nullptr, &p, static_cast<long>(der.size())));
}

TEST(AcmeCsr, CarriesEveryNameAndVerifies) {
  const tls::pkey_ptr key = pki::generate_ec();
  const std::vector<std::string> names = {"rec01.example.local", "rec01-b.example.local", "*.cams.example.local"};
  const x509_req_ptr req = parse_csr(acme::make_csr_der(names, key.get()));
  ASSERT_TRUE(req);
  EXPECT_EQ(X509_REQ_verify(req.get(), key.get()), 1);
  EXPECT_EQ(EVP_PKEY_eq(X509_REQ_get0_pubkey(req.get()), key.get()), 1);
  EXPECT_EQ(csr_cn(req.get()), names[0]);
  EXPECT_EQ(csr_dns_names(req.get()), names);
  EXPECT_EQ(X509_REQ_get_signature_nid(req.get()), NID_ecdsa_with_SHA256);
}

TEST(AcmeCsr, LeavesAnOverlongFirstNameOutOfTheCommonName) {
  const tls::pkey_ptr key = pki::generate_ec();
  const std::string longest = std::string(60, 'a') + ".example.local";  // 74 > 64
  const x509_req_ptr req = parse_csr(acme::make_csr_der({longest}, key.get()));
  ASSERT_TRUE(req);
  EXPECT_EQ(csr_cn(req.get()), "");
  EXPECT_EQ(csr_dns_names(req.get()), std::vector<std::string>{longest});
  EXPECT_THROW(acme::make_csr_der({}, key.get()), acme::error);
}

TEST(AcmePemChain, ReadsEveryCertificateInOrder) {
  const acme::challenge_cert a = acme::make_alpn_certificate("a.example.local", "x");
  const tls::pkey_ptr key = pki::generate_ec();
  pki::cert_spec spec;
  spec.common_name = "b";
  spec.not_before = system_clock::now();
  spec.not_after = spec.not_before + hours(1);
  const tls::x509_ptr b = pki::make_certificate(spec, key.get(), nullptr, key.get());
  const auto chain = acme::parse_pem_chain(pki::to_pem(a.cert.get()) + pki::to_pem(b.get()));
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(X509_cmp(chain[0].get(), a.cert.get()), 0);
  EXPECT_EQ(X509_cmp(chain[1].get(), b.get()), 0);
  EXPECT_TRUE(acme::parse_pem_chain("no certificate here").empty());
  EXPECT_EQ(ERR_peek_error(), 0u);  // no error left behind for the next caller
}

// RFC 9773 section 4.1's example: AKI 69:88:5B:6B:..., serial 00:87:65:43:21.
TEST(AcmeRenewalInfo, IdMatchesRfc9773Example) {
  const unsigned char key_id[] = {0x69, 0x88, 0x5B, 0x6B, 0x87, 0x46, 0x40, 0x41, 0xE1, 0xB3,
                                  0x7B, 0x84, 0x7B, 0xA0, 0xAE, 0x2C, 0xDE, 0x01, 0xC8, 0xD4};
  const tls::pkey_ptr key = pki::generate_ec();
  tls::x509_ptr cert(X509_new());
  ASSERT_EQ(X509_set_version(cert.get(), X509_VERSION_3), 1);
  ASSERT_EQ(ASN1_INTEGER_set_uint64(X509_get_serialNumber(cert.get()), 0x87654321u), 1);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 3600);
  ASSERT_EQ(X509_set_pubkey(cert.get(), key.get()), 1);
  std::unique_ptr<AUTHORITY_KEYID, tls::openssl_deleter<AUTHORITY_KEYID_free>> aki(AUTHORITY_KEYID_new());
  aki->keyid = ASN1_OCTET_STRING_new();
  ASSERT_EQ(ASN1_OCTET_STRING_set(aki->keyid, key_id, sizeof key_id), 1);
  ASSERT_EQ(X509_add1_ext_i2d(cert.get(), NID_authority_key_identifier, aki.get(), 0, X509V3_ADD_DEFAULT), 1);
  ASSERT_GT(X509_sign(cert.get(), key.get(), EVP_sha256()), 0);
  EXPECT_EQ(acme::renewal_info_id(cert.get()), std::optional<std::string>("aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"));
}

TEST(AcmeRenewalInfo, NoIdWithoutAnAuthorityKeyIdentifier) {
  const acme::challenge_cert c = acme::make_alpn_certificate("a.example.local", "x");
  EXPECT_EQ(acme::renewal_info_id(c.cert.get()), std::nullopt);
}

TEST(AcmeRenewalInfo, ParsesRfc9773Example) {
  const auto w = acme::parse_renewal_info(R"({
    "suggestedWindow": {
      "start": "2025-01-02T04:00:00Z",
      "end": "2025-01-03T04:00:00Z"
    },
    "explanationURL": "https://acme.example.com/docs/ari"
  })");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->start, sys_days(2025y / 1 / 2) + 4h);
  EXPECT_EQ(w->end, sys_days(2025y / 1 / 3) + 4h);
  EXPECT_EQ(w->explanation_url, std::optional<std::string>("https://acme.example.com/docs/ari"));
}

TEST(AcmeRenewalInfo, ReadsFractionsAndOffsets) {
  EXPECT_EQ(acme::parse_rfc3339("2025-01-02T06:30:00.25+02:30"), sys_days(2025y / 1 / 2) + 4h + 250ms);
  EXPECT_EQ(acme::parse_rfc3339("2024-12-31t23:00:00.123456789-05:00"),
            sys_days(2025y / 1 / 1) + 4h + nanoseconds(123456789));
  EXPECT_EQ(acme::parse_rfc3339("2024-02-29T00:00:00z"), sys_days(2024y / 2 / 29));
  for (const char* bad : {"2025-02-30T00:00:00Z", "2025-01-02T24:00:00Z", "2025-01-02 04:00:00Z",
                          "2025-01-02T04:00:00", "2025-01-02T04:00:00.Z", "2025-01-02T04:00:00+0200", "", "2025-1-2T04:00:00Z",
                          "2025-01-02T04:00:00Zjunk"}) {
    EXPECT_EQ(acme::parse_rfc3339(bad), std::nullopt) << bad;
  }
}

TEST(AcmeRenewalInfo, RefusesWindowsThatAreMissingMalformedOrBackwards) {
  const auto window = [](const char* start, const char* end) {
    return acme::parse_renewal_info(std::string(R"({"suggestedWindow":{"start":")") + start + R"(","end":")" + end +
                                    R"("}})");
  };
  EXPECT_TRUE(window("2025-01-02T04:00:00Z", "2025-01-02T04:00:01Z"));
  EXPECT_FALSE(window("2025-01-02T04:00:00Z", "2025-01-02T04:00:00Z"));
  EXPECT_FALSE(window("2025-01-03T04:00:00Z", "2025-01-02T04:00:00Z"));
  EXPECT_FALSE(window("yesterday", "2025-01-02T04:00:00Z"));
  EXPECT_FALSE(acme::parse_renewal_info(R"({"explanationURL":"x"})"));
  EXPECT_FALSE(acme::parse_renewal_info("{\"suggestedWindow\":"));
  EXPECT_FALSE(acme::parse_renewal_info("[]"));
}

}  // namespace
}  // namespace vmsgate::test
