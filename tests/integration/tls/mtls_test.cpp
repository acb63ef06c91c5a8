// Client certificates on terminate routes (issue 3): client_auth required and
// optional against the real binary, and every refusal logged with the contract's
// handshake_failure reason and the peer's subject.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/mtls.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

constexpr std::uint64_t MiB = 1024 * 1024;

tls_options to_mgmt(const cert_pair* client) {
  tls_options o;
  o.sni = "mgmt01.example.local";
  o.ca_file = shared_mtls_pki().ca.string();
  o.verify_host = "mgmt01.example.local";
  o.timeout = 10s;
  if (client != nullptr) {
    o.cert_file = client->cert.string();
    o.key_file = client->key.string();
  }
  return o;
}

struct mgmt_gateway {
  echo_server echo;
  gateway gw;
  explicit mgmt_gateway(const std::string& client_auth)
      : gw(mtls_terminate_yaml(shared_mtls_pki(), shared_mtls_pki().mgmt01, "mgmt01.example.local", client_auth,
                               {echo.address()})) {}
};

// Connects and tries a small echo. With TLS 1.3 the client finishes its handshake
// before the server has looked at its certificate, so a refusal may surface only on
// the first read; either way no byte may come back.
bool served(tls_client& c, std::uint16_t port, const tls_options& o, std::string* why) {
  if (!c.connect(port, o)) {
    *why = c.error();
    return false;
  }
  const auto r = echo_transfer(c, 64 * 1024);
  *why = r.error;
  return r.ok;
}

std::optional<std::string> closed_line(gateway& gw, std::size_t from) {
  return gw.wait_for_event("connection_closed", 10s, from);
}

TEST(MutualTls, RequiredServesAnAllowedClientAndLogsItsSubject) {
  mgmt_gateway m("required");
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  const auto from = m.gw.proc().stderr_line_count();
  tls_client c;
  ASSERT_TRUE(c.connect(m.gw.port("mgmt"), to_mgmt(&shared_mtls_pki().rec01))) << c.error();
  const auto r = echo_transfer(c, 4 * MiB);
  ASSERT_TRUE(r.ok) << r.error << "\n" << m.gw.log();
  const auto line = closed_line(m.gw, from);
  ASSERT_TRUE(line) << m.gw.log();
  EXPECT_EQ(json_field(*line, "end"), "client_closed") << *line;
  EXPECT_EQ(json_field(*line, "bytes_to_backend"), std::to_string(4 * MiB)) << *line;
  EXPECT_EQ(json_field(*line, "handshake_failure"), std::nullopt) << *line;
  const auto subject = json_field(*line, "peer_subject");
  ASSERT_TRUE(subject) << *line;
  EXPECT_NE(subject->find("CN=rec01.rec.example.local"), std::string::npos) << *line;
}

