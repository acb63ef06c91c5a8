// Session tickets shared by instances through tls.ticket_keys: a session made on
// one instance resumes on another (TLS 1.3 and 1.2), and survives a rotation (a new
// key prepended to the file, then SIGHUP). Driven with openssl s_client.

#include <gtest/gtest.h>

#include <thread>

#include "tests/integration/lifecycle/reload_common.hpp"
#include "tests/support/backends.hpp"

namespace vmsgate::test {
namespace {

using namespace live;

void add_ticket_key(const fs::path& file, bool prepend) {
  const std::string q = shell_quote(file.string());
  const std::string make = "(openssl rand 80 | base64 -w0; echo)";
  const std::string cmd = prepend ? "{ " + make + "; cat " + q + "; } > " + q + ".new && mv " + q + ".new " + q
                                  : make + " >> " + q;
  const auto r = run_command(cmd, 10s);
  ASSERT_EQ(r.code(), 0) << r.err;
}

// Runs s_client against `port`; saves the session to `sess_out` (the client waits a
// moment so the TLS 1.3 ticket arrives) or offers `sess_in`. Returns its output.
std::string s_client(std::uint16_t port, const fs::path& ca, const std::string& version, const std::string& sess_out,
                     const std::string& sess_in) {
  std::string cmd = "sleep 0.5 | openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -servername " + host +
                    " -CAfile " + shell_quote(ca.string()) + " -verify_return_error " + version;
  if (!sess_out.empty()) cmd += " -sess_out " + shell_quote(sess_out);
  if (!sess_in.empty()) cmd += " -sess_in " + shell_quote(sess_in);
  const auto r = run_command(cmd + " 2>&1", 20s);
  return r.out;
}

bool reused(const std::string& out) { return out.find("Reused, TLSv1.") != std::string::npos; }
bool fresh(const std::string& out) { return out.find("New, TLSv1.") != std::string::npos; }

struct two_instances {
  site s;
  echo_server echo;
  fs::path keys = s.dir() / "tickets.key";
  std::unique_ptr<gateway> a, b;
  explicit two_instances(bool shared = true) {
    add_ticket_key(keys, false);
    auto c = config_for(s, echo.address());
    if (shared) c.ticket_keys = keys.string();
    a = std::make_unique<gateway>(c.yaml());
    b = std::make_unique<gateway>(c.yaml());
  }
};

class Tickets : public ::testing::TestWithParam<std::string> {};

TEST_P(Tickets, SessionFromOneInstanceResumesOnTheOther) {
  two_instances t;
  ASSERT_TRUE(t.a->wait_ready()) << t.a->log();
  ASSERT_TRUE(t.b->wait_ready()) << t.b->log();
  const std::string sess = (t.s.dir() / "a.sess").string();
  const std::string first = s_client(t.a->port("rec"), t.s.ca(), GetParam(), sess, "");
  ASSERT_TRUE(fresh(first)) << first;
  ASSERT_TRUE(fs::exists(sess)) << first;
  const std::string second = s_client(t.b->port("rec"), t.s.ca(), GetParam(), "", sess);
  EXPECT_TRUE(reused(second)) << "a session from instance A was not resumed on instance B:\n" << second;
}

// The control: without the shared file each instance has its own keys.
TEST_P(Tickets, WithoutASharedFileTheOtherInstanceMakesAFullHandshake) {
  two_instances t(false);
  ASSERT_TRUE(t.a->wait_ready()) << t.a->log();
  ASSERT_TRUE(t.b->wait_ready()) << t.b->log();
  const std::string sess = (t.s.dir() / "a.sess").string();
  ASSERT_TRUE(fresh(s_client(t.a->port("rec"), t.s.ca(), GetParam(), sess, "")));
  const std::string other = s_client(t.b->port("rec"), t.s.ca(), GetParam(), "", sess);
  EXPECT_TRUE(fresh(other)) << other;
  // ...while the instance that made the ticket resumes it.
  const std::string same = s_client(t.a->port("rec"), t.s.ca(), GetParam(), "", sess);
  EXPECT_TRUE(reused(same)) << same;
}

// Rotation: a new key goes in front of the file and both instances reload; a
// session made before the rotation still resumes (decrypted with the older key), a
// session made after it resumes on the other instance too.
TEST_P(Tickets, RotationByPrependingAKeyKeepsOlderSessionsResuming) {
  two_instances t;
  ASSERT_TRUE(t.a->wait_ready()) << t.a->log();
  ASSERT_TRUE(t.b->wait_ready()) << t.b->log();
  const std::string before = (t.s.dir() / "before.sess").string();
  ASSERT_TRUE(fresh(s_client(t.a->port("rec"), t.s.ca(), GetParam(), before, "")));

  add_ticket_key(t.keys, true);
  for (auto* gw : {t.a.get(), t.b.get()}) {
    const auto outcome = sighup(*gw);
    ASSERT_TRUE(outcome && is_event(*outcome, "reload_succeeded")) << gw->log();
  }
  const std::string old_on_b = s_client(t.b->port("rec"), t.s.ca(), GetParam(), "", before);
  EXPECT_TRUE(reused(old_on_b)) << "a pre-rotation session did not resume after the rotation:\n" << old_on_b;

  const std::string after = (t.s.dir() / "after.sess").string();
  ASSERT_TRUE(fresh(s_client(t.b->port("rec"), t.s.ca(), GetParam(), after, "")));
  const std::string new_on_a = s_client(t.a->port("rec"), t.s.ca(), GetParam(), "", after);
  EXPECT_TRUE(reused(new_on_a)) << new_on_a;
}

INSTANTIATE_TEST_SUITE_P(Versions, Tickets, ::testing::Values("-tls1_3", "-tls1_2"),
                         [](const ::testing::TestParamInfo<std::string>& info) {
                           return info.param == "-tls1_3" ? std::string("TLS13") : std::string("TLS12");
                         });

// A malformed key file: start refused (exit 1, the file named), and a reload that
// meets one fails and changes nothing.
TEST(TicketKeyFile, MalformedFileRefusesStartAndFailsAReload) {
  site s;
  echo_server echo;
  const fs::path keys = s.dir() / "tickets.key";
  {
    std::ofstream(keys) << "not a key\n";
  }
  auto c = config_for(s, echo.address());
  c.ticket_keys = keys.string();
  {
    gateway bad(c.yaml());
    const auto status = bad.proc().wait_for_exit(20s);
    ASSERT_TRUE(status) << bad.log();
    EXPECT_TRUE(status->exited && status->code == 1) << status->str() << "\n" << bad.log();
    EXPECT_NE(bad.log().find("tickets.key"), std::string::npos) << bad.log();
  }
  fs::remove(keys);
  add_ticket_key(keys, false);
  gateway gw(c.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  const std::string sess = (s.dir() / "s.sess").string();
  ASSERT_TRUE(fresh(s_client(gw.port("rec"), s.ca(), "-tls1_3", sess, "")));
  {
    std::ofstream(keys, std::ios::app) << "garbage line\n";
  }
  const auto outcome = sighup(gw);
  ASSERT_TRUE(outcome) << gw.log();
  EXPECT_TRUE(is_event(*outcome, "reload_failed")) << *outcome;
  EXPECT_NE(json_field(*outcome, "detail").value_or("").find("line 2"), std::string::npos) << *outcome;
  // The keys in use did not change.
  const std::string again = s_client(gw.port("rec"), s.ca(), "-tls1_3", "", sess);
  EXPECT_TRUE(reused(again)) << again;
}

// Without a key file the process rotates its own key every tls.ticket_rotation, and
// keeps the previous one for decryption: a ticket resumes across one rotation and not
// across two. Each step starts right after a rotation line, so that a whole period
// (3 s) is left for the s_client run it times.
TEST(TicketRotation, BuiltInKeyRotatesAndTicketsExpireAfterTwoPeriods) {
  site s;
  echo_server echo;
  auto c = config_for(s, echo.address());
  c.ticket_rotation = "3s";
  gateway gw(c.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  // Waits for the n-th rotation line.
  const auto rotation = [&gw](std::size_t n) {
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (gw.events("ticket_keys_rotated").size() < n && std::chrono::steady_clock::now() < deadline) std::this_thread::sleep_for(20ms);
    return gw.events("ticket_keys_rotated").size() == n;
  };
  ASSERT_TRUE(rotation(1)) << "no ticket_keys_rotated within 10 s of a 3 s period:\n" << gw.log();
  const std::string sess = (s.dir() / "k1.sess").string();
  ASSERT_TRUE(fresh(s_client(gw.port("rec"), s.ca(), "-tls1_3", sess, "")));

  ASSERT_TRUE(rotation(2)) << gw.log();
  const std::string once = s_client(gw.port("rec"), s.ca(), "-tls1_3", "", sess);
  EXPECT_TRUE(reused(once)) << "a ticket did not survive one rotation:\n" << once;

  ASSERT_TRUE(rotation(3)) << gw.log();
  const std::string twice = s_client(gw.port("rec"), s.ca(), "-tls1_3", "", sess);
  EXPECT_TRUE(fresh(twice)) << "a ticket still resumed after two rotations:\n" << twice;
}

// The period is checked like every duration: zero would never let a ticket resume.
TEST(TicketRotation, ZeroPeriodIsAConfigError) {
  site s;
  auto c = config_for(s, "127.0.0.1:1");
  c.ticket_rotation = "0s";
  gateway gw(c.yaml());
  const auto status = gw.proc().wait_for_exit(20s);
  ASSERT_TRUE(status) << gw.log();
  EXPECT_TRUE(status->exited && status->code == 2) << status->str() << "\n" << gw.log();
  EXPECT_NE(gw.log().find("ticket_rotation"), std::string::npos) << gw.log();
}

}  // namespace
}  // namespace vmsgate::test
