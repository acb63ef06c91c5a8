// user:/group: — bind (a port below 1024 included) as root, then run as the service
// account; reloads read the key as that account; `check` flags a key it cannot
// read. Needs root (CI runs the tests as root) and the nobody/nogroup account.

#include <grp.h>
#include <gtest/gtest.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "tests/integration/lifecycle/reload_common.hpp"
#include "tests/support/backends.hpp"

namespace vmsgate::test {
namespace {

using namespace live;

constexpr std::uint16_t low_port = 844;

#define REQUIRE_ROOT_AND_NOBODY()                                                          \
  do {                                                                                     \
    if (::geteuid() != 0) FAIL() << "needs root (CI runs as root)";                                    \
    if (::getpwnam("nobody") == nullptr || ::getgrnam("nogroup") == nullptr)               \
      FAIL() << "needs user nobody and group nogroup (Debian has both)";                               \
  } while (0)

// The key readable by nogroup, and every directory on the way searchable.
void share_with_nogroup(const site& s) {
  for (const auto& d : {s.dir(), s.dir() / "pki", s.dir() / "live"}) fs::permissions(d, fs::perms(0755));
  const gid_t nogroup = ::getgrnam("nogroup")->gr_gid;
  ASSERT_EQ(::chown(s.key().c_str(), 0, nogroup), 0);
  fs::permissions(s.key(), fs::perms(0640));
}

// "Uid:" or "Gid:" line of /proc/PID[/task/TID]/status, the four ids.
std::string status_ids(const fs::path& status, const std::string& which) {
  std::ifstream in(status);
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(which + ":", 0) == 0) return line.substr(which.size() + 1);
  return {};
}

std::string ids(unsigned id) {
  const std::string s = std::to_string(id);
  return "\t" + s + "\t" + s + "\t" + s + "\t" + s;
}

TEST(PrivilegeDrop, ServesBelow1024AsNobodyAndReloadsAsNobody) {
  REQUIRE_ROOT_AND_NOBODY();
  const uid_t nobody = ::getpwnam("nobody")->pw_uid;
  const gid_t nogroup = ::getgrnam("nogroup")->gr_gid;
  site s;
  share_with_nogroup(s);
  echo_server echo;
  auto c = config_for(s, echo.address());
  c.user = "nobody";
  c.group = "nogroup";
  c.routes[0].listen = "127.0.0.1:" + std::to_string(low_port);
  gateway gw(c.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  ASSERT_EQ(gw.port("rec"), low_port) << gw.log();

  const auto dropped = gw.events("privileges_dropped");
  ASSERT_EQ(dropped.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(dropped[0], "user"), "nobody");
  EXPECT_EQ(json_field(dropped[0], "uid"), std::to_string(nobody));
  EXPECT_EQ(json_field(dropped[0], "gid"), std::to_string(nogroup));

  // Every thread, not just the main one, runs as nobody:nogroup.
  const fs::path proc = "/proc/" + std::to_string(gw.proc().pid());
  EXPECT_EQ(status_ids(proc / "status", "Uid"), ids(nobody));
  EXPECT_EQ(status_ids(proc / "status", "Gid"), ids(nogroup));
  std::size_t threads = 0;
  for (const auto& task : fs::directory_iterator(proc / "task")) {
    ++threads;
    EXPECT_EQ(status_ids(task.path() / "status", "Uid"), ids(nobody)) << task.path();
    EXPECT_EQ(status_ids(task.path() / "status", "Gid"), ids(nogroup)) << task.path();
  }
  EXPECT_GE(threads, 3u);  // the control thread and two workers

  tls_client client;
  ASSERT_TRUE(client.connect(low_port, client_options(s.ca()))) << client.error() << "\n" << gw.log();
  const auto r = echo_transfer(client, 1 << 20, 2);
  EXPECT_TRUE(r.ok) << r.error;

  // A renewal after the drop: the new key (copied over the old file, which keeps its
  // owner and mode) is read by nobody.
  s.issue();
  s.install();
  const auto outcome = sighup(gw);
  ASSERT_TRUE(outcome) << gw.log();
  EXPECT_TRUE(is_event(*outcome, "reload_succeeded")) << *outcome << "\n" << gw.log();
  EXPECT_EQ(served_serial(low_port), file_serial(s.cert())) << gw.log();

  gw.proc().send_signal(SIGTERM);
  const auto status = gw.proc().wait_for_exit(10s);
  ASSERT_TRUE(status) << gw.log();
  EXPECT_TRUE(status->exited && status->code == 0) << status->str() << "\n" << gw.log();
}

// The site's config with the drop to nobody:nogroup and a backend nobody serves.
config_spec as_nobody(const site& s) {
  auto c = config_for(s, "127.0.0.1:1");
  c.user = "nobody";
  c.group = "nogroup";
  return c;
}

command_result check(const temp_dir& dir, const std::string& yaml) {
  fs::permissions(dir.path(), fs::perms(0755));  // nobody reads the config on reloads
  const fs::path cfg = dir.write_file("check.yaml", yaml);
  return vmsgate("check --config " + shell_quote(cfg.string()));
}

TEST(PrivilegeDrop, CheckFlagsAKeyTheUserCannotRead) {
  REQUIRE_ROOT_AND_NOBODY();
  site s;
  share_with_nogroup(s);
  auto c = as_nobody(s);
  temp_dir dir("vmsgate-check");

  const auto readable = check(dir, c.yaml());
  EXPECT_EQ(readable.code(), 0) << readable.out;
  EXPECT_EQ(readable.out.find("key_unreadable_by_user"), std::string::npos) << readable.out;

  ASSERT_EQ(::chown(s.key().c_str(), 0, 0), 0);
  fs::permissions(s.key(), fs::perms(0600));
  const auto unreadable = check(dir, c.yaml());
  EXPECT_EQ(unreadable.code(), 1) << unreadable.out;
  EXPECT_NE(unreadable.out.find("[key_unreadable_by_user]"), std::string::npos) << unreadable.out;
  EXPECT_NE(unreadable.out.find("nobody"), std::string::npos) << unreadable.out;
  // run refuses it too, before binding anything.
  gateway gw(c.yaml());
  const auto status = gw.proc().wait_for_exit(20s);
  ASSERT_TRUE(status) << gw.log();
  EXPECT_TRUE(status->exited && status->code == 1) << status->str() << "\n" << gw.log();

  // Without user: root reads it, no finding.
  c.user.clear();
  c.group.clear();
  const auto as_root = check(dir, c.yaml());
  EXPECT_EQ(as_root.code(), 0) << as_root.out;
}

// Group-readable by nogroup, but in a directory nobody cannot enter: still
// unreadable by nobody, and check must say so rather than read the mode bits alone.
TEST(PrivilegeDrop, CheckFlagsAKeyInADirectoryTheUserCannotEnter) {
  REQUIRE_ROOT_AND_NOBODY();
  site s;
  share_with_nogroup(s);
  fs::permissions(s.dir() / "live", fs::perms(0700));
  auto c = as_nobody(s);
  temp_dir dir("vmsgate-check");
  const auto r = check(dir, c.yaml());
  EXPECT_EQ(r.code(), 1) << r.out;
  EXPECT_NE(r.out.find("[key_unreadable_by_user]"), std::string::npos) << r.out;
}

// Owned by nobody but with the owner's read bit off: group bits do not apply to the
// owner, so nobody cannot read it even though the group may.
TEST(PrivilegeDrop, CheckAppliesTheOwnerClassToTheOwner) {
  REQUIRE_ROOT_AND_NOBODY();
  site s;
  share_with_nogroup(s);
  const uid_t nobody = ::getpwnam("nobody")->pw_uid;
  const gid_t nogroup = ::getgrnam("nogroup")->gr_gid;
  ASSERT_EQ(::chown(s.key().c_str(), nobody, nogroup), 0);
  fs::permissions(s.key(), fs::perms(0040));
  auto c = as_nobody(s);
  temp_dir dir("vmsgate-check");
  const auto r = check(dir, c.yaml());
  EXPECT_EQ(r.code(), 1) << r.out;
  EXPECT_NE(r.out.find("[key_unreadable_by_user]"), std::string::npos) << r.out;
}

// Issue 32, finding 4: a config only root can read passed `check` and started, and
// every reload after the drop then failed. Now both refuse it, naming the file.
TEST(PrivilegeDrop, ConfigTheUserCannotReadIsRefusedBeforeStart) {
  REQUIRE_ROOT_AND_NOBODY();
  site s;
  share_with_nogroup(s);
  auto c = as_nobody(s);
  temp_dir dir("vmsgate-check");
  const auto readable = check(dir, c.yaml());
  EXPECT_EQ(readable.code(), 0) << readable.out;
  fs::permissions(dir.path(), fs::perms(0700));  // root's private directory
  const fs::path cfg = dir.path() / "check.yaml";
  const auto r = vmsgate("check --config " + shell_quote(cfg.string()));
  EXPECT_EQ(r.code(), 1) << r.out;
  EXPECT_NE(r.out.find("[config_unreadable_by_user]"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(cfg.string()), std::string::npos) << r.out;
  const auto run = run_command(shell_quote(VMSGATE_BINARY) + " run --config " + shell_quote(cfg.string()) + " 2>&1", 30s);
  EXPECT_EQ(run.code(), 1) << run.out;
  EXPECT_NE(run.out.find("config_unreadable_by_user"), std::string::npos) << run.out;
}

// Issue 32, finding 8: nothing kept key material out of core dumps. A process
// that is not dumpable has its /proc/PID files owned by root whatever user it runs
// as (and refuses ptrace and /proc/PID/mem to that user); so a gateway started
// directly as nobody (no user: drop, which would clear the flag on its own) shows
// root-owned /proc files, unless VMSGATE_CORE_DUMPS=1 asked for dumps.
uid_t proc_owner(pid_t pid) {
  struct stat st {};
  if (::stat(("/proc/" + std::to_string(pid) + "/environ").c_str(), &st) != 0) return static_cast<uid_t>(-1);
  return st.st_uid;
}

TEST(PrivilegeDrop, TheGatewayIsNotDumpableUnlessAskedFor) {
  REQUIRE_ROOT_AND_NOBODY();
  const uid_t nobody = ::getpwnam("nobody")->pw_uid;
  site s;
  share_with_nogroup(s);
  echo_server echo;
  const auto c = config_for(s, echo.address());
  temp_dir dir("vmsgate-dump");
  fs::permissions(dir.path(), fs::perms(0755));
  const fs::path cfg = dir.write_file("vmsgate.yaml", c.yaml());
  for (const bool dumps : {false, true}) {
    std::vector<std::string> argv = {"/usr/bin/setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"};
    if (dumps) argv.insert(argv.begin(), {"/usr/bin/env", "VMSGATE_CORE_DUMPS=1"});
    argv.insert(argv.end(), {VMSGATE_BINARY, "run", "--config", cfg.string()});
    process p(argv);
    ASSERT_TRUE(p.wait_for_line([](const std::string& l) { return is_event(l, "ready"); }, 20s)) << p.stderr_text();
    if (dumps) {
      EXPECT_EQ(proc_owner(p.pid()), nobody) << "VMSGATE_CORE_DUMPS=1 did not keep the process dumpable";
      EXPECT_NE(p.stderr_text().find("core_dumps_enabled"), std::string::npos) << p.stderr_text();
    } else {
      EXPECT_EQ(proc_owner(p.pid()), 0u) << "the gateway is dumpable: a core dump would hold its keys";
    }
    p.send_signal(SIGTERM);
    EXPECT_TRUE(p.wait_for_exit(20s));
  }
}

}  // namespace
}  // namespace vmsgate::test
