// tls-alpn-01 on a route's own contexts (RFC 8737), in memory: a validator that
// offers acme-tls/1 for a pending name gets the validation certificate and that
// protocol; anyone else gets the route as usual, or nothing while the route has
// no certificate of its own yet.

#include <gtest/gtest.h>

#include "proxy/acme/certs.hpp"
#include "proxy/tls/acme_answers.hpp"
#include "proxy/tls/server_context.hpp"
#include "tests/support/memory_pair.hpp"
#include "tests/tls/fixtures.hpp"

namespace vmsgate::test {
namespace {

constexpr const char* host = "rec01.example.local";

struct route_files {
  issuer ca = make_ca("acme answers test CA");
  tls::identity_pem own;
  route_files() {
    const auto key = pki::generate_rsa(2048);
    const auto cert = pki::make_certificate(server_spec(), key.get(), ca.cert.get(), ca.key.get());
    own.cert_chain_pem = pki::to_pem(cert.get());
    own.key_pem = tls::to_secret(pki::to_pem(key.get()));
  }
};

const route_files& files() {
  static const route_files f;
  return f;
}

std::shared_ptr<const tls::server_context> context(std::shared_ptr<const tls::acme_answers> answers, bool pending,
                                                   tls::client_auth auth = tls::client_auth::none) {
  tls::server_identity id;
  id.route = "rec";
  id.own = files().own;
  id.server_names = {host};
  id.client_auth = auth;
  id.acme = std::move(answers);
  id.pending = pending;
  return tls::make_server_context(id, std::make_shared<tls::ticket_keyring>(tls::ticket_key_list{tls::random_ticket_key()}));
}

struct outcome {
  bool done = false;
  std::string alpn;
  std::string subject_cn;
  bool has_acme_extension = false;
  bool validation = false;  // as the session would see it
  bool resumed = false;
};

outcome shake(const tls::server_context& ctx, const char* sni, bool offer_acme, bool offer_h2 = false,
              SSL_SESSION* resume = nullptr, tls::ssl_session_ptr* session_out = nullptr, int version = 0) {
  tls::ssl_ctx_ptr client_ctx(SSL_CTX_new(TLS_client_method()));
  if (version != 0) SSL_CTX_set_max_proto_version(client_ctx.get(), version);
  tls::ssl_ptr s(SSL_new(ctx.ctx.get())), c(SSL_new(client_ctx.get()));
  EXPECT_TRUE(join_in_memory(s.get(), c.get()));
  if (resume != nullptr) SSL_set_session(c.get(), resume);
  if (sni != nullptr) SSL_set_tlsext_host_name(c.get(), sni);
  std::string protos;
  if (offer_h2) protos += std::string("\x02h2", 3);
  if (offer_acme) protos += std::string("\x0a" "acme-tls/1", 11);
  if (!protos.empty())
    SSL_set_alpn_protos(c.get(), reinterpret_cast<const unsigned char*>(protos.data()),
                        static_cast<unsigned>(protos.size()));
  for (int i = 0; i < 10 && (SSL_is_init_finished(s.get()) == 0 || SSL_is_init_finished(c.get()) == 0); ++i) {
    SSL_do_handshake(c.get());
    SSL_do_handshake(s.get());
  }
  // TLS 1.3 tickets go out with the server's first write after the handshake, and
  // the client takes them when it reads.
  unsigned char byte = 'x';
  SSL_write(s.get(), &byte, 1);
  SSL_read(c.get(), &byte, 1);
  ERR_clear_error();
  outcome out;
  out.done = SSL_is_init_finished(c.get()) == 1 && SSL_is_init_finished(s.get()) == 1;
  out.resumed = SSL_session_reused(s.get()) == 1;
  if (session_out != nullptr) session_out->reset(SSL_get1_session(c.get()));
  // Freed without a shutdown, a session is marked as not resumable.
  SSL_set_shutdown(c.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  SSL_set_shutdown(s.get(), SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
  out.validation = tls::is_acme_validation(s.get());
  const unsigned char* alpn = nullptr;
  unsigned alpn_len = 0;
  SSL_get0_alpn_selected(c.get(), &alpn, &alpn_len);
  out.alpn.assign(reinterpret_cast<const char*>(alpn), alpn_len);
  if (X509* peer = SSL_get0_peer_certificate(c.get())) {
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(peer), NID_commonName, cn, sizeof cn);
    out.subject_cn = cn;
    const std::unique_ptr<ASN1_OBJECT, decltype(&ASN1_OBJECT_free)> acme_identifier(
        OBJ_txt2obj("1.3.6.1.5.5.7.1.31", 1), ASN1_OBJECT_free);
    out.has_acme_extension = X509_get_ext_by_OBJ(peer, acme_identifier.get(), -1) >= 0;
  }
  return out;
}

// The certificate the ACME client makes for a tls-alpn-01 validation (RFC 8737).
std::pair<tls::x509_ptr, tls::pkey_ptr> validation_certificate() {
  auto made = acme::make_alpn_certificate(host, "token.thumbprint");
  return {std::move(made.cert), std::move(made.key)};
}

TEST(AcmeAnswers, AValidatorForAPendingNameGetsTheValidationCertificateAndProtocol) {
  auto answers = std::make_shared<tls::acme_answers>();
  auto [cert, key] = validation_certificate();
  answers->put("REC01.example.local", std::move(cert), std::move(key));  // names compare without case
  // Client certificates required on the route: the validator has none, and passes.
  const auto ctx = context(answers, false, tls::client_auth::required);
  const auto v = shake(*ctx, host, true);
  EXPECT_TRUE(v.done);
  EXPECT_TRUE(v.validation);
  EXPECT_EQ(v.alpn, "acme-tls/1");
  EXPECT_TRUE(v.has_acme_extension);

  // Anyone else on the same context: the route's own certificate, no protocol, and a
  // client certificate is still asked for (this one has none: refused).
  const auto other = shake(*context(answers, false), host, false, true);
  EXPECT_TRUE(other.done);
  EXPECT_FALSE(other.validation);
  EXPECT_EQ(other.alpn, "");
  EXPECT_EQ(other.subject_cn, host);
  EXPECT_FALSE(other.has_acme_extension);
  EXPECT_FALSE(shake(*ctx, host, false).done);

  // Withdrawn: a validator is refused.
  answers->remove("REC01.example.local");
  const auto late = shake(*ctx, host, true);
  EXPECT_FALSE(late.done);
  EXPECT_FALSE(late.validation);
}

TEST(AcmeAnswers, AValidatorForAnotherNameOrWithoutANameIsRefused) {
  auto answers = std::make_shared<tls::acme_answers>();
  auto [cert, key] = validation_certificate();
  answers->put(host, std::move(cert), std::move(key));
  const auto ctx = context(answers, false);
  EXPECT_FALSE(shake(*ctx, "other.example.local", true).done);
  EXPECT_FALSE(shake(*ctx, nullptr, true).done);
}

TEST(AcmeAnswers, APendingRouteRefusesEveryoneButTheValidator) {
  auto answers = std::make_shared<tls::acme_answers>();
  const auto ctx = context(answers, true);
  EXPECT_FALSE(shake(*ctx, host, false).done);
  EXPECT_FALSE(shake(*ctx, host, false, true).done);
  auto [cert, key] = validation_certificate();
  answers->put(host, std::move(cert), std::move(key));
  const auto v = shake(*ctx, host, true, true);  // acme-tls/1 among others still counts
  EXPECT_TRUE(v.done);
  EXPECT_EQ(v.alpn, "acme-tls/1");
  EXPECT_FALSE(shake(*ctx, host, false).done);
}

// A validation asks for no client certificate, so nothing it makes may resume on
// the route: an ordinary connection offering its session (TLS 1.3 ticket, TLS 1.2
// ticket or session id) gets a full handshake, and on a route that requires client
// certificates, none without one.
TEST(AcmeAnswers, AValidationLeavesNothingThatResumesOnTheRoute) {
  auto answers = std::make_shared<tls::acme_answers>();
  auto [cert, key] = validation_certificate();
  answers->put(host, std::move(cert), std::move(key));
  const auto required = context(answers, false, tls::client_auth::required);
  const auto open = context(answers, false);
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    tls::ssl_session_ptr session;
    const auto v = shake(*required, host, true, false, nullptr, &session, version);
    ASSERT_TRUE(v.done) << version;
    ASSERT_TRUE(v.validation);
    ASSERT_TRUE(session);
    EXPECT_FALSE(shake(*required, host, false, false, session.get(), nullptr, version).done) << version;
    const auto again = shake(*open, host, false, false, session.get(), nullptr, version);
    EXPECT_TRUE(again.done);
    EXPECT_FALSE(again.resumed) << version;
    // Nor does a second validation resume the first.
    const auto second = shake(*required, host, true, false, session.get(), nullptr, version);
    EXPECT_TRUE(second.done);
    EXPECT_FALSE(second.resumed) << version;
  }
  // The ordinary sessions of the route still resume (the check above could not
  // pass by resumption being broken altogether).
  tls::ssl_session_ptr plain;
  ASSERT_TRUE(shake(*open, host, false, false, nullptr, &plain, TLS1_3_VERSION).done);
  ASSERT_TRUE(plain);
  EXPECT_EQ(SSL_SESSION_is_resumable(plain.get()), 1);
  EXPECT_TRUE(shake(*open, host, false, false, plain.get(), nullptr, TLS1_3_VERSION).resumed);
}

TEST(AcmeAnswers, AlpnListsAreParsedWithTheirBoundsChecked) {
  const std::string good = std::string("\x02h2\x0a", 4) + "acme-tls/1";
  const auto* p = reinterpret_cast<const unsigned char*>(good.data());
  EXPECT_TRUE(tls::alpn_list_has(p, good.size(), "acme-tls/1"));
  EXPECT_TRUE(tls::alpn_list_has(p, good.size(), "h2"));
  EXPECT_FALSE(tls::alpn_list_has(p, good.size(), "http/1.1"));
  EXPECT_FALSE(tls::alpn_list_has(p, good.size() - 1, "acme-tls/1"));  // cut short
  const std::string zero = std::string("\x00\x02h2", 4);
  EXPECT_FALSE(tls::alpn_list_has(reinterpret_cast<const unsigned char*>(zero.data()), zero.size(), "h2"));
  EXPECT_FALSE(tls::alpn_list_has(nullptr, 0, "h2"));
}

}  // namespace
}  // namespace vmsgate::test
