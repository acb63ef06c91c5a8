// The order machine against the fake CA: whole orders, and each way one fails.

#include <gtest/gtest.h>

#include <functional>

#include "proxy/acme/certs.hpp"
#include "proxy/acme/order.hpp"
#include "proxy/pki/builder.hpp"
#include "tests/acme/fake_ca.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;
using acme::challenge_type;
using acme::step;

const acme::account_key& ec_account() {
  static const acme::account_key key(pki::generate_ec());
  return key;
}

struct outcome {
  step last;
  std::vector<acme::challenge> published;
  std::vector<std::chrono::milliseconds> waits;
};

// The caller's loop, with the fake CA for a network and no sleeping.
outcome drive(acme::order_machine& m, fake_ca& ca) {
  outcome out;
  step s = m.start();
  for (int i = 0; i < 500; ++i) {
    switch (s.what) {
      case step::kind::request: s = m.received(ca.handle(s.request)); break;
      case step::kind::publish: {
        tls::x509_ptr cert;
        if (s.to_publish.type == challenge_type::tls_alpn_01) {
          cert = acme::make_alpn_certificate(s.to_publish.name, s.to_publish.key_authorization).cert;
        }
        ca.publish(s.to_publish, cert.get());
        out.published.push_back(s.to_publish);
        s = m.published();
        break;
      }
      case step::kind::wait:
        out.waits.push_back(s.delay);
        s = m.waited();
        break;
      default: out.last = s; return out;
    }
  }
  ADD_FAILURE() << "the order did not end";
  out.last = s;
  return out;
}

acme::order_settings settings_for(const fake_ca& ca, std::vector<std::string> names = {"rec01.example.local"}) {
  acme::order_settings s;
  s.directory_url = ca.directory_url();
  s.names = std::move(names);
  s.contact = {"mailto:ops@example.local"};
  s.poll_interval = 250ms;
  return s;
}

// One order start to end; `cert_key` must outlive the result's use.
struct run {
  explicit run(fake_ca_options o, std::vector<std::string> names = {"rec01.example.local"},
               std::function<void(acme::order_settings&)> adjust = {})
      : ca(std::move(o)), cert_key(pki::generate_ec()) {
    acme::order_settings s = settings_for(ca, std::move(names));
    if (adjust) adjust(s);
    machine.emplace(std::move(s), ec_account(), cert_key.get());
    result = drive(*machine, ca);
  }
  fake_ca ca;
  tls::pkey_ptr cert_key;
  std::optional<acme::order_machine> machine;
  outcome result;
};

void expect_failed(const outcome& out, const std::string& starts) {
  EXPECT_EQ(out.last.what, step::kind::failed) << out.last.certificate_pem;
  EXPECT_TRUE(out.last.error.starts_with(starts)) << out.last.error << "\n does not start with\n" << starts;
}

