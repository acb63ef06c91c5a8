// `vmsgate pki init|issue|revoke|crl`: the command line (CLI11) and reporting
// around pki.hpp.

#include "proxy/pki/command.hpp"

#include <cstdio>

namespace vmsgate::pki {
namespace {

// Keys of 1024 bits are refused by every role's policy (min_rsa_bits >= 2048);
// more than 16384 takes minutes to generate.
const CLI::Range key_bits(2048, 16384);
const CLI::Range validity_days(1, 36500);

void add_dir(CLI::App* cmd, std::string& dir, const char* what) {
  cmd->add_option("--dir", dir, what)->required()->type_name("DIR");
}

}  // namespace

CLI::App* add_command(CLI::App& app, command_line& cl) {
  CLI::App* pki = app.add_subcommand("pki", "The built-in site CA: make it, issue certificates, revoke them");
  pki->require_subcommand(1);

  cl.init_cmd = pki->add_subcommand("init", "Make a site CA in DIR (created 0700 with its parents when missing)");
  add_dir(cl.init_cmd, cl.init.dir, "directory for ca.pem and ca.key");
  cl.init_cmd->add_option("--name", cl.init.name, "the CA's common name")->capture_default_str();
  cl.init_cmd->add_option("--bits", cl.init.bits, "RSA key size")->check(key_bits)->capture_default_str();
  cl.init_cmd->add_option("--days", cl.init.days, "validity")->check(validity_days)->capture_default_str();
  cl.init_cmd->add_flag("--force", cl.init.force, "replace a CA already in DIR");

  cl.issue_cmd = pki->add_subcommand("issue", "Issue a certificate and key for one server or client, signed by DIR's CA");
  add_dir(cl.issue_cmd, cl.issue.dir, "the CA's directory; NAME.pem and NAME.key (0600) are written there");
  cl.issue_cmd->add_option("--role", cl.issue.role, "the role, written as the URI SAN urn:vmsgate:role:ROLE")
      ->required();
  cl.issue_cmd->add_option("--host", cl.issue.hosts, "a DNS name (repeatable); the first names the files")
      ->required()
      ->type_name("NAME");
  cl.issue_cmd->add_option("--ip", cl.issue.ips, "an IP address SAN (repeatable)")->type_name("ADDR");
  cl.issue_cmd->add_flag("--client", cl.issue.client, "add the clientAuth usage (for mutual TLS)");
  cl.issue_cmd->add_option("--bits", cl.issue.bits, "RSA key size")->check(key_bits)->capture_default_str();
  cl.issue_cmd->add_option("--days", cl.issue.days, "validity")->check(validity_days)->capture_default_str();
  cl.issue_cmd->add_flag("--force", cl.issue.force, "replace files already there");

  cl.revoke_cmd = pki->add_subcommand("revoke", "Revoke a certificate of DIR's CA and write DIR/crl.pem anew");
  add_dir(cl.revoke_cmd, cl.revoke.dir, "the CA's directory");
  auto* serial = cl.revoke_cmd->add_option("--serial", cl.revoke.serial, "the serial number, in hex")->type_name("HEX");
  auto* cert = cl.revoke_cmd->add_option("--cert", cl.revoke.cert, "or the certificate file")->type_name("FILE");
  serial->excludes(cert);
  cl.revoke_cmd->add_option("--days", cl.revoke.days, "the CRL's nextUpdate, from now")
      ->check(validity_days)
      ->capture_default_str();

  cl.crl_cmd = pki->add_subcommand("crl", "Write DIR/crl.pem anew, with a fresh nextUpdate");
  add_dir(cl.crl_cmd, cl.crl.dir, "the CA's directory");
  cl.crl_cmd->add_option("--days", cl.crl.days, "the CRL's nextUpdate, from now")
      ->check(validity_days)
      ->capture_default_str();
  return pki;
}

int run_parsed(const command_line& cl) {
  const char* sub = cl.init_cmd->parsed()     ? "init"
                    : cl.issue_cmd->parsed()  ? "issue"
                    : cl.revoke_cmd->parsed() ? "revoke"
                                              : "crl";
  try {
    if (cl.revoke_cmd->parsed() || cl.crl_cmd->parsed()) {
      const std::string path = cl.revoke_cmd->parsed() ? revoke(cl.revoke) : write_crl(cl.crl);
      std::printf("wrote %s\n", path.c_str());
      return 0;
    }
    const issued out = cl.init_cmd->parsed() ? init_ca(cl.init) : issue(cl.issue);
    std::printf("wrote %s\nwrote %s\n", out.cert_path.c_str(), out.key_path.c_str());
    return 0;
  } catch (const error& e) {
    std::fprintf(stderr, "vmsgate pki %s: %s\n", sub, e.what());
    return 1;
  }
}

}  // namespace vmsgate::pki
