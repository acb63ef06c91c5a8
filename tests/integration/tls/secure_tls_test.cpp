// Secure TLS defaults of a terminate route, checked from outside with openssl
// s_client against the real binary (issue 8): TLS 1.2 minimum, forward-secret AEAD
// suites only, no compression, no renegotiation. There is no key to change any of
// them (tests/config/secure_defaults_test.cpp).

#include <gtest/gtest.h>

#include <memory>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

class SecureTls : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    echo_ = std::make_unique<echo_server>();
    gateway_config cfg;
    cfg.backends = {echo_->address()};
    gw_ = std::make_unique<gateway>(cfg.yaml());
    // Checked in SetUp: an assertion here would only mark the tests skipped.
    ready_ = gw_->wait_ready();
  }
  void SetUp() override { ASSERT_TRUE(ready_) << "the suite's gateway did not start\n" << gw_->log(); }
  static void TearDownTestSuite() {
    gw_.reset();
    echo_.reset();
  }

  // Whatever a test tried, the gateway must survive it.
  void TearDown() override {
    const std::string log = gw_->log();
    EXPECT_TRUE(gw_->proc().running()) << "the gateway died:\n" << log.substr(log.size() > 4000 ? log.size() - 4000 : 0);
  }

  // s_client with `args`, stdin from `input` (a shell command's output); the
  // output is stdout and stderr together.
  static command_result s_client(const std::string& args, const std::string& input = "true") {
    const std::string cmd = "(" + input + ") | openssl s_client -connect 127.0.0.1:" +
                            std::to_string(gw_->port("rec")) + " -servername rec01.example.local -CAfile " +
                            shell_quote(shared_pki().ca.string()) + " " + args + " 2>&1";
    return run_command(cmd, 20s);
  }
  static bool negotiated(const command_result& r, const std::string& cipher) {
    return r.code() == 0 && r.out.find("Cipher is " + cipher) != std::string::npos;
  }

  static inline std::unique_ptr<echo_server> echo_;
  static inline std::unique_ptr<gateway> gw_;
  static inline bool ready_ = false;
};

TEST_F(SecureTls, Tls10AndTls11AreRefused) {
  for (const std::string v : {"-tls1", "-tls1_1"}) {
    const auto r = s_client(v + " -cipher DEFAULT@SECLEVEL=0");
    EXPECT_NE(r.code(), 0) << v << " was accepted:\n" << r.out;
    EXPECT_EQ(r.out.find("Cipher is ECDHE"), std::string::npos) << r.out;
  }
}

// The control: the suites the gateway does offer work, so a refusal below is the
// suite's and not a broken setup.
TEST_F(SecureTls, ForwardSecretAeadSuitesWork) {
  for (const std::string c : {"ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-RSA-AES256-GCM-SHA384",
                              "ECDHE-RSA-CHACHA20-POLY1305"}) {
    const auto r = s_client("-tls1_2 -cipher " + c);
    EXPECT_TRUE(negotiated(r, c)) << r.out;
  }
}

// CBC (with SHA-1 or SHA-2 MACs), static RSA key exchange (no forward secrecy,
// even with GCM), and NULL or export suites are all refused.
TEST_F(SecureTls, CbcAndNonForwardSecretSuitesAreRefused) {
  for (const std::string c : {"ECDHE-RSA-AES128-SHA", "ECDHE-RSA-AES256-SHA", "ECDHE-RSA-AES128-SHA256",
                              "ECDHE-RSA-AES256-SHA384", "AES128-SHA", "AES128-SHA256", "AES128-GCM-SHA256",
                              "AES256-GCM-SHA384", "DHE-RSA-AES128-SHA", "NULL-SHA256:@SECLEVEL=0"}) {
    const auto r = s_client("-tls1_2 -cipher " + c);
    EXPECT_NE(r.code(), 0) << c << " was accepted:\n" << r.out;
    EXPECT_NE(r.out.find("Cipher is (NONE)"), std::string::npos) << c << ":\n" << r.out;
  }
}

// TLS 1.3's CCM suites are AEAD but not among the three enabled ones.
TEST_F(SecureTls, Tls13OffersOnlyTheThreeMainstreamSuites) {
  const auto ccm = s_client("-tls1_3 -ciphersuites TLS_AES_128_CCM_SHA256:TLS_AES_128_CCM_8_SHA256");
  EXPECT_NE(ccm.code(), 0) << ccm.out;
  const auto gcm = s_client("-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384");
  EXPECT_TRUE(negotiated(gcm, "TLS_AES_256_GCM_SHA384")) << gcm.out;
}

TEST_F(SecureTls, NoCompression) {
  for (const std::string v : {"-tls1_2", "-tls1_3"}) {
    const auto r = s_client(v);
    ASSERT_EQ(r.code(), 0) << r.out;
    EXPECT_NE(r.out.find("Compression: NONE"), std::string::npos) << r.out;
  }
}

// s_client's 'R' command asks for a renegotiation on a TLS 1.2 connection; the
// gateway must refuse it (a no_renegotiation alert), never run a second handshake.
TEST_F(SecureTls, RenegotiationIsRefused) {
  const auto r = s_client("-tls1_2", "printf 'R\\n'; sleep 2");
  EXPECT_NE(r.out.find("RENEGOTIATING"), std::string::npos) << "s_client did not try:\n" << r.out;
  EXPECT_NE(r.out.find("no renegotiation"), std::string::npos) << "renegotiation was not refused:\n" << r.out;
}

}  // namespace
}  // namespace vmsgate::test
