// Resumption never outlives trust: a resumed session does not show the client's
// certificate again, so the gateway resumes it only while that certificate is valid
// and for at most tls.session_lifetime from its full handshake, however often
// resumptions renew its ticket. Past either, the client gets a full handshake (and
// with an expired certificate, a refusal), never a resumption. With openssl s_client
// over TLS 1.3, TLS 1.2 with tickets and TLS 1.2 resumed by session id.

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/client_pki.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;
using sys_clock = std::chrono::system_clock;

class SessionLifetime : public ::testing::TestWithParam<const char*> {
 protected:
  // One s_client connection: resumes from `in` if given, keeps its session in `out`,
  // and stays a second so that a TLS 1.3 ticket arrives. "Reused" or "New".
  std::string connect(std::uint16_t port, const client_pki& client, const std::string& in, const std::string& out) {
    std::string cmd = "(sleep 1; printf ping) | openssl s_client " + std::string(GetParam()) +
                      " -servername rec01.example.local -CAfile " + shell_quote(shared_pki().ca.string()) +
                      " -cert " + shell_quote(client.cert) + " -key " + shell_quote(client.key) +
                      " -connect 127.0.0.1:" + std::to_string(port) + " -sess_out " + shell_quote(out);
    if (!in.empty()) cmd += " -sess_in " + shell_quote(in);
    const auto r = run_command(cmd + " 2>&1", 30s);
    // s_client writes no session after a TLS 1.2 resumption: the one it resumed
    // stands for it (the server keeps its full handshake's time either way).
    if (!in.empty() && !std::filesystem::exists(out)) std::filesystem::copy_file(in, out);
    if (r.out.find("Reused, ") != std::string::npos) return "Reused";
    if (r.out.find("New, ") != std::string::npos) return "New";
    return "failed: " + r.out;
  }
  temp_dir dir_{"vmsgate-lifetime"};
  std::string file(const char* name) const { return (dir_.path() / name).string(); }
};

TEST_P(SessionLifetime, AnExpiredClientCertificateIsNotResumedButShownAgainAndRefused) {
  const auto not_after = sys_clock::now() + 7s;  // room for two connections on a loaded machine
  const client_pki client = make_client_pki(dir_.path(), not_after);
  echo_server echo;
  gateway gw(mutual_tls_config(echo.address(), client, "tls:\n  session_lifetime: 12h\n"));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t port = gw.port("strict");
  ASSERT_EQ(connect(port, client, "", file("s1")), "New");
  ASSERT_EQ(connect(port, client, file("s1"), file("s2")), "Reused") << gw.log();
  std::this_thread::sleep_until(not_after + 1500ms);
  const auto from = gw.proc().stderr_line_count();
  EXPECT_NE(connect(port, client, file("s2"), file("s3")), "Reused");
  const auto closed = gw.wait_for_event("connection_closed", 10s, from);
  ASSERT_TRUE(closed) << gw.log();
  EXPECT_EQ(json_field(*closed, "resumed"), "false") << *closed;
  EXPECT_EQ(json_field(*closed, "handshake_failure"), "expired") << *closed;
  EXPECT_EQ(json_field(*closed, "bytes_to_backend"), "0") << *closed;
}

TEST_P(SessionLifetime, RenewedTicketsDoNotExtendTheSessionPastItsLifetime) {
  const client_pki client = make_client_pki(dir_.path(), sys_clock::now() + 24h);
  echo_server echo;
  gateway gw(mutual_tls_config(echo.address(), client, "tls:\n  session_lifetime: 8s\n"));  // room for three connections
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::uint16_t port = gw.port("strict");
  const auto born = sys_clock::now();
  ASSERT_EQ(connect(port, client, "", file("s1")), "New");
  // Each resumption hands out a fresh ticket (or, by id, keeps the session).
  ASSERT_EQ(connect(port, client, file("s1"), file("s2")), "Reused") << gw.log();
  ASSERT_EQ(connect(port, client, file("s2"), file("s3")), "Reused") << gw.log();
  std::this_thread::sleep_until(born + 9s);
  EXPECT_EQ(connect(port, client, file("s3"), file("s4")), "New") << gw.log();
  // The full handshake starts a new lifetime.
  EXPECT_EQ(connect(port, client, file("s4"), file("s5")), "Reused") << gw.log();
}

INSTANTIATE_TEST_SUITE_P(Versions, SessionLifetime, ::testing::Values("-tls1_3", "-tls1_2", "-tls1_2 -no_ticket"),
                         [](const ::testing::TestParamInfo<const char*>& info) {
                           const std::string p = info.param;
                           return p == "-tls1_3" ? std::string("TLS13")
                                                 : p == "-tls1_2" ? std::string("TLS12")
                                                                  : std::string("TLS12SessionId");
                         });

}  // namespace
}  // namespace vmsgate::test
