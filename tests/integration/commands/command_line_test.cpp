// The command line (issue 26): --help on every command starts nothing and exits 0;
// a mistake on the command line is one line naming it, the usage, and exit 2; the
// man page renders and names every command; `vmsgate certs` lists what expires when.

#include <gtest/gtest.h>

#include <fstream>
#include <iterator>

#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

namespace fs = std::filesystem;

command_result vmsgate(const std::string& args, std::chrono::milliseconds timeout = 20s) {
  return run_command(shell_quote(VMSGATE_BINARY) + " " + args + " 2>&1", timeout);
}

const std::vector<std::string> commands{"run",     "check",     "certs", "pki",     "pki init", "pki issue",
                                        "pki revoke", "pki crl", "pki renew", "demo", "simulate"};

TEST(CommandLine, EveryCommandHasHelpThatStartsNothing) {
  wait_for_stable_binary();
  for (const auto& cmd : commands) {
    SCOPED_TRACE(cmd);
    temp_dir cwd("vmsgate-help");
    // Run from an empty directory: a command that started would leave files (the
    // demo its site, pki its CA) or keep running past the timeout.
    const auto r = run_command("cd " + shell_quote(cwd.path().string()) + " && " + shell_quote(VMSGATE_BINARY) + " " +
                                   cmd + " --help 2>&1",
                               10s);
    EXPECT_EQ(r.code(), 0) << r.out;
    EXPECT_NE(r.out.find("Usage: vmsgate " + cmd), std::string::npos) << r.out;
    EXPECT_TRUE(fs::is_empty(cwd.path())) << "--help wrote files";
  }
  const auto top = vmsgate("--help");
  EXPECT_EQ(top.code(), 0);
  for (const auto& cmd : {"run", "check", "certs", "pki", "demo", "simulate"})
    EXPECT_NE(top.out.find(std::string("  ") + cmd + " "), std::string::npos) << cmd << "\n" << top.out;
  const auto version = vmsgate("--version");
  EXPECT_EQ(version.code(), 0);
  EXPECT_NE(version.out.find("OpenSSL 3."), std::string::npos) << version.out;
}

TEST(CommandLine, MistakesAreNamedWithTheUsageAndExitTwo) {
  wait_for_stable_binary();
  temp_dir dir("vmsgate-cli");
  const std::string config = (dir.path() / "vmsgate.yaml").string();
  std::ofstream(config) << "routes: []\n";
  struct mistake {
    std::string args;
    std::string named;  // what the first line must name
    std::string usage;  // the usage line that follows
  };
  const std::vector<mistake> mistakes{
      {"", "A subcommand is required", "Usage: vmsgate [OPTIONS] SUBCOMMAND"},
      {"frobnicate", "unknown command 'frobnicate'", "Usage: vmsgate [OPTIONS] SUBCOMMAND"},
      {"run", "--config is required", "Usage: vmsgate run"},
      {"run --config " + config + " --workers 4", "--workers", "Usage: vmsgate run"},
      {"check --config " + config + " extra", "extra", "Usage: vmsgate check"},
      {"check --config", "--config", "Usage: vmsgate check"},
      {"certs --config " + config + " --yaml", "--yaml", "Usage: vmsgate certs"},
      {"demo --port-offset abc", "--port-offset", "Usage: vmsgate demo"},
      {"demo --port-offset 70000", "--port-offset", "Usage: vmsgate demo"},
      {"pki", "A subcommand is required", "Usage: vmsgate pki"},
      {"pki init --name x", "--dir is required", "Usage: vmsgate pki init"},
      {"pki init --dir " + dir.path().string() + "/ca --bits 1024", "--bits", "Usage: vmsgate pki init"},
      {"pki issue --dir x --role r", "--host is required", "Usage: vmsgate pki issue"},
      {"pki issue --dir x --role r --host h --days many", "--days", "Usage: vmsgate pki issue"},
      {"pki revoke --dir x --serial 01 --cert c.pem", "excludes", "Usage: vmsgate pki revoke"},
      {"pki crl --dir x --dry-run", "--dry-run", "Usage: vmsgate pki crl"},
      {"pki renew --within 30d", "--dir is required", "Usage: vmsgate pki renew"},
      {"pki renew --dir x --within 30x", "--within", "Usage: vmsgate pki renew"},
  };
  for (const auto& m : mistakes) {
    SCOPED_TRACE(m.args);
    const auto r = vmsgate(m.args);
    EXPECT_EQ(r.code(), 2) << r.out;
    const std::string first = r.out.substr(0, r.out.find('\n'));
    EXPECT_TRUE(first.starts_with("vmsgate: ")) << r.out;
    EXPECT_NE(first.find(m.named), std::string::npos) << r.out;
    EXPECT_NE(r.out.find(m.usage), std::string::npos) << r.out;
  }
  EXPECT_FALSE(fs::exists(dir.path() / "ca")) << "a refused pki init made its directory";
}

