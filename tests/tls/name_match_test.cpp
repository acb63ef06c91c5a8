#include "proxy/tls/name_match.hpp"

#include <gtest/gtest.h>

namespace vmsgate::tls {
namespace {

cert_info with_names(std::vector<std::string> dns, std::vector<std::string> ips = {}, std::string cn = "") {
  cert_info c;
  c.dns_names = std::move(dns);
  c.ip_addresses = std::move(ips);
  c.common_name = std::move(cn);
  return c;
}

TEST(DnsNameMatches, ExactIgnoresCaseAndOneTrailingDot) {
  EXPECT_TRUE(dns_name_matches("rec01.example.local", "rec01.example.local"));
  EXPECT_TRUE(dns_name_matches("REC01.Example.local", "rec01.example.LOCAL."));
  EXPECT_FALSE(dns_name_matches("rec01.example.local", "rec02.example.local"));
  EXPECT_FALSE(dns_name_matches("", ""));
}

TEST(DnsNameMatches, WildcardCoversExactlyOneLeftMostLabel) {
  EXPECT_TRUE(dns_name_matches("*.rec.example.local", "a.rec.example.local"));
  EXPECT_FALSE(dns_name_matches("*.rec.example.local", "rec.example.local"));
  EXPECT_FALSE(dns_name_matches("*.rec.example.local", "a.b.rec.example.local"));
  EXPECT_FALSE(dns_name_matches("*.rec.example.local", ".rec.example.local"));
}

TEST(DnsNameMatches, PartialAndInnerWildcardsAreRejected) {
  EXPECT_FALSE(dns_name_matches("rec*.example.local", "rec01.example.local"));
  EXPECT_FALSE(dns_name_matches("*rec.example.local", "xrec.example.local"));
  EXPECT_FALSE(dns_name_matches("a.*.example.local", "a.b.example.local"));
  EXPECT_FALSE(dns_name_matches("*.*.example.local", "a.b.example.local"));
}

TEST(DnsNameMatches, WildcardNeedsTwoLabelsAfterIt) {
  EXPECT_FALSE(dns_name_matches("*.local", "example.local"));
  EXPECT_FALSE(dns_name_matches("*", "local"));
  EXPECT_TRUE(dns_name_matches("*.example.local", "rec.example.local"));
}

TEST(DnsNameMatches, NeverCoversAnIpLiteral) {
  EXPECT_FALSE(dns_name_matches("*.0.0.1", "127.0.0.1"));
  EXPECT_FALSE(dns_name_matches("127.0.0.1", "127.0.0.1"));
}

TEST(CanonicalIp, NormalisesBothFamilies) {
  EXPECT_EQ(canonical_ip("127.0.0.1"), "127.0.0.1");
  EXPECT_EQ(canonical_ip("0:0:0:0:0:0:0:1"), "::1");
  EXPECT_EQ(canonical_ip("rec01.example.local"), std::nullopt);
  EXPECT_EQ(canonical_ip("127.1"), std::nullopt);
}

TEST(Covers, IpAddressesMatchOnlyIpSans) {
  const auto cert = with_names({"127.0.0.1", "rec01.example.local"}, {"10.0.0.5", "::1"});
  EXPECT_TRUE(covers(cert, "10.0.0.5"));
  EXPECT_TRUE(covers(cert, "0::1"));
  EXPECT_FALSE(covers(cert, "127.0.0.1"));  // a DNS SAN spelling an address does not count
  EXPECT_TRUE(covers(cert, "rec01.example.local"));
}

TEST(Covers, CommonNameOnlyWithoutAnySan) {
  EXPECT_TRUE(covers(with_names({}, {}, "rec01.example.local"), "rec01.example.local"));
  EXPECT_TRUE(covers(with_names({}, {}, "*.example.local"), "rec01.example.local"));
  EXPECT_FALSE(covers(with_names({"rec02.example.local"}, {}, "rec01.example.local"), "rec01.example.local"));
  EXPECT_FALSE(covers(with_names({}, {"10.0.0.5"}, "rec01.example.local"), "rec01.example.local"));
}

TEST(PeerNameMatches, PatternCoversSanOrEqualsIt) {
  EXPECT_TRUE(peer_name_matches(with_names({"mgmt01.rec.example.local"}), "*.rec.example.local"));
  EXPECT_TRUE(peer_name_matches(with_names({"*.rec.example.local"}), "*.rec.example.local"));
  EXPECT_FALSE(peer_name_matches(with_names({"mgmt01.example.local"}), "*.rec.example.local"));
  EXPECT_TRUE(peer_name_matches(with_names({}, {}, "mgmt01.example.local"), "mgmt01.example.local"));
}

TEST(DescribeNames, SaysWhatTheCertificateCovers) {
  EXPECT_EQ(describe_names(with_names({"rec02.example.local"})), "its SAN lists rec02.example.local");
  EXPECT_EQ(describe_names(with_names({"a"}, {"10.0.0.1"})), "its SAN lists a, IP 10.0.0.1");
  EXPECT_EQ(describe_names(with_names({}, {}, "x")), "no SAN, only CN x");
}

}  // namespace
}  // namespace vmsgate::tls
