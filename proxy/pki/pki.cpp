#include "proxy/pki/pki.hpp"

#include <arpa/inet.h>

#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <ctime>
#include <filesystem>
#include <sstream>

#include "proxy/pki/files.hpp"
#include "proxy/pki/site_ca.hpp"
#include "proxy/tls/certificate.hpp"
#include "proxy/tls/name_match.hpp"

namespace vmsgate::pki {

namespace {

using std::chrono::hours;

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
  // The role goes into a URI (urn:vmsgate:role:ROLE) and matches config role names.
  if (!std::all_of(o.role.begin(), o.role.end(),
                   [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_' || c == '.'; }))
    throw error("--role " + o.role + " may hold only letters, digits, '-', '_' and '.'");
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
  // The directory holds the CA's key: made 0700 when missing, parents included
  // (those with the umask's mode), as `mkdir -p` would.
  std::error_code ec;
  if (!std::filesystem::exists(opts.dir, ec)) {
    std::filesystem::create_directories(opts.dir, ec);
    if (ec) throw error("cannot create " + opts.dir + ": " + ec.message());
    std::filesystem::permissions(opts.dir, std::filesystem::perms::owner_all, ec);
    if (ec) throw error("cannot make " + opts.dir + " private: " + ec.message());
  }
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
  // The role, bound in the certificate: a peer that carries it is accepted for
  // this role only, whatever CA the roles share (see tls::check_peer).
  spec.uris = {std::string(tls::role_uri_prefix) + opts.role};
  spec.client_auth = opts.client;
  spec.not_before = clock::now() - backdate;
  // A leaf that outlives its CA would only fail later and more confusingly.
  const auto ca_end = tls::inspect(ca.chain.front().get()).not_after;
  spec.not_after = std::min(clock::now() + hours(24) * opts.days, ca_end);
  const tls::x509_ptr cert = make_certificate(spec, key.get(), ca.chain.front().get(), ca.key.get());
  return write_pair(stem, to_pem(cert.get()) + ca.pem, to_pem(key.get()), opts.force);
}

namespace {

std::string normal_serial(std::string hex) {
  if (hex.starts_with("0x") || hex.starts_with("0X")) hex.erase(0, 2);
  std::erase(hex, ':');
  if (hex.empty() || !std::all_of(hex.begin(), hex.end(), [](unsigned char c) { return std::isxdigit(c); }))
    throw error("--serial must be a hexadecimal serial number, as `openssl x509 -serial` prints it");
  for (char& c : hex) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  while (hex.size() > 1 && hex.front() == '0') hex.erase(0, 1);
  return hex;
}

}  // namespace

std::string write_crl(const crl_options& opts) {
  if (opts.dir.empty()) throw error("--dir is required");
  check_range("days", opts.days, 1, 3650);
  const site_ca ca = load_site_ca(opts.dir);
  const auto revoked = read_revocations(opts.dir);
  long number = 1;
  if (file_exists(opts.dir + "/crlnumber")) number = std::stol(read_file(opts.dir + "/crlnumber")) + 1;

  std::unique_ptr<X509_CRL, tls::openssl_deleter<X509_CRL_free>> crl(X509_CRL_new());
  const std::time_t now = std::time(nullptr);
  using asn1_time_ptr = std::unique_ptr<ASN1_TIME, tls::openssl_deleter<ASN1_TIME_free>>;
  const asn1_time_ptr last(ASN1_TIME_set(nullptr, now));
  const asn1_time_ptr next(ASN1_TIME_set(nullptr, now + static_cast<std::time_t>(opts.days) * 86400));
  X509* issuer = ca.chain.front().get();
  if (!crl || !last || !next || X509_CRL_set_version(crl.get(), X509_CRL_VERSION_2) != 1 ||
      X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer)) != 1 ||
      X509_CRL_set1_lastUpdate(crl.get(), last.get()) != 1 || X509_CRL_set1_nextUpdate(crl.get(), next.get()) != 1)
    throw error("cannot make the CRL: " + tls::drain_errors());
  for (const auto& r : revoked) {
    X509_REVOKED* entry = X509_REVOKED_new();
    tls::bn_ptr bn;
    BIGNUM* raw = nullptr;
    if (BN_hex2bn(&raw, r.serial.c_str()) == 0) {
      X509_REVOKED_free(entry);
      throw error(opts.dir + "/revoked.txt: bad serial " + r.serial);
    }
    bn.reset(raw);
    std::unique_ptr<ASN1_INTEGER, tls::openssl_deleter<ASN1_INTEGER_free>> serial(BN_to_ASN1_INTEGER(bn.get(), nullptr));
    const asn1_time_ptr when(ASN1_TIME_set(nullptr, static_cast<std::time_t>(r.when)));
    if (entry == nullptr || !serial || !when || X509_REVOKED_set_serialNumber(entry, serial.get()) != 1 ||
        X509_REVOKED_set_revocationDate(entry, when.get()) != 1 || X509_CRL_add0_revoked(crl.get(), entry) != 1) {
      X509_REVOKED_free(entry);
      throw error("cannot list serial " + r.serial + " in the CRL: " + tls::drain_errors());
    }
  }
  std::unique_ptr<ASN1_INTEGER, tls::openssl_deleter<ASN1_INTEGER_free>> crl_number(ASN1_INTEGER_new());
  if (!crl_number || ASN1_INTEGER_set(crl_number.get(), number) != 1 ||
      X509_CRL_add1_ext_i2d(crl.get(), NID_crl_number, crl_number.get(), 0, 0) != 1)
    throw error("cannot number the CRL: " + tls::drain_errors());
  X509V3_CTX v3;
  X509V3_set_ctx(&v3, issuer, nullptr, nullptr, crl.get(), 0);
  tls::x509_extension_ptr akid(X509V3_EXT_nconf_nid(nullptr, &v3, NID_authority_key_identifier, "keyid:always"));
  if (!akid || X509_CRL_add_ext(crl.get(), akid.get(), -1) != 1)
    throw error("cannot add the authority key id to the CRL: " + tls::drain_errors());
  if (X509_CRL_sort(crl.get()) != 1 || X509_CRL_sign(crl.get(), ca.key.get(), EVP_sha256()) == 0)
    throw error("cannot sign the CRL: " + tls::drain_errors());
  tls::bio_ptr bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_X509_CRL(bio.get(), crl.get()) != 1) throw error("cannot encode the CRL");
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  const std::string path = opts.dir + "/crl.pem";
  // The number first: a CRL written with a number that is then not recorded would
  // be followed by another with the same number.
  write_new_file(opts.dir + "/crlnumber", std::to_string(number) + "\n", 0644, true);
  write_new_file(path, std::string(data, static_cast<std::size_t>(n)), 0644, true);
  return path;
}

std::string revoke(const revoke_options& opts) {
  if (opts.dir.empty()) throw error("--dir is required");
  if (opts.serial.empty() == opts.cert.empty()) throw error("give exactly one of --serial HEX and --cert FILE");
  std::string serial;
  if (!opts.cert.empty()) {
    std::string why;
    const auto chain = tls::load_certificates(opts.cert, why);
    if (chain.empty()) throw error(opts.cert + ": " + why);
    const site_ca ca = load_site_ca(opts.dir);
    if (X509_check_issued(ca.chain.front().get(), chain.front().get()) != X509_V_OK)
      throw error(opts.cert + " was not issued by the CA in " + opts.dir);
    serial = tls::inspect(chain.front().get()).serial;
  } else {
    serial = normal_serial(opts.serial);
  }
  auto revoked = read_revocations(opts.dir);
  if (std::none_of(revoked.begin(), revoked.end(), [&](const revocation& r) { return r.serial == serial; })) {
    revoked.push_back({serial, static_cast<long long>(std::time(nullptr))});
    std::string text;
    for (const auto& r : revoked) text += r.serial + " " + std::to_string(r.when) + "\n";
    write_new_file(opts.dir + "/revoked.txt", text, 0644, true);
  }
  return write_crl({opts.dir, opts.days});
}

}  // namespace vmsgate::pki
