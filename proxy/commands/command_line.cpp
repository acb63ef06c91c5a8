// The command line of CONTRACT.md, declared with CLI11: run, check, certs, pki,
// demo, simulate, --version. Every command has --help (exit 0, starts nothing); an
// unknown flag or argument, or a missing or malformed value, is one line naming it
// and the command's usage, exit 2.

#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include <CLI/CLI.hpp>
#include <boost/version.hpp>

#include <cstdio>
#include <string>
#include <vector>

#include "demo/command.hpp"
#include "demo/sim/command.hpp"
#include "proxy/commands/commands.hpp"
#include "proxy/gateway/run.hpp"
#include "proxy/pki/command.hpp"

namespace {

std::string version_text() {
  char boost[32];
  std::snprintf(boost, sizeof boost, "%d.%d.%d", BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000,
                BOOST_VERSION % 100);
  return std::string("vmsgate ") + VMSGATE_VERSION + "\nOpenSSL " + OpenSSL_version(OPENSSL_VERSION_STRING) +
         "\nBoost " + boost;
}

// The deepest command given, for the usage after an error.
const CLI::App* innermost(const CLI::App& app) {
  for (const CLI::App* sub : app.get_subcommands())
    if (sub->parsed()) return innermost(*sub);
  return &app;
}

// "vmsgate pki" for issue: what precedes a command's name in its usage line.
std::string parents_of(const CLI::App* cmd) {
  std::string out;
  for (const CLI::App* p = cmd->get_parent(); p != nullptr; p = p->get_parent())
    out = p->get_name() + (out.empty() ? "" : " " + out);
  return out;
}

struct command_line {
  std::string config;
  bool json = false;
  int port_offset = 0;
  vmsgate::pki::command_line pki;
  CLI::App* run = nullptr;
  CLI::App* check = nullptr;
  CLI::App* certs = nullptr;
  CLI::App* pki_cmd = nullptr;
  CLI::App* demo = nullptr;
  CLI::App* simulate = nullptr;
};

void declare(CLI::App& app, command_line& cl) {
  app.set_version_flag("--version", version_text(), "print the versions of vmsgate, OpenSSL and Boost");
  app.require_subcommand(1);
  const auto config_option = [&cl](CLI::App* cmd) {
    cmd->add_option("--config", cl.config, "the configuration file (YAML)")->required()->type_name("FILE");
  };
  cl.run = app.add_subcommand("run", "Run the gateway in the foreground: SIGHUP reloads, SIGTERM drains");
  config_option(cl.run);
  cl.check = app.add_subcommand(
      "check", "Check the configuration and every certificate against its role's policy; binds nothing. Exit 0: no "
               "errors (warnings allowed), 1: a policy error, 2: the configuration is invalid");
  config_option(cl.check);
  cl.certs = app.add_subcommand("certs", "List every certificate and CRL the configuration uses, with its expiry");
  config_option(cl.certs);
  cl.certs->add_flag("--json", cl.json, "print a JSON array instead of a table");
  cl.pki_cmd = vmsgate::pki::add_command(app, cl.pki);
  cl.demo = app.add_subcommand("demo", "A throwaway site: PKI, simulated servers and a gateway per role, until Ctrl-C");
  cl.demo->add_option("--port-offset", cl.port_offset, "added to every port the demo listens on")
      ->check(CLI::Range(0, 50000))
      ->capture_default_str();
  cl.simulate = app.add_subcommand("simulate", "Simulated legacy servers and checking clients (for the demo and tests)");
  cl.simulate->allow_extras();
  cl.simulate->footer("  vmsgate simulate recording|management|mobile --listen HOST:PORT [--name NAME] ...\n"
                      "  vmsgate simulate client KIND --connect HOST:PORT ...");
}

int dispatch(command_line& cl) {
  if (!cl.run->parsed()) vmsgate::app::release_stop_signals();
  if (cl.run->parsed()) return vmsgate::app::run_main(cl.config.c_str());
  if (cl.check->parsed()) return vmsgate::app::check_main(cl.config.c_str());
  if (cl.certs->parsed()) return vmsgate::app::certs_main(cl.config.c_str(), cl.json);
  if (cl.pki_cmd->parsed()) return vmsgate::pki::run_parsed(cl.pki);
  if (cl.demo->parsed()) return vmsgate::demo::demo_main(cl.port_offset);
  std::vector<std::string> rest = cl.simulate->remaining();
  std::vector<char*> args;
  for (auto& a : rest) args.push_back(a.data());
  args.push_back(nullptr);
  return vmsgate::sim::simulate_main(static_cast<int>(rest.size()), args.data());
}

}  // namespace

int vmsgate::app::command_line_main(int argc, char** argv) {
  vmsgate::app::hold_stop_signals();
  CLI::App app("vmsgate: a TLS gateway for video management sites", "vmsgate");
  command_line cl;
  declare(app, cl);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    vmsgate::app::release_stop_signals();
    if (e.get_exit_code() == static_cast<int>(CLI::ExitCodes::Success)) return app.exit(e);  // --help, --version
    const CLI::App* where = innermost(app);
    std::string what = e.what();
    // CLI11 says only that a command is missing when the first word is none of them.
    if (where == &app && argc > 1 && argv[1][0] != '-') what = std::string("unknown command '") + argv[1] + "'";
    std::fprintf(stderr, "vmsgate: %s\n%s", what.c_str(), where->help(parents_of(where), CLI::AppFormatMode::Normal).c_str());
    return 2;
  }
  return dispatch(cl);
}
