// A client certificate is held to its role's key rules, as the role's own
// certificates are (issue 32, finding 5): RSA of at least min_rsa_bits, ECDSA only
// with allow_ecdsa. A refusal is a peer_not_allowed handshake failure whose detail
// names the rule.

#include <gtest/gtest.h>

#include "proxy/pki/builder.hpp"
#include "tests/support/backends.hpp"
#include "tests/support/client_pki.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;

// One connection with the client's certificate; the gateway's close line for it.
std::string connect_once(gateway& gw, const client_pki& client) {
  const auto from = gw.proc().stderr_line_count();
  run_command("printf ping | openssl s_client -servername rec01.example.local -CAfile " +
                  shell_quote(shared_pki().ca.string()) + " -cert " + shell_quote(client.cert) + " -key " +
                  shell_quote(client.key) + " -connect 127.0.0.1:" + std::to_string(gw.port("strict")) + " 2>&1",
              30s);
  const auto closed = gw.wait_for_event("connection_closed", 10s, from);
  return closed ? *closed : "no connection_closed event:\n" + gw.log();
}

TEST(PeerKeyRules, AnRsaKeyShorterThanTheRolesMinimumIsRefused) {
  temp_dir dir("vmsgate-peerkey");
  const client_pki client = make_client_pki(dir.path(), std::chrono::system_clock::now() + 24h);
  echo_server echo;
  {
    gateway gw(mutual_tls_config(echo.address(), client, "", "    min_rsa_bits: 3072\n"));
    ASSERT_TRUE(gw.wait_ready()) << gw.log();
    const std::string closed = connect_once(gw, client);
    EXPECT_EQ(json_field(closed, "handshake_failure"), "peer_not_allowed") << closed;
    EXPECT_NE(json_field(closed, "detail").value_or("").find("[key_too_small]"), std::string::npos) << closed;
    EXPECT_EQ(json_field(closed, "bytes_to_backend"), "0") << closed;
  }
  gateway gw(mutual_tls_config(echo.address(), client, "", ""));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::string closed = connect_once(gw, client);
  EXPECT_FALSE(json_field(closed, "handshake_failure")) << closed;
  EXPECT_EQ(json_field(closed, "bytes_to_backend"), "4") << closed;
}

TEST(PeerKeyRules, AnEcdsaKeyIsRefusedUnlessTheRoleAllowsIt) {
  temp_dir dir("vmsgate-peerkey");
  const tls::pkey_ptr ec = pki::generate_ec();
  const client_pki client = make_client_pki(dir.path(), std::chrono::system_clock::now() + 24h, ec.get());
  echo_server echo;
  {
    gateway gw(mutual_tls_config(echo.address(), client, "", ""));
    ASSERT_TRUE(gw.wait_ready()) << gw.log();
    const std::string closed = connect_once(gw, client);
    EXPECT_EQ(json_field(closed, "handshake_failure"), "peer_not_allowed") << closed;
    EXPECT_NE(json_field(closed, "detail").value_or("").find("[key_not_rsa]"), std::string::npos) << closed;
  }
  gateway gw(mutual_tls_config(echo.address(), client, "", "    allow_ecdsa: true\n"));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::string closed = connect_once(gw, client);
  EXPECT_FALSE(json_field(closed, "handshake_failure")) << closed;
  EXPECT_EQ(json_field(closed, "bytes_to_backend"), "4") << closed;
}

}  // namespace
}  // namespace vmsgate::test