TEST(AcmeOrder, IssuesWithTlsAlpn01ForTwoNames) {
  const std::vector<std::string> names = {"rec01.example.local", "rec01-alt.example.local"};
  run r({}, names);
  ASSERT_EQ(r.result.last.what, step::kind::done) << r.result.last.error;
  EXPECT_TRUE(r.ca.violations.empty()) << testing::PrintToString(r.ca.violations);
  ASSERT_EQ(r.result.published.size(), 2u);
  for (std::size_t i = 0; i < names.size(); ++i) {
    const acme::challenge& c = r.result.published[i];
    EXPECT_EQ(c.type, challenge_type::tls_alpn_01);
    EXPECT_EQ(c.name, names[i]);
    EXPECT_EQ(c.token, r.ca.tokens[names[i]]);
    EXPECT_EQ(c.key_authorization, c.token + "." + ec_account().thumbprint());
  }
  EXPECT_EQ(r.machine->challenges().size(), 2u);
  EXPECT_EQ(r.ca.validated_types, (std::vector<std::string>{"tls-alpn-01", "tls-alpn-01"}));
  EXPECT_EQ(r.ca.csr_names, names);
  EXPECT_EQ(r.ca.csr_common_name, names[0]);
  EXPECT_EQ(r.result.last.certificate_pem, r.ca.issued_pem);
  EXPECT_EQ(acme::parse_pem_chain(r.result.last.certificate_pem).size(), 2u);
  EXPECT_EQ(r.machine->account_url(), r.ca.account_url());
  // directory, nonce, account, order; per name authorization, challenge, poll;
  // order, finalize, certificate: nothing more.
  EXPECT_EQ(r.machine->requests(), 13);
  EXPECT_EQ(r.machine->bad_nonce_retries(), 0);
  EXPECT_EQ(r.result.waits, (std::vector<std::chrono::milliseconds>{250ms, 250ms}));
  ASSERT_TRUE(r.ca.new_account_payload);
  EXPECT_EQ(boost::json::serialize(*r.ca.new_account_payload),
            R"({"termsOfServiceAgreed":true,"contact":["mailto:ops@example.local"]})");
  ASSERT_EQ(r.ca.new_order_payloads.size(), 1u);
  EXPECT_EQ(boost::json::serialize(r.ca.new_order_payloads[0]),
            R"({"identifiers":[{"type":"dns","value":"rec01.example.local"},)"
            R"({"type":"dns","value":"rec01-alt.example.local"}]})");
}

TEST(AcmeOrder, IssuesWithHttp01AndAnRsaAccount) {
  fake_ca ca;
  const acme::account_key rsa(pki::generate_rsa(2048));
  const tls::pkey_ptr cert_key = pki::generate_rsa(2048);
  acme::order_settings s = settings_for(ca);
  s.challenge = challenge_type::http_01;
  s.contact.clear();
  acme::order_machine m(std::move(s), rsa, cert_key.get());
  const outcome out = drive(m, ca);
  ASSERT_EQ(out.last.what, step::kind::done) << out.last.error;
  EXPECT_TRUE(ca.violations.empty()) << testing::PrintToString(ca.violations);
  ASSERT_EQ(out.published.size(), 1u);
  EXPECT_EQ(out.published[0].type, challenge_type::http_01);
  EXPECT_EQ(out.published[0].token, ca.tokens["rec01.example.local"]);
  EXPECT_EQ(out.published[0].key_authorization, out.published[0].token + "." + rsa.thumbprint());
  EXPECT_EQ(ca.validated_types, std::vector<std::string>{"http-01"});
  EXPECT_EQ(boost::json::serialize(*ca.new_account_payload), R"({"termsOfServiceAgreed":true})");
  const auto chain = acme::parse_pem_chain(out.last.certificate_pem);
  ASSERT_FALSE(chain.empty());
  EXPECT_EQ(EVP_PKEY_eq(X509_get0_pubkey(chain[0].get()), cert_key.get()), 1);
}

TEST(AcmeOrder, ResendsWithTheFreshNonceAfterBadNonce) {
  fake_ca_options o;
  o.bad_nonces = 3;
  run r(o);
  ASSERT_EQ(r.result.last.what, step::kind::done) << r.result.last.error;
  EXPECT_TRUE(r.ca.violations.empty()) << testing::PrintToString(r.ca.violations);
  EXPECT_EQ(r.machine->bad_nonce_retries(), 3);
  EXPECT_EQ(r.machine->requests(), 10 + 3);
}

TEST(AcmeOrder, GivesUpAfterTooManyBadNonces) {
  fake_ca_options o;
  o.bad_nonces = 50;
  run r(o, {"rec01.example.local"}, [](acme::order_settings& s) { s.max_bad_nonce_retries = 2; });
  expect_failed(r.result, "newAccount: 400 urn:ietf:params:acme:error:badNonce");
  EXPECT_EQ(r.machine->bad_nonce_retries(), 2);
}

TEST(AcmeOrder, FetchesANonceWhenAResponseBroughtNone) {
  fake_ca_options o;
  o.omit_nonce = "new-account";
  run r(o);
  ASSERT_EQ(r.result.last.what, step::kind::done) << r.result.last.error;
  EXPECT_TRUE(r.ca.violations.empty()) << testing::PrintToString(r.ca.violations);
  EXPECT_EQ(r.machine->requests(), 10 + 1);
}

