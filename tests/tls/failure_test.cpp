// The handshake failure classifier (issue 3): one pure function from what was known
// when a handshake failed to the contract's reason label. A table of cases, each
// shaped like what the session actually gathers in that situation.

#include "proxy/tls/failure.hpp"

#include <gtest/gtest.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include <cctype>
#include <set>
#include <string>

#include "proxy/tls/name_match.hpp"

namespace vmsgate::tls {
namespace {

struct facts_case {
  std::string what;
  failure_facts facts;
  failure_reason expected;
};

failure_facts verify_failed(long v) {
  failure_facts f;
  f.verify_result = v;
  f.lib = ERR_LIB_SSL;
  f.reason = SSL_R_CERTIFICATE_VERIFY_FAILED;
  return f;
}

failure_facts ssl_reason(int reason) {
  failure_facts f;
  f.lib = ERR_LIB_SSL;
  f.reason = reason;
  return f;
}

failure_facts alert(int description) {
  failure_facts f;
  f.alert_received = description;
  return f;
}

// As OpenSSL queues a received alert: lib SSL, reason = 1000 + description.
failure_facts queued_alert(int description) { return ssl_reason(SSL_AD_REASON_OFFSET + description); }

class Classify : public ::testing::TestWithParam<facts_case> {};

TEST_P(Classify, GivesTheContractReason) {
  const auto& c = GetParam();
  EXPECT_EQ(name(classify(c.facts)), name(c.expected)) << c.what;
}

std::vector<facts_case> cases() {
  std::vector<facts_case> v;
  auto add = [&](std::string what, failure_facts f, failure_reason r) { v.push_back({std::move(what), f, r}); };
  using R = failure_reason;

  failure_facts timed_out;
  timed_out.timed_out = true;
  add("deadline", timed_out, R::timeout);
  failure_facts timed_out_with_error = verify_failed(X509_V_ERR_CERT_HAS_EXPIRED);
  timed_out_with_error.timed_out = true;
  add("a deadline wins over anything else", timed_out_with_error, R::timeout);

  // Our side verified the peer's chain and said no.
  add("expired", verify_failed(X509_V_ERR_CERT_HAS_EXPIRED), R::expired);
  add("not yet valid", verify_failed(X509_V_ERR_CERT_NOT_YET_VALID), R::expired);
  add("host name", verify_failed(X509_V_ERR_HOSTNAME_MISMATCH), R::name_mismatch);
  add("ip address", verify_failed(X509_V_ERR_IP_ADDRESS_MISMATCH), R::name_mismatch);
  add("issuer unknown locally", verify_failed(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY), R::unknown_ca);
  add("issuer unknown", verify_failed(X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT), R::unknown_ca);
  add("leaf alone", verify_failed(X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE), R::unknown_ca);
  add("self-signed leaf", verify_failed(X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT), R::unknown_ca);
  add("self-signed root in chain", verify_failed(X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN), R::unknown_ca);
  add("untrusted", verify_failed(X509_V_ERR_CERT_UNTRUSTED), R::unknown_ca);
  add("wrong usage (EKU)", verify_failed(X509_V_ERR_INVALID_PURPOSE), R::bad_certificate);
  add("bad signature", verify_failed(X509_V_ERR_CERT_SIGNATURE_FAILURE), R::bad_certificate);
  add("unreadable", verify_failed(X509_V_ERR_UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY), R::bad_certificate);
  // The role check (peer_names) refuses through the verify callback with an
  // application verification error: peer_verify.cpp promises peer_not_allowed.
  add("role check in the verify callback", verify_failed(X509_V_ERR_APPLICATION_VERIFICATION), R::peer_not_allowed);
  failure_facts refused = verify_failed(X509_V_OK);
  refused.peer_check_refused = true;
  add("role check flag", refused, R::peer_not_allowed);

  // client_auth: required and the client sent none.
  add("no client certificate", ssl_reason(SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE), R::no_certificate);
  add("SNI refused by our callback", ssl_reason(SSL_R_CALLBACK_FAILED), R::name_mismatch);
  add("verify failed without a verify result", ssl_reason(SSL_R_CERTIFICATE_VERIFY_FAILED), R::bad_certificate);
  add("no shared cipher", ssl_reason(SSL_R_NO_SHARED_CIPHER), R::protocol);
  add("unsupported protocol", ssl_reason(SSL_R_UNSUPPORTED_PROTOCOL), R::protocol);
  add("garbage instead of a record", ssl_reason(SSL_R_WRONG_VERSION_NUMBER), R::protocol);
  add("http on a TLS port", ssl_reason(SSL_R_HTTP_REQUEST), R::protocol);

  // The peer refused us and said why with an alert.
  add("alert unknown_ca", alert(SSL_AD_UNKNOWN_CA), R::unknown_ca);
  add("alert certificate_expired", alert(SSL_AD_CERTIFICATE_EXPIRED), R::expired);
  add("alert bad_certificate", alert(SSL_AD_BAD_CERTIFICATE), R::bad_certificate);
  add("alert unsupported_certificate", alert(SSL_AD_UNSUPPORTED_CERTIFICATE), R::bad_certificate);
  add("alert certificate_revoked", alert(SSL_AD_CERTIFICATE_REVOKED), R::revoked);  // the peer's CRL lists our certificate
  add("alert certificate_unknown", alert(SSL_AD_CERTIFICATE_UNKNOWN), R::bad_certificate);
  add("alert certificate_required", alert(SSL_AD_CERTIFICATE_REQUIRED), R::no_certificate);
  add("alert unrecognized_name", alert(SSL_AD_UNRECOGNIZED_NAME), R::name_mismatch);
  add("alert access_denied", alert(SSL_AD_ACCESS_DENIED), R::peer_not_allowed);
  add("alert handshake_failure", alert(SSL_AD_HANDSHAKE_FAILURE), R::protocol);
  add("alert protocol_version", alert(SSL_AD_PROTOCOL_VERSION), R::protocol);
  add("queued alert unknown_ca", queued_alert(SSL_AD_UNKNOWN_CA), R::unknown_ca);
  add("queued alert certificate_required", queued_alert(SSL_AD_CERTIFICATE_REQUIRED), R::no_certificate);
  add("queued alert certificate_expired", queued_alert(SSL_AD_CERTIFICATE_EXPIRED), R::expired);
  add("queued alert unrecognized_name", queued_alert(SSL_AD_UNRECOGNIZED_NAME), R::name_mismatch);
  add("queued alert decrypt_error", queued_alert(SSL_AD_DECRYPT_ERROR), R::protocol);
  failure_facts both = queued_alert(SSL_AD_HANDSHAKE_FAILURE);
  both.alert_received = SSL_AD_UNKNOWN_CA;
  add("the alert seen on the wire wins over the queued reason", both, R::unknown_ca);
  failure_facts own_verdict = verify_failed(X509_V_ERR_CERT_HAS_EXPIRED);
  own_verdict.alert_received = SSL_AD_HANDSHAKE_FAILURE;
  add("our own verification wins over the peer's alert", own_verdict, R::expired);

  // Nothing from OpenSSL: the peer went away, or an error outside libssl.
  failure_facts closed;
  closed.connection_closed = true;
  add("peer closed mid-handshake", closed, R::other);
  add("nothing known", failure_facts{}, R::other);
  failure_facts sys;
  sys.lib = ERR_LIB_SYS;
  sys.reason = 104;
  add("error outside libssl", sys, R::protocol);
  return v;
}

INSTANTIATE_TEST_SUITE_P(Table, Classify, ::testing::ValuesIn(cases()), [](const auto& info) {
  std::string n;
  for (const char ch : info.param.what) n += std::isalnum(static_cast<unsigned char>(ch)) ? ch : '_';
  return n;
});

TEST(FailureReason, NamesAreTheContractLabelsInOrder) {
  const std::set<std::string_view> contract{"timeout",       "protocol",     "unknown_ca",
                                            "bad_certificate", "expired",     "name_mismatch",
                                            "peer_not_allowed", "no_certificate", "other",
                                            "revoked"};  // second wave: CRLs
  std::set<std::string_view> ours(failure_reason_names.begin(), failure_reason_names.end());
  EXPECT_EQ(ours, contract);
  EXPECT_EQ(name(failure_reason::timeout), "timeout");
  EXPECT_EQ(name(failure_reason::other), "other");
  EXPECT_EQ(name(failure_reason::peer_not_allowed), "peer_not_allowed");
  EXPECT_EQ(name(failure_reason::revoked), "revoked");
}

TEST(FailureReason, RevocationIsRevoked) {
  failure_facts ours;
  ours.verify_result = X509_V_ERR_CERT_REVOKED;  // our CRL check refused the peer
  EXPECT_EQ(classify(ours), failure_reason::revoked);
  failure_facts theirs;
  theirs.alert_received = SSL_AD_CERTIFICATE_REVOKED;  // the peer's CRL refused us
  EXPECT_EQ(classify(theirs), failure_reason::revoked);
}

// peer_names (issue 3): '*' stands for exactly one label; name_match_test.cpp has
// the matcher's general cases, these are the role patterns the mTLS tests use.
cert_info dns(std::vector<std::string> names, std::string cn = "") {
  cert_info c;
  c.dns_names = std::move(names);
  c.common_name = std::move(cn);
  return c;
}

TEST(PeerNames, StarMatchesExactlyOneLabel) {
  EXPECT_TRUE(peer_name_matches(dns({"rec01.rec.example.local"}), "*.rec.example.local"));
  EXPECT_FALSE(peer_name_matches(dns({"a.b.rec.example.local"}), "*.rec.example.local"));
  EXPECT_FALSE(peer_name_matches(dns({"rec.example.local"}), "*.rec.example.local"));
  EXPECT_FALSE(peer_name_matches(dns({"rec01.example.local"}), "*.rec.example.local"));
  EXPECT_FALSE(peer_name_matches(dns({"rec01.rec.example.local.evil"}), "*.rec.example.local"));
}

TEST(PeerNames, AnySanMayMatchAndCnOnlyWithoutSans) {
  EXPECT_TRUE(peer_name_matches(dns({"x.other.local", "rec02.rec.example.local"}), "*.rec.example.local"));
  EXPECT_TRUE(peer_name_matches(dns({}, "rec03.rec.example.local"), "*.rec.example.local"));
  EXPECT_FALSE(peer_name_matches(dns({"x.other.local"}, "rec03.rec.example.local"), "*.rec.example.local"));
}

}  // namespace
}  // namespace vmsgate::tls
