// The peer-facing subset of the policy: what a handshake checks after OpenSSL has
// verified the peer's chain.

#include <gtest/gtest.h>

#include "proxy/tls/policy.hpp"
#include "tests/tls/fixtures.hpp"

namespace vmsgate::tls {
namespace {

using namespace std::chrono_literals;

struct peer_pki {
  test::issuer ca = test::make_ca("peer test CA");
  pkey_ptr key = pki::generate_rsa(2048);
};

const peer_pki& pki_once() {
  static const peer_pki p;
  return p;
}

x509_ptr make_peer(const pki::cert_spec& spec) {
  return pki::make_certificate(spec, pki_once().key.get(), pki_once().ca.cert.get(), pki_once().ca.key.get());
}

pki::cert_spec client_spec() {
  auto spec = test::server_spec();
  spec.common_name = "mgmt01.mgmt.example.local";
  spec.dns_names = {"mgmt01.mgmt.example.local"};
  spec.server_auth = false;
  spec.client_auth = true;
  return spec;
}

std::vector<std::string> rules(const std::vector<finding>& found) {
  std::vector<std::string> out;
  for (const auto& f : found) out.push_back(f.rule);
  return out;
}

class PeerPolicy : public ::testing::Test {
 protected:
  PeerPolicy() {
    role_.name = "management";
    role_.peer_names = {"*.mgmt.example.local"};
  }
  role_policy role_;
  clock::time_point now_ = clock::now();
};

TEST_F(PeerPolicy, AllowedClientPasses) {
  EXPECT_TRUE(check_peer(role_, make_peer(client_spec()).get(), usage::client, now_).empty());
}

TEST_F(PeerPolicy, NameOutsidePeerNames) {
  auto spec = client_spec();
  spec.dns_names = {"mgmt01.example.local"};
  const auto found = check_peer(role_, make_peer(spec).get(), usage::client, now_);
  ASSERT_EQ(rules(found), std::vector<std::string>{"peer_name_not_allowed"});
  EXPECT_NE(found[0].message.find("*.mgmt.example.local"), std::string::npos);
  role_.peer_names.clear();
  EXPECT_TRUE(check_peer(role_, make_peer(spec).get(), usage::client, now_).empty());
}

TEST_F(PeerPolicy, WrongUsage) {
  EXPECT_EQ(rules(check_peer(role_, make_peer(client_spec()).get(), usage::server, now_)),
            std::vector<std::string>{"missing_server_auth"});
}

TEST_F(PeerPolicy, AbsentEkuIsAccepted) {
  auto spec = client_spec();
  spec.with_eku = false;
  EXPECT_TRUE(check_peer(role_, make_peer(spec).get(), usage::client, now_).empty());
}

TEST_F(PeerPolicy, ExpiredAndNotYetValid) {
  const auto peer = make_peer(client_spec());
  EXPECT_EQ(rules(check_peer(role_, peer.get(), usage::client, now_ + 400 * 24h)),
            std::vector<std::string>{"expired"});
  EXPECT_EQ(rules(check_peer(role_, peer.get(), usage::client, now_ - 48h)),
            std::vector<std::string>{"not_yet_valid"});
}

// A peer is held to its role's key rules as the role's own certificates are: RSA of
// at least min_rsa_bits, ECDSA only with allow_ecdsa (issue 32, finding 5).
TEST_F(PeerPolicy, KeyRulesOfTheRole) {
  const auto rsa2048 = make_peer(client_spec());
  role_.min_rsa_bits = 3072;
  EXPECT_EQ(rules(check_peer(role_, rsa2048.get(), usage::client, now_)), std::vector<std::string>{"key_too_small"});
  role_.min_rsa_bits = 2048;
  EXPECT_TRUE(check_peer(role_, rsa2048.get(), usage::client, now_).empty());
  const pkey_ptr ec = pki::generate_ec();
  const auto p256 =
      pki::make_certificate(client_spec(), ec.get(), pki_once().ca.cert.get(), pki_once().ca.key.get());
  EXPECT_EQ(rules(check_peer(role_, p256.get(), usage::client, now_)), std::vector<std::string>{"key_not_rsa"});
  role_.allow_ecdsa = true;
  EXPECT_TRUE(check_peer(role_, p256.get(), usage::client, now_).empty());
}

TEST(Inspect, ReadsTheFactsOfACertificate) {
  auto spec = test::server_spec();
  spec.ip_addresses = {"10.0.0.5", "::1"};
  spec.client_auth = true;
  const auto cert = make_peer(spec);
  const cert_info info = inspect(cert.get());
  EXPECT_EQ(info.common_name, "rec01.example.local");
  EXPECT_EQ(info.subject, "CN=rec01.example.local,OU=recording");
  EXPECT_EQ(info.dns_names, std::vector<std::string>{"rec01.example.local"});
  EXPECT_EQ(info.ip_addresses, (std::vector<std::string>{"10.0.0.5", "::1"}));
  EXPECT_EQ(info.key, key_kind::rsa);
  EXPECT_EQ(info.key_bits, 2048);
  EXPECT_TRUE(info.has_eku && info.eku_server_auth && info.eku_client_auth);
  EXPECT_FALSE(info.is_ca);
  EXPECT_GE(info.serial.size(), 30u);
  EXPECT_EQ(clock::to_time_t(info.not_after), clock::to_time_t(spec.not_after));
}

}  // namespace
}  // namespace vmsgate::tls