// The page that `cmake --install` puts in man1 renders, and documents every command
// the binary has.
TEST(CommandLine, TheManPageRendersAndNamesEveryCommand) {
  const fs::path page = fs::path(VMSGATE_SOURCE_DIR) / "docs" / "vmsgate.1";
  const auto rendered = run_command("MANWIDTH=100 man -l " + shell_quote(page.string()) + " 2>&1", 20s);
  ASSERT_EQ(rendered.code(), 0) << rendered.out;
  EXPECT_NE(rendered.out.find("vmsgate - TLS gateway for video management sites"), std::string::npos) << rendered.out;
  const auto warnings = run_command("man --warnings -l " + shell_quote(page.string()) + " 2>&1 >/dev/null", 20s);
  EXPECT_EQ(warnings.out, "") << "groff's warnings";
  for (const auto& cmd : commands) EXPECT_NE(rendered.out.find("vmsgate " + cmd), std::string::npos) << cmd;
  EXPECT_NE(rendered.out.find("EXIT STATUS"), std::string::npos);
}

TEST(CommandLine, CertsListsEveryCertificateAndCrlSoonestFirst) {
  wait_for_stable_binary();
  temp_dir dir("vmsgate-certs");
  const std::string d = shell_quote((dir.path() / "pki").string());
  ASSERT_EQ(vmsgate("pki init --dir " + d + " --name 'Site CA' --bits 2048 --days 3650").code(), 0);
  ASSERT_EQ(vmsgate("pki issue --dir " + d + " --role recording --host rec01.example.local --days 90").code(), 0);
  ASSERT_EQ(vmsgate("pki crl --dir " + d + " --days 7").code(), 0);
  const std::string config = (dir.path() / "vmsgate.yaml").string();
  std::ofstream(config) << "roles:\n  recording:\n    ca: pki/ca.pem\n    crl: [pki/crl.pem]\n"
                           "routes:\n  - name: rec01\n    role: recording\n    listen: \"127.0.0.1:0\"\n"
                           "    server_names: [rec01.example.local]\n"
                           "    cert: pki/rec01.example.local.pem\n    key: pki/rec01.example.local.key\n"
                           "    backends: [\"127.0.0.1:9\"]\n";
  const auto table = vmsgate("certs --config " + shell_quote(config));
  ASSERT_EQ(table.code(), 0) << table.out;
  std::vector<std::string> lines;
  for (std::size_t at = 0; at < table.out.size();) {
    const auto end = table.out.find('\n', at);
    lines.push_back(table.out.substr(at, end - at));
    at = end == std::string::npos ? table.out.size() : end + 1;
  }
  ASSERT_EQ(lines.size(), 4u) << table.out;  // the heading, the CRL, the server certificate, the CA
  EXPECT_TRUE(lines[0].starts_with("ROUTE")) << table.out;
  EXPECT_NE(lines[1].find(" crl "), std::string::npos) << table.out;
  EXPECT_NE(lines[1].find(" 6 "), std::string::npos) << table.out;  // 7 days less a moment
  EXPECT_NE(lines[2].find("rec01  recording  server"), std::string::npos) << table.out;
  EXPECT_NE(lines[2].find("CN=rec01.example.local,OU=recording"), std::string::npos) << table.out;
  EXPECT_NE(lines[2].find(" 89 "), std::string::npos) << table.out;
  EXPECT_NE(lines[3].find(" ca "), std::string::npos) << table.out;

  const auto json = vmsgate("certs --json --config " + shell_quote(config));
  ASSERT_EQ(json.code(), 0) << json.out;
  EXPECT_TRUE(json.out.starts_with("[\n  {\"route\": \"\", \"role\": \"recording\", \"usage\": \"crl\"")) << json.out;
  EXPECT_NE(json.out.find("\"usage\": \"server\", \"subject\": \"CN=rec01.example.local,OU=recording\""),
            std::string::npos)
      << json.out;
  EXPECT_NE(json.out.find("\"days_left\": 89, \"file\": \"" + (dir.path() / "pki" / "rec01.example.local.pem").string()),
            std::string::npos)
      << json.out;

  std::ofstream(config) << "routes: [\n";
  EXPECT_EQ(vmsgate("certs --config " + shell_quote(config)).code(), 2);
}

}  // namespace
}  // namespace vmsgate::test