TEST(AcmeOrder, InvalidChallengeFailsWithTheServersDetail) {
  fake_ca_options o;
  o.challenge_invalid = true;
  run r(o);
  expect_failed(r.result, "authorization for rec01.example.local: challenge tls-alpn-01 invalid: ");
  EXPECT_NE(r.result.last.error.find(invalid_detail), std::string::npos) << r.result.last.error;
  EXPECT_EQ(r.machine->challenges().size(), 1u);  // still to be withdrawn
}

TEST(AcmeOrder, RateLimitedNewOrderFailsWithRetryAfter) {
  fake_ca_options o;
  o.rate_limit_new_order = true;
  run r(o);
  expect_failed(r.result, "newOrder: 429 urn:ietf:params:acme:error:rateLimited: too many new orders recently");
  EXPECT_EQ(r.result.last.retry_after, std::optional<std::chrono::seconds>(120s));
  EXPECT_TRUE(r.result.published.empty());
}

TEST(AcmeOrder, MissingChallengeTypeNamesTheOfferedOnes) {
  fake_ca_options o;
  o.challenge_types = {"http-01", "dns-01"};
  run r(o);
  expect_failed(r.result,
                "authorization for rec01.example.local: no tls-alpn-01 challenge offered (offered: http-01, dns-01)");
}

TEST(AcmeOrder, MalformedResponsesFailNamingTheStepWithoutThrowing) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"directory", "directory: the response is not JSON"},
      {"new-account", "newAccount: the response is not JSON"},
      {"new-order", "newOrder: the response is not JSON"},
      {"authz", "authorization https://ca.test/authz/0: the response is not JSON"},
      {"finalize", "finalize: the response is not JSON"},
  };
  for (const auto& [route, message] : cases) {
    fake_ca_options o;
    o.malformed = route;
    EXPECT_NO_THROW({
      run r(o);
      expect_failed(r.result, message);
    }) << route;
  }
  fake_ca_options o;
  o.directory_without_new_order = true;
  run r(o);
  expect_failed(r.result, "directory: the response has no \"newOrder\"");
}

TEST(AcmeOrder, SendsReplacesOnlyWhenTheDirectoryHasRenewalInfo) {
  const std::string id = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE";
  const auto with_replaces = [&](acme::order_settings& s) { s.replaces = id; };
  fake_ca_options ari;
  ari.renewal_info = true;
  run with_ari(ari, {"rec01.example.local"}, with_replaces);
  ASSERT_EQ(with_ari.result.last.what, step::kind::done) << with_ari.result.last.error;
  EXPECT_TRUE(with_ari.machine->directory_has_renewal_info());
  EXPECT_EQ(with_ari.machine->renewal_info_url(), "https://ca.test/renewal-info");
  ASSERT_EQ(with_ari.ca.new_order_payloads.size(), 1u);
  EXPECT_EQ(boost::json::value_to<std::string>(with_ari.ca.new_order_payloads[0].at("replaces")), id);

  run without_ari({}, {"rec01.example.local"}, with_replaces);
  ASSERT_EQ(without_ari.result.last.what, step::kind::done) << without_ari.result.last.error;
  EXPECT_FALSE(without_ari.machine->directory_has_renewal_info());
  ASSERT_EQ(without_ari.ca.new_order_payloads.size(), 1u);
  EXPECT_FALSE(without_ari.ca.new_order_payloads[0].contains("replaces"));
}

TEST(AcmeOrder, OrdersWithoutReplacesWhenTheCertificateWasAlreadyReplaced) {
  fake_ca_options o;
  o.renewal_info = true;
  o.reject_replaces = true;
  run r(o, {"rec01.example.local"}, [](acme::order_settings& s) { s.replaces = "aYhba4dGQEHhs3uEe6CuLN4ByNQ.AIdlQyE"; });
  ASSERT_EQ(r.result.last.what, step::kind::done) << r.result.last.error;
  ASSERT_EQ(r.ca.new_order_payloads.size(), 2u);
  EXPECT_TRUE(r.ca.new_order_payloads[0].contains("replaces"));
  EXPECT_FALSE(r.ca.new_order_payloads[1].contains("replaces"));
}

