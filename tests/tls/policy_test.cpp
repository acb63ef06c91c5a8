// Every rule of the policy engine, each from a certificate that breaks that rule
// alone: the engine must report exactly that finding.

#include "proxy/tls/policy.hpp"

#include <gtest/gtest.h>

#include "tests/tls/fixtures.hpp"

namespace vmsgate::tls {
namespace {

using test::sys_clock;
using namespace std::chrono_literals;

struct shared_pki {
  test::issuer ca = test::make_ca("policy test CA");
  test::issuer other = test::make_ca("unrelated CA");
  pkey_ptr leaf_key = pki::generate_rsa(2048);
};

const shared_pki& pki_once() {
  static const shared_pki p;
  return p;
}

std::vector<std::string> rules(const std::vector<finding>& found) {
  std::vector<std::string> out;
  for (const auto& f : found) out.push_back(f.rule);
  return out;
}

class Policy : public ::testing::Test {
 protected:
  Policy() {
    role_.name = "recording";
    role_.ca_path = dir_.write("ca.pem", pki::to_pem(pki_once().ca.cert.get()), 0644);
  }

  // Issues `spec` for `key` (the shared leaf key by default) and checks it as route recording-live.
  std::vector<finding> check(const pki::cert_spec& spec, usage use = usage::server, EVP_PKEY* key = nullptr,
                             const test::issuer* by = nullptr, mode_t key_mode = 0600) {
    const auto& p = pki_once();
    if (key == nullptr) key = p.leaf_key.get();
    if (by == nullptr) by = &p.ca;
    const auto cert = pki::make_certificate(spec, key, by->cert.get(), by->key.get());
    const auto cert_path = dir_.write("leaf.pem", pki::to_pem(cert.get()), 0644);
    const auto key_path = dir_.write("leaf.key", pki::to_pem(key), key_mode);
    return check_files(role_, load_ca(role_.ca_path), "recording-live", use, names_, cert_path, key_path, now_);
  }