namespace vmsgate::test {
namespace {

// The README's "Using it" commands, as written, in an empty directory: the pki
// lines in their order, then check and certs on a configuration that uses what they
// made (in place of /etc/vmsgate/vmsgate.yaml). `run` is every other test's.
TEST(CommandLine, TheReadmesCommandsWorkAsWrittenInAnEmptyDirectory) {
  wait_for_stable_binary();
  std::ifstream readme(fs::path(VMSGATE_SOURCE_DIR) / "README.md");
  const std::string text((std::istreambuf_iterator<char>(readme)), std::istreambuf_iterator<char>());
  const auto start = text.find("## Using it\n\n```sh\n");
  ASSERT_NE(start, std::string::npos);
  const auto body = start + std::string("## Using it\n\n```sh\n").size();
  const std::string block = text.substr(body, text.find("```", body) - body);
  std::vector<std::string> pki_lines, config_lines;
  for (std::size_t at = 0; at < block.size();) {
    const auto end = block.find('\n', at);
    std::string line = block.substr(at, end - at);
    at = end + 1;
    if (const auto comment = line.find("  #"); comment != std::string::npos) line.erase(comment);
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (line.starts_with("vmsgate pki") || line == "vmsgate --version") pki_lines.push_back(line);
    else if (line.starts_with("vmsgate check") || line.starts_with("vmsgate certs")) config_lines.push_back(line);
  }
  ASSERT_GE(pki_lines.size(), 4u) << block;
  ASSERT_EQ(config_lines.size(), 2u) << block;

  temp_dir dir("vmsgate-readme");
  const std::string shell = "cd " + shell_quote(dir.path().string()) + " && PATH=" +
                            shell_quote(fs::path(VMSGATE_BINARY).parent_path().string()) + ":$PATH ";
  for (const auto& line : pki_lines) {
    const auto r = run_command(shell + line + " 2>&1", 60s);
    EXPECT_EQ(r.code(), 0) << line << "\n" << r.out;
  }
  const fs::path config = dir.path() / "vmsgate.yaml";
  std::ofstream(config) << "roles:\n  recording:\n    ca: pki/ca.pem\n"
                           "routes:\n  - name: rec01\n    role: recording\n    listen: \"127.0.0.1:0\"\n"
                           "    server_names: [rec01.example.local]\n"
                           "    cert: pki/rec01.example.local.pem\n    key: pki/rec01.example.local.key\n"
                           "    backends: [\"127.0.0.1:9\"]\n";
  for (auto line : config_lines) {
    line.replace(line.find("/etc/vmsgate/vmsgate.yaml"), 25, shell_quote(config.string()));
    const auto r = run_command(shell + line + " 2>&1", 60s);
    EXPECT_EQ(r.code(), 0) << line << "\n" << r.out;
    if (line.starts_with("vmsgate certs"))
      EXPECT_NE(r.out.find("CN=rec01.example.local"), std::string::npos) << r.out;
    else
      EXPECT_NE(r.out.find("0 errors"), std::string::npos) << r.out;
  }
}

}  // namespace
}  // namespace vmsgate::test