TEST(AcmeOrder, SkipsAnAuthorizationThatIsAlreadyValid) {
  fake_ca_options o;
  o.first_authorization_valid = true;
  run r(o, {"rec01.example.local", "rec02.example.local"});
  ASSERT_EQ(r.result.last.what, step::kind::done) << r.result.last.error;
  ASSERT_EQ(r.result.published.size(), 1u);
  EXPECT_EQ(r.result.published[0].name, "rec02.example.local");
  EXPECT_TRUE(r.ca.violations.empty()) << testing::PrintToString(r.ca.violations);
}

TEST(AcmeOrder, PublishesNothingForAChallengeAlreadyProcessing) {
  fake_ca_options o;
  o.first_challenge_processing = true;
  run r(o);
  ASSERT_EQ(r.result.last.what, step::kind::done) << r.result.last.error;
  EXPECT_TRUE(r.result.published.empty());
  EXPECT_TRUE(r.ca.validated_types.empty());  // no second response to the challenge
}

TEST(AcmeOrder, PollsAProcessingOrderAsItsRetryAfterSays) {
  fake_ca_options o;
  o.processing_polls = 2;
  run r(o);
  ASSERT_EQ(r.result.last.what, step::kind::done) << r.result.last.error;
  EXPECT_EQ(r.result.waits, (std::vector<std::chrono::milliseconds>{250ms, 3000ms, 3000ms}));
  EXPECT_EQ(r.result.last.certificate_pem, r.ca.issued_pem);
}

TEST(AcmeOrder, GivesUpWhenTheAuthorizationStaysPending) {
  fake_ca_options o;
  o.validation_polls = 100;
  run r(o, {"rec01.example.local"}, [](acme::order_settings& s) { s.max_polls = 3; });
  expect_failed(r.result, "authorization for rec01.example.local: still pending after 3 polls");
  EXPECT_EQ(r.result.waits.size(), 3u);
}

TEST(AcmeOrder, RefusesATokenThatIsNotBase64url) {
  fake_ca_options o;
  o.token_prefix = "../../etc/passwd";
  run r(o, {"rec01.example.local"}, [](acme::order_settings& s) { s.challenge = challenge_type::http_01; });
  expect_failed(r.result, "authorization for rec01.example.local: the challenge's token is not base64url");
  EXPECT_TRUE(r.result.published.empty());
}

TEST(AcmeOrder, RefusesAnAuthorizationForANameNotOrdered) {
  fake_ca_options o;
  o.foreign_name = "bank.example";
  run r(o);
  expect_failed(r.result, "authorization for bank.example: not a name this order asked for");
  EXPECT_TRUE(r.result.published.empty());
}

TEST(AcmeOrder, RefusesACertificateForAnotherKey) {
  fake_ca_options o;
  o.issue_for_other_key = true;
  run r(o);
  expect_failed(r.result, "certificate: the leaf certificate is not for the key of the CSR");
}

TEST(AcmeOrder, CallsOutOfTurnFailInsteadOfThrowing) {
  fake_ca ca;
  const tls::pkey_ptr key = pki::generate_ec();
  acme::order_machine m(settings_for(ca), ec_account(), key.get());
  EXPECT_EQ(m.received({}).what, step::kind::failed);
  acme::order_machine m2(settings_for(ca), ec_account(), key.get());
  EXPECT_EQ(m2.start().what, step::kind::request);
  EXPECT_EQ(m2.published().what, step::kind::failed);
  acme::order_machine m3(settings_for(ca, {}), ec_account(), key.get());
  EXPECT_EQ(m3.start().what, step::kind::failed);
}

}  // namespace
}  // namespace vmsgate::test