// The certificate file's chain is sent as it is. A file with only the leaf, on a
// route whose peer CAs include the CA that issued it, must not make OpenSSL build
// and append a chain from those CAs on every handshake (a signature check each time
// and a certificate the client already has).
TEST(MutualTls, ALeafOnlyCertificateFileIsSentWithoutAChainBuiltFromThePeerCas) {
  const temp_dir dir("vmsgate-leaf-only");
  std::ifstream in(shared_mtls_pki().mgmt01.cert);
  const std::string both{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  const std::string end = "-----END CERTIFICATE-----\n";
  const auto leaf_end = both.find(end);
  ASSERT_NE(leaf_end, std::string::npos);
  ASSERT_NE(both.find(end, leaf_end + end.size()), std::string::npos) << "mgmt01.pem should hold leaf then CA";
  const cert_pair leaf_only{dir.write_file("mgmt01.pem", both.substr(0, leaf_end + end.size())),
                            shared_mtls_pki().mgmt01.key};

  echo_server echo;
  gateway gw(mtls_terminate_yaml(shared_mtls_pki(), leaf_only, "mgmt01.example.local", "required", {echo.address()}));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  for (const int version : {TLS1_3_VERSION, TLS1_2_VERSION}) {
    tls_options o = to_mgmt(&shared_mtls_pki().rec01);
    o.min_version = o.max_version = version;
    tls_client c;
    ASSERT_TRUE(c.connect(gw.port("mgmt"), o)) << c.error() << "\n" << gw.log();
    EXPECT_EQ(c.verify_result(), X509_V_OK);
    EXPECT_EQ(c.peer_chain_length(), 1) << c.version();
    EXPECT_TRUE(echo_transfer(c, 1024).ok) << c.version();
  }
}

struct refusal {
  std::string what;
  cert_pair mtls_pki::*client;  // nullptr: no certificate (a member, so that listing
                                // the tests does not make the PKI)
  std::string reason;
  std::string subject_part;  // expected in peer_subject; empty: none expected
};

std::vector<refusal> refusals() {
  return {
      {"NoCertificate", nullptr, "no_certificate", ""},
      {"AnotherCa", &mtls_pki::foreign, "unknown_ca", "CN=rec01.rec.example.local"},
      {"OutsidePeerNames", &mtls_pki::outsider, "peer_not_allowed", "CN=rec01.example.local"},
      {"StarCoversOneLabelOnly", &mtls_pki::two_labels, "peer_not_allowed", "CN=a.b.rec.example.local"},
      {"Expired", &mtls_pki::expired, "expired", "CN=rec01.rec.example.local"},
  };
}

const cert_pair* cert_of(const refusal& r) { return r.client ? &(shared_mtls_pki().*(r.client)) : nullptr; }

void expect_refused(mgmt_gateway& m, const refusal& r) {
  const auto from = m.gw.proc().stderr_line_count();
  tls_client c;
  std::string why;
  EXPECT_FALSE(served(c, m.gw.port("mgmt"), to_mgmt(cert_of(r)), &why)) << r.what << " was served";
  const auto line = closed_line(m.gw, from);
  ASSERT_TRUE(line) << m.gw.log();
  EXPECT_EQ(json_field(*line, "end"), "handshake_failed") << *line;
  EXPECT_EQ(json_field(*line, "handshake_failure"), r.reason) << *line;
  EXPECT_EQ(json_field(*line, "bytes_to_backend"), "0") << *line;
  EXPECT_EQ(json_field(*line, "backend"), "") << *line;
  EXPECT_TRUE(json_field(*line, "client").has_value()) << *line;
  if (!r.subject_part.empty()) {
    const auto subject = json_field(*line, "peer_subject");
    ASSERT_TRUE(subject) << "no peer_subject: " << *line;
    EXPECT_NE(subject->find(r.subject_part), std::string::npos) << *line;
  }
  // Not connections(): the readiness probe connects to backends on its own.
  EXPECT_EQ(m.echo.bytes_echoed(), 0u) << "a refused client reached the backend";
}

class Refused : public ::testing::TestWithParam<refusal> {};

TEST_P(Refused, ByRequiredWithTheReason) {
  mgmt_gateway m("required");
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  expect_refused(m, GetParam());
  // The refusal is counted once, under its reason, and under no other.
  const std::string text = scrape(m.gw.admin_port());
  const std::string reason = "reason=\"" + GetParam().reason + "\"";
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshake_failures_total", reason), 1.0) << text;
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshake_failures_total"), 1.0) << text;
}

INSTANTIATE_TEST_SUITE_P(MutualTls, Refused, ::testing::ValuesIn(refusals()),
                         [](const auto& info) { return info.param.what; });

TEST(MutualTls, OptionalServesAClientWithoutCertificateAsAnonymous) {
  mgmt_gateway m("optional");
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  const auto from = m.gw.proc().stderr_line_count();
  tls_client c;
  std::string why;
  ASSERT_TRUE(served(c, m.gw.port("mgmt"), to_mgmt(nullptr), &why)) << why << "\n" << m.gw.log();
  const auto line = closed_line(m.gw, from);
  ASSERT_TRUE(line) << m.gw.log();
  EXPECT_EQ(json_field(*line, "end"), "client_closed") << *line;
  EXPECT_EQ(json_field(*line, "peer_subject"), "anonymous") << *line;
}

TEST(MutualTls, OptionalServesAnAllowedCertificateWithItsSubject) {
  mgmt_gateway m("optional");
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  const auto from = m.gw.proc().stderr_line_count();
  tls_client c;
  std::string why;
  ASSERT_TRUE(served(c, m.gw.port("mgmt"), to_mgmt(&shared_mtls_pki().rec01), &why)) << why << "\n" << m.gw.log();
  const auto line = closed_line(m.gw, from);
  ASSERT_TRUE(line) << m.gw.log();
  const auto subject = json_field(*line, "peer_subject");
  ASSERT_TRUE(subject) << *line;
  EXPECT_NE(subject->find("CN=rec01.rec.example.local"), std::string::npos) << *line;
}

TEST(MutualTls, OptionalRefusesEveryBadCertificate) {
  mgmt_gateway m("optional");
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  for (const auto& r : refusals()) {
    if (r.client == nullptr) continue;
    SCOPED_TRACE(r.what);
    expect_refused(m, r);
  }
}

TEST(MutualTls, NoneIgnoresClientCertificates) {
  mgmt_gateway m("none");
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  const auto from = m.gw.proc().stderr_line_count();
  tls_client c;
  std::string why;
  // Not asked for, so even a foreign certificate is never sent or judged.
  ASSERT_TRUE(served(c, m.gw.port("mgmt"), to_mgmt(&shared_mtls_pki().foreign), &why)) << why << "\n" << m.gw.log();
  const auto line = closed_line(m.gw, from);
  ASSERT_TRUE(line) << m.gw.log();
  EXPECT_EQ(json_field(*line, "peer_subject"), std::nullopt) << *line;
}

TEST(MutualTls, RequiredOverTls12RefusesWithTheSameReasons) {
  mgmt_gateway m("required");
  ASSERT_TRUE(m.gw.wait_ready()) << m.gw.log();
  for (const auto& r : refusals()) {
    SCOPED_TRACE(r.what);
    auto o = to_mgmt(cert_of(r));
    o.max_version = TLS1_2_VERSION;
    const auto from = m.gw.proc().stderr_line_count();
    tls_client c;
    EXPECT_FALSE(c.connect(m.gw.port("mgmt"), o)) << "TLS 1.2 handshake completed for " << r.what;
    const auto line = closed_line(m.gw, from);
    ASSERT_TRUE(line) << m.gw.log();
    EXPECT_EQ(json_field(*line, "handshake_failure"), r.reason) << *line;
  }
  tls_client ok;
  auto o = to_mgmt(&shared_mtls_pki().rec01);
  o.max_version = TLS1_2_VERSION;
  ASSERT_TRUE(ok.connect(m.gw.port("mgmt"), o)) << ok.error();
  EXPECT_EQ(ok.version(), "TLSv1.2");
  const auto r = echo_transfer(ok, 1 * MiB);
  EXPECT_TRUE(r.ok) << r.error;
}

}  // namespace
}  // namespace vmsgate::test
