// A session resumed on one route must not stand in for the client authentication of
// another: every route shares the ticket keys, so only the session ID context keeps
// a ticket from route "open" (no client certificate) out of route "strict"
// (client_auth: required).

#include <gtest/gtest.h>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;

std::string two_routes(const std::string& backend) {
  const test_pki& pki = shared_pki();
  auto route = [&](const std::string& name, const std::string& auth) {
    return "  - name: " + name + "\n"
           "    role: recording\n"
           "    listen: \"127.0.0.1:0\"\n"
           "    server_names: [rec01.example.local]\n"
           "    cert: " + pki.rec01_cert.string() + "\n"
           "    key: " + pki.rec01_key.string() + "\n"
           "    client_auth: " + auth + "\n"
           "    peer_roles: [recording]\n"
           "    backends: [\"" + backend + "\"]\n";
  };
  return "admin:\n  listen: \"127.0.0.1:0\"\nworkers: 1\n"
         "roles:\n  recording:\n    ca: " + pki.ca.string() + "\n"
         "routes:\n" + route("open", "none") + route("strict", "required");
}

TEST(SessionContext, ATicketFromAnOpenRouteDoesNotResumeOnARouteThatRequiresACertificate) {
  echo_server echo;
  gateway gw(two_routes(echo.address()));
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  temp_dir dir("vmsgate-sidctx");
  const std::string sess = (dir.path() / "open.pem").string();
  const std::string client = "(sleep 1; printf ping) | openssl s_client -servername rec01.example.local -CAfile " +
                             shell_quote(shared_pki().ca.string()) + " -connect 127.0.0.1:";
  const auto first = run_command(client + std::to_string(gw.port("open")) + " -sess_out " + shell_quote(sess) +
                                     " 2>&1",
                                 30s);
  ASSERT_NE(first.out.find("New, "), std::string::npos) << first.out;

  const auto from = gw.proc().stderr_line_count();
  const auto second =
      run_command(client + std::to_string(gw.port("strict")) + " -sess_in " + shell_quote(sess) + " 2>&1", 30s);
  EXPECT_EQ(second.out.find("Reused, "), std::string::npos) << second.out;
  const auto closed = gw.wait_for_event("connection_closed", 10s, from);
  ASSERT_TRUE(closed) << gw.log();
  EXPECT_EQ(json_field(*closed, "route"), "strict") << *closed;
  EXPECT_EQ(json_field(*closed, "handshake_failure"), "no_certificate") << *closed;
  EXPECT_EQ(json_field(*closed, "bytes_to_backend"), "0") << *closed;
}

}  // namespace
}  // namespace vmsgate::test