  test::temp_dir dir_;
  role_policy role_;
  std::vector<std::string> names_{"rec01.example.local"};
  sys_clock::time_point now_ = sys_clock::now();
};

TEST_F(Policy, GoodServerCertificateHasNoFinding) { EXPECT_TRUE(check(test::server_spec()).empty()); }

TEST_F(Policy, ChainNotFromTheRolesCa) {
  const auto found = check(test::server_spec(), usage::server, nullptr, &pki_once().other);
  EXPECT_EQ(rules(found), std::vector<std::string>{"chain_untrusted"});
  EXPECT_NE(found.at(0).message.find("route recording-live"), std::string::npos);
}

TEST_F(Policy, NameNotCoveredSaysWhatIsCovered) {
  auto spec = test::server_spec();
  spec.dns_names = {"rec02.example.local"};
  const auto found = check(spec);
  ASSERT_EQ(rules(found), std::vector<std::string>{"name_not_covered"});
  EXPECT_NE(found[0].message.find("for route recording-live does not cover rec01.example.local: its SAN lists "
                                  "rec02.example.local"),
            std::string::npos)
      << found[0].message;
  EXPECT_NE(found[0].message.find("leaf.pem"), std::string::npos);
}

TEST_F(Policy, IpServerNameNeedsIpSan) {
  names_ = {"10.0.0.5"};
  auto spec = test::server_spec();
  EXPECT_EQ(rules(check(spec)), std::vector<std::string>{"name_not_covered"});
  spec.ip_addresses = {"10.0.0.5"};
  EXPECT_TRUE(check(spec).empty());
}

TEST_F(Policy, Expired) {
  auto spec = test::server_spec();
  spec.not_before = now_ - 400 * 24h;
  spec.not_after = now_ - 24h;
  EXPECT_EQ(rules(check(spec)), std::vector<std::string>{"expired"});
}

TEST_F(Policy, NotYetValid) {
  auto spec = test::server_spec();
  spec.not_before = now_ + 24h;
  EXPECT_EQ(rules(check(spec)), std::vector<std::string>{"not_yet_valid"});
}

TEST_F(Policy, ExpiresSoonIsAWarningWithDaysLeft) {
  auto spec = test::server_spec();
  spec.not_after = now_ + 10 * 24h + 1h;
  const auto found = check(spec);
  ASSERT_EQ(rules(found), std::vector<std::string>{"expires_soon"});
  EXPECT_EQ(found[0].level, severity::warning);
  EXPECT_NE(found[0].message.find("in 10 days"), std::string::npos) << found[0].message;
  role_.expiry_warning = 5 * 24h;
  EXPECT_TRUE(check(spec).empty());
}

TEST_F(Policy, EcdsaKeyUnlessAllowed) {
  const auto ec = pki::generate_ec();
  EXPECT_EQ(rules(check(test::server_spec(), usage::server, ec.get())), std::vector<std::string>{"key_not_rsa"});
  role_.allow_ecdsa = true;
  EXPECT_TRUE(check(test::server_spec(), usage::server, ec.get()).empty());
}

TEST_F(Policy, RsaKeyTooSmall) {
  const auto small = pki::generate_rsa(1024);
  const auto found = check(test::server_spec(), usage::server, small.get());
  ASSERT_EQ(rules(found), std::vector<std::string>{"key_too_small"});
  EXPECT_NE(found[0].message.find("1024-bit RSA key"), std::string::npos);
}

TEST_F(Policy, ServerCertificateWithoutServerAuth) {
  auto spec = test::server_spec();
  spec.server_auth = false;
  spec.client_auth = true;
  EXPECT_EQ(rules(check(spec)), std::vector<std::string>{"missing_server_auth"});
}

TEST_F(Policy, ClientCertificateWithoutClientAuth) {
  EXPECT_EQ(rules(check(test::server_spec(), usage::client)), std::vector<std::string>{"missing_client_auth"});
  auto spec = test::server_spec();
  spec.client_auth = true;
  EXPECT_TRUE(check(spec, usage::client).empty());
}

TEST_F(Policy, AbsentEkuIsAWarning) {
  auto spec = test::server_spec();
  spec.with_eku = false;
  const auto found = check(spec);
  ASSERT_EQ(rules(found), std::vector<std::string>{"eku_absent"});
  EXPECT_EQ(found[0].level, severity::warning);
}

TEST_F(Policy, KeyReadableByOthersIsAWarning) {
  const auto found = check(test::server_spec(), usage::server, nullptr, nullptr, 0644);
  ASSERT_EQ(rules(found), std::vector<std::string>{"key_permissions"});
  EXPECT_EQ(found[0].level, severity::warning);
  EXPECT_EQ(rules(check(test::server_spec(), usage::server, nullptr, nullptr, 0640)),
            std::vector<std::string>{"key_permissions"});
}

TEST_F(Policy, KeyUnreadable) {
  const auto cert = pki::make_certificate(test::server_spec(), pki_once().leaf_key.get(), pki_once().ca.cert.get(),
                                          pki_once().ca.key.get());
  const auto cert_path = dir_.write("leaf.pem", pki::to_pem(cert.get()), 0644);
  const auto ca = load_ca(role_.ca_path);
  const auto missing = check_files(role_, ca, "r", usage::server, names_, cert_path, dir_.file("nope.key"), now_);
  EXPECT_EQ(rules(missing), std::vector<std::string>{"key_unreadable"});
  const auto garbage = dir_.write("garbage.key", "not a key\n");
  EXPECT_EQ(rules(check_files(role_, ca, "r", usage::server, names_, cert_path, garbage, now_)),
            std::vector<std::string>{"key_unreadable"});
}

TEST_F(Policy, KeyDoesNotMatchCertificate) {
  const auto& p = pki_once();
  const auto cert = pki::make_certificate(test::server_spec(), p.leaf_key.get(), p.ca.cert.get(), p.ca.key.get());
  const auto cert_path = dir_.write("leaf.pem", pki::to_pem(cert.get()), 0644);
  const auto key_path = dir_.write("other.key", pki::to_pem(p.other.key.get()));
  EXPECT_EQ(rules(check_files(role_, load_ca(role_.ca_path), "r", usage::server, names_, cert_path, key_path, now_)),
            std::vector<std::string>{"key_mismatch"});
}

TEST_F(Policy, CertificateUnreadable) {
  EXPECT_EQ(rules(check_files(role_, load_ca(role_.ca_path), "r", usage::server, names_, dir_.file("none.pem"),
                              dir_.file("none.key"), now_)),
            std::vector<std::string>{"cert_unreadable"});
}

TEST_F(Policy, ChainCheckIsLeftToTheRoleWhenTheCaIsUnreadable) {
  role_.ca_path = dir_.file("missing-ca.pem");
  const auto ca = load_ca(role_.ca_path);
  EXPECT_EQ(rules(check_ca(role_, ca, now_)), std::vector<std::string>{"ca_unreadable"});
  EXPECT_TRUE(check(test::server_spec()).empty());
}

TEST_F(Policy, CaExpiringAndExpired) {
  EXPECT_TRUE(check_ca(role_, load_ca(role_.ca_path), now_).empty());
  const auto soon = test::make_ca("soon CA", now_ + 7 * 24h);
  role_.ca_path = dir_.write("soon.pem", pki::to_pem(soon.cert.get()), 0644);
  const auto found = check_ca(role_, load_ca(role_.ca_path), now_);
  ASSERT_EQ(rules(found), std::vector<std::string>{"ca_expiring"});
  EXPECT_EQ(found[0].level, severity::warning);
  EXPECT_EQ(rules(check_ca(role_, load_ca(role_.ca_path), now_ + 8 * 24h)), std::vector<std::string>{"ca_expired"});
}

TEST_F(Policy, EveryBrokenRuleIsReportedAtOnce) {
  auto spec = test::server_spec();
  spec.dns_names = {"rec02.example.local"};
  spec.server_auth = false;
  spec.client_auth = true;
  spec.not_after = now_ - 1h;
  const auto small = pki::generate_rsa(1024);
  const auto found = check(spec, usage::server, small.get(), &pki_once().other, 0644);
  EXPECT_EQ(rules(found), (std::vector<std::string>{"chain_untrusted", "name_not_covered", "expired", "key_too_small",
                                                    "missing_server_auth", "key_permissions"}));
  EXPECT_TRUE(has_error(found));
}

}  // namespace
}  // namespace vmsgate::tls
