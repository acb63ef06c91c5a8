// `vmsgate pki init|issue|revoke|crl|renew`: the command line (CLI11) and
// reporting around pki.hpp and renew.hpp.

#include "proxy/pki/command.hpp"

#include <array>
#include <charconv>
#include <cstdio>

#include "proxy/tls/certificate.hpp"

namespace vmsgate::pki {
namespace {

// Keys of 1024 bits are refused by every role's policy (min_rsa_bits >= 2048);
// more than 16384 takes minutes to generate.
const CLI::Range key_bits(2048, 16384);
const CLI::Range validity_days(1, 36500);

void add_dir(CLI::App* cmd, std::string& dir, const char* what) {
  cmd->add_option("--dir", dir, what)->required()->type_name("DIR");
}

std::string check_within(std::string& text) {
  if (parse_within(text)) return "";
  return "'" + text + "' is not a duration: a whole number and a unit, d, h, m or s (e.g. 30d, 12h), at most 36500d";
}

void add_renew(CLI::App& pki, command_line& cl) {
  cl.renew_cmd = pki.add_subcommand("renew",
                                    "Re-issue every leaf certificate in DIR that expires within DURATION: same names, "
                                    "role and usage, a new key, in place");
  add_dir(cl.renew_cmd, cl.renew.dir, "the CA's directory; its NAME.pem and NAME.key pairs are replaced");
  cl.renew_cmd->add_option("--within", cl.within, "renew what expires sooner than this from now")
      ->check(CLI::Validator(check_within, ""))
      ->type_name("DURATION")
      ->capture_default_str();
  cl.renew_cmd->add_flag("--dry-run", cl.renew.dry_run, "say what would be renewed, write nothing");
}

void print_renewal(const renewal& r, bool dry_run) {
  const std::string before = tls::format_time(r.old_not_after);
  switch (r.result) {
    case renew_result::renewed:
      std::printf("%s: %s, notAfter %s -> %s, new %s key\n", r.cert_path.c_str(), dry_run ? "would renew" : "renewed",
                  before.c_str(), tls::format_time(r.new_not_after).c_str(), r.reason.c_str());
      break;
    case renew_result::still_valid:
      std::printf("%s: still valid until %s\n", r.cert_path.c_str(), before.c_str());
      break;
    case renew_result::skipped:
      std::printf("%s: skipped, %s\n", r.cert_path.c_str(), r.reason.c_str());
      break;
    case renew_result::failed:
      std::fprintf(stderr, "vmsgate pki renew: %s: failed, %s\n", r.cert_path.c_str(), r.reason.c_str());
      break;
  }
  // Failures go to stderr: flushed line by line, the two streams stay in order
  // in the journal.
  std::fflush(stdout);
}

int run_renew(const command_line& cl) {
  renew_options opts = cl.renew;
  opts.within = *parse_within(cl.within);  // the option's check has parsed it once already
  const renew_report report = renew(opts);
  if (!report.ca_warning.empty()) std::fprintf(stderr, "vmsgate pki renew: warning: %s\n", report.ca_warning.c_str());
  std::array<int, 4> counts{};
  for (const renewal& r : report.certs) {
    print_renewal(r, opts.dry_run);
    ++counts[static_cast<std::size_t>(r.result)];
  }
  std::printf("%d %s, %d still valid, %d skipped, %d failed\n", counts[0], opts.dry_run ? "to renew" : "renewed",
              counts[1], counts[2], counts[3]);
  return report.ok() ? 0 : 1;
}

}  // namespace

std::optional<std::chrono::seconds> parse_within(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  long long value = 0;
  if (digits == 0 || digits > 9 || std::from_chars(text.data(), text.data() + digits, value).ec != std::errc{})
    return std::nullopt;
  const std::string_view unit = text.substr(digits);
  const long long seconds = unit == "d" ? 86400 : unit == "h" ? 3600 : unit == "m" ? 60 : unit == "s" ? 1 : 0;
  if (seconds == 0 || value * seconds > 36500LL * 86400) return std::nullopt;
  return std::chrono::seconds(value * seconds);
}

CLI::App* add_command(CLI::App& app, command_line& cl) {
  CLI::App* pki = app.add_subcommand("pki", "The built-in site CA: make it, issue certificates, renew and revoke them");
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
  add_renew(*pki, cl);
  return pki;
}

int run_parsed(const command_line& cl) {
  const char* sub = cl.init_cmd->parsed()     ? "init"
                    : cl.issue_cmd->parsed()  ? "issue"
                    : cl.revoke_cmd->parsed() ? "revoke"
                    : cl.renew_cmd->parsed()  ? "renew"
                                              : "crl";
  try {
    if (cl.renew_cmd->parsed()) return run_renew(cl);
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
