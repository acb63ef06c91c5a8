#include "proxy/pki/pki.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

#include "proxy/pki/files.hpp"
#include "proxy/tls/certificate.hpp"
#include "proxy/tls/name_match.hpp"

namespace vmsgate::pki {

namespace {

using std::chrono::hours;
using std::chrono::minutes;

// Leaves are back-dated a little so that a client whose clock runs slightly
// behind does not see a certificate that is "not yet valid".
constexpr auto backdate = minutes(5);

void check_range(const char* what, int value, int low, int high) {
  if (value < low || value > high) {
    throw error(std::string("--") + what + " must be between " + std::to_string(low) + " and " + std::to_string(high));
  }
}

bool valid_host(const std::string& host) {
  std::string_view rest = host;
  if (rest.starts_with("*.")) rest.remove_prefix(2);
  if (rest.empty() || rest.size() > 253 || rest.front() == '.' || rest.back() == '.') return false;
  return std::all_of(rest.begin(), rest.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '.'; });
}

std::string file_stem(const std::string& host) {
  return host.starts_with("*.") ? "wildcard." + host.substr(2) : host;
}

void validate(const issue_options& o) {
  if (o.dir.empty()) throw error("--dir is required");
  if (o.role.empty()) throw error("--role is required");
  if (o.hosts.empty()) throw error("at least one --host is required");
  for (const auto& h : o.hosts) {
    if (!valid_host(h)) throw error("--host " + h + " is not a DNS name");
  }
  for (const auto& ip : o.ips) {
    if (!tls::canonical_ip(ip)) throw error("--ip " + ip + " is not an IPv4 or IPv6 address");
  }
  check_range("bits", o.bits, 2048, 16384);
  check_range("days", o.days, 1, 36500);
}

void refuse_overwrite(const std::vector<std::string>& paths, bool force) {
  if (force) return;
  for (const auto& p : paths) {
    if (file_exists(p)) throw error(p + " already exists; pass --force to replace it");
  }
}

struct site_ca {
  std::vector<tls::x509_ptr> chain;
  tls::pkey_ptr key;
  std::string pem;
};

site_ca load_site_ca(const std::string& dir) {
  site_ca ca;
  std::string why;
  ca.chain = tls::load_certificates(dir + "/ca.pem", why);
  if (ca.chain.empty()) throw error(dir + "/ca.pem: " + why + " (run `vmsgate pki init --dir " + dir + "` first)");
  ca.key = tls::load_private_key(dir + "/ca.key", why);
  if (!ca.key) throw error(dir + "/ca.key: " + why);
  if (X509_check_private_key(ca.chain.front().get(), ca.key.get()) != 1) {
    tls::drain_errors();
    throw error(dir + "/ca.key does not match " + dir + "/ca.pem");
  }
  if (!tls::inspect(ca.chain.front().get()).is_ca) throw error(dir + "/ca.pem is not a CA certificate");
  ca.pem = read_file(dir + "/ca.pem");
  return ca;
}

// The key goes first: should writing the certificate fail, a key without its
// certificate is harmless, and the operator reruns with --force.
issued write_pair(const std::string& stem, const std::string& cert_pem, const std::string& key_pem, bool force) {
  issued out{stem + ".pem", stem + ".key"};
  refuse_overwrite({out.cert_path, out.key_path}, force);
  write_new_file(out.key_path, key_pem, 0600, force);
  write_new_file(out.cert_path, cert_pem, 0644, force);
  return out;
}

}  // namespace

issued init_ca(const init_options& opts) {
  if (opts.dir.empty()) throw error("--dir is required");
  if (opts.name.empty()) throw error("--name must not be empty");
  check_range("bits", opts.bits, 2048, 16384);
  check_range("days", opts.days, 1, 36500);
  refuse_overwrite({opts.dir + "/ca.pem", opts.dir + "/ca.key"}, opts.force);
  const tls::pkey_ptr key = generate_rsa(opts.bits);
  cert_spec spec;
  spec.common_name = opts.name;
  spec.ca = true;
  spec.not_before = clock::now() - backdate;
  spec.not_after = clock::now() + hours(24) * opts.days;
  const tls::x509_ptr cert = make_certificate(spec, key.get(), nullptr, key.get());
  return write_pair(opts.dir + "/ca", to_pem(cert.get()), to_pem(key.get()), opts.force);
}

issued issue(const issue_options& opts) {
  validate(opts);
  const std::string stem = opts.dir + "/" + file_stem(opts.hosts.front());
  refuse_overwrite({stem + ".pem", stem + ".key"}, opts.force);
  const site_ca ca = load_site_ca(opts.dir);
  const tls::pkey_ptr key = generate_rsa(opts.bits);
  cert_spec spec;
  spec.common_name = opts.hosts.front();
  spec.org_unit = opts.role;
  spec.dns_names = opts.hosts;
  spec.ip_addresses = opts.ips;
  spec.client_auth = opts.client;
  spec.not_before = clock::now() - backdate;
  // A leaf that outlives its CA would only fail later and more confusingly.
  const auto ca_end = tls::inspect(ca.chain.front().get()).not_after;
  spec.not_after = std::min(clock::now() + hours(24) * opts.days, ca_end);
  const tls::x509_ptr cert = make_certificate(spec, key.get(), ca.chain.front().get(), ca.key.get());
  return write_pair(stem, to_pem(cert.get()) + ca.pem, to_pem(key.get()), opts.force);
}

}  // namespace vmsgate::pki
