#include "proxy/pki/renew.hpp"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "proxy/pki/files.hpp"
#include "proxy/pki/site_ca.hpp"
#include "proxy/tls/certificate.hpp"

namespace vmsgate::pki {

namespace fs = std::filesystem;

bool renew_report::ok() const {
  return std::none_of(certs.begin(), certs.end(), [](const renewal& r) { return r.result == renew_result::failed; });
}

namespace {

// The candidates, by name: every *.pem in DIR but the CA's own.
std::vector<fs::path> pem_files(const std::string& dir) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() == ".pem" && it->path().filename() != "ca.pem") out.push_back(it->path());
  }
  if (ec) throw error("cannot list " + dir + ": " + ec.message());
  std::sort(out.begin(), out.end());
  return out;
}

std::string issuer_of(X509* cert) {
  tls::bio_ptr mem(BIO_new(BIO_s_mem()));
  if (!mem || X509_NAME_print_ex(mem.get(), X509_get_issuer_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    tls::drain_errors();
    return "another CA";
  }
  char* data = nullptr;
  const long len = BIO_get_mem_data(mem.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

// Named by this CA as the issuer, and signed with its key.
bool issued_by(X509* cert, const site_ca& ca) {
  X509* issuer = ca.chain.front().get();
  const bool ok = X509_check_issued(issuer, cert) == X509_V_OK && X509_verify(cert, X509_get0_pubkey(issuer)) == 1;
  tls::drain_errors();
  return ok;
}

bool holds_crl(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return text.find("-----BEGIN X509 CRL-----") != std::string::npos;
}

bool is_revoked(const std::string& serial, const std::vector<revocation>& revoked) {
  const auto bare = [](std::string_view hex) { return hex.substr(std::min(hex.find_first_not_of('0'), hex.size())); };
  return std::any_of(revoked.begin(), revoked.end(),
                     [&](const revocation& r) { return bare(r.serial) == bare(serial); });
}

// Why `path` is no leaf of this CA to renew, "" when it is one (then in `chain`).
std::string not_a_leaf(const fs::path& path, const site_ca& ca, const std::vector<revocation>& revoked,
                       std::vector<tls::x509_ptr>& chain) {
  const fs::file_status st = fs::symlink_status(path);
  if (fs::is_symlink(st)) return "a symbolic link; renew the file it points to";
  if (!fs::is_regular_file(st)) return "not a regular file";
  std::string why;
  chain = tls::load_certificates(path.string(), why);
  if (chain.empty()) return holds_crl(path) ? "a CRL, not a certificate" : "no certificate in it (" + why + ")";
  X509* cert = chain.front().get();
  const tls::cert_info info = tls::inspect(cert);
  if (info.is_ca) return "a CA certificate, not a leaf";
  if (!issued_by(cert, ca)) return "issued by " + issuer_of(cert) + ", not by this directory's CA";
  if (is_revoked(info.serial, revoked)) return "revoked (serial " + info.serial + " is in revoked.txt)";
  return "";
}

std::string org_unit_of(X509* cert) {
  X509_NAME* name = X509_get_subject_name(cert);
  const int at = X509_NAME_get_index_by_NID(name, NID_organizationalUnitName, -1);
  if (at < 0) return "";
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, at)));
  if (len < 0) throw error("cannot read the OU of its subject: " + tls::drain_errors());
  std::string out(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

// The old certificate's names and usage; the same validity length as before (so
// that a leaf issued for 397 days gets 397 days again), capped at the CA's
// notAfter as `pki issue` caps it.
cert_spec spec_like(X509* old, const tls::cert_info& info, clock::time_point ca_end) {
  cert_spec spec;
  spec.common_name = info.common_name;
  spec.org_unit = org_unit_of(old);
  spec.dns_names = info.dns_names;
  spec.ip_addresses = info.ip_addresses;
  spec.uris = info.uris;
  spec.with_eku = info.has_eku;
  spec.server_auth = info.eku_server_auth;
  spec.client_auth = info.eku_client_auth;
  spec.not_before = clock::now() - backdate;
  spec.not_after = std::min(spec.not_before + (info.not_after - info.not_before), ca_end);
  return spec;
}

// The new key is of the old one's type and size, read from the certificate (its
// public half), so the old key file need not even be readable. It is a new key,
// never the old one again: renewal is when a key that may have leaked stops
// being trusted.
struct key_plan {
  tls::key_kind kind = tls::key_kind::none;
  int bits = 0;
  std::string curve;
  std::string text;  // "RSA 2048-bit", "ECDSA prime256v1"
};

key_plan plan_key(X509* old, const tls::cert_info& info) {
  if (info.key == tls::key_kind::rsa)
    return {info.key, info.key_bits, "", "RSA " + std::to_string(info.key_bits) + "-bit"};
  if (info.key == tls::key_kind::ec) {
    char group[80] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_group_name(X509_get0_pubkey(old), group, sizeof group, &len) != 1)
      throw error("cannot read the curve of its key: " + tls::drain_errors());
    return {info.key, info.key_bits, group, std::string("ECDSA ") + group};
  }
  throw error(std::string("its key is ") + tls::key_kind_name(info.key) + "; pki renew makes RSA and ECDSA keys only");
}

tls::pkey_ptr make_key(const key_plan& plan) {
  return plan.kind == tls::key_kind::rsa ? generate_rsa(plan.bits) : generate_ec(plan.curve);
}

// A field the builder cannot copy (another subject attribute, another extended
// key usage) stops the renewal, rather than change the certificate silently.
std::string first_difference(X509* old_cert, X509* new_cert) {
  const tls::cert_info a = tls::inspect(old_cert);
  const tls::cert_info b = tls::inspect(new_cert);
  if (a.subject != b.subject) return "subject";
  if (a.dns_names != b.dns_names || a.ip_addresses != b.ip_addresses || a.uris != b.uris)
    return "subject alternative names";
  if (a.has_eku != b.has_eku || a.eku_server_auth != b.eku_server_auth || a.eku_client_auth != b.eku_client_auth)
    return "extended key usage";
  if (a.key != b.key || a.key_bits != b.key_bits) return "key type or size";
  return "";
}

file_attributes key_attributes(const fs::path& key_path) {
  if (!file_exists(key_path.string()))
    throw error(key_path.filename().string() + " is missing: renew replaces a certificate and its key together");
  file_attributes attrs = attributes_of(key_path.string());
  attrs.mode &= 0770;  // whatever the old file had, a private key is never for others
  return attrs;
}

// Both files are staged before either is renamed, so the two renames follow each
// other at once. The key goes first. A gateway that reads the pair between the
// renames sees a key that does not match its certificate and refuses the pair
// (keeping the old one and trying again at the next change; reload.watch waits
// for the other file), which either order would give. A crash between them
// decides it: a new key beside the old certificate is renewed again by the next
// run, since that certificate still expires soon; a new certificate beside the
// old key would look renewed and stay broken.
void replace_pair(const fs::path& key_path, const std::string& key_pem, const file_attributes& key_attrs,
                  const fs::path& cert_path, const std::string& cert_pem) {
  staged_file key(key_path.string(), key_pem, key_attrs);
  file_attributes cert_attrs = attributes_of(cert_path.string());
  cert_attrs.mode &= 0777;
  staged_file cert(cert_path.string(), cert_pem, cert_attrs);
  key.commit();
  try {
    cert.commit();
  } catch (const error& e) {
    throw error(std::string(e.what()) + "; " + key_path.filename().string() +
                " is already the new key: run pki renew again once this is fixed");
  }
}

renewal renew_leaf(const fs::path& cert_path, const std::vector<tls::x509_ptr>& chain, const site_ca& ca,
                   bool dry_run) {
  X509* old = chain.front().get();
  const tls::cert_info info = tls::inspect(old);
  const fs::path key_path = fs::path(cert_path).replace_extension(".key");
  const file_attributes key_attrs = key_attributes(key_path);
  const auto ca_end = tls::inspect(ca.chain.front().get()).not_after;
  if (ca_end <= info.not_after)
    throw error("it already runs to the CA's own notAfter, " + tls::format_time(ca_end) +
                ", and cannot outlive it; pki renew does not renew the CA");
  const cert_spec spec = spec_like(old, info, ca_end);
  const key_plan plan = plan_key(old, info);
  renewal out{cert_path.string(), renew_result::renewed, plan.text, info.not_after, spec.not_after};
  if (dry_run) return out;
  const tls::pkey_ptr key = make_key(plan);
  const tls::x509_ptr cert = make_certificate(spec, key.get(), ca.chain.front().get(), ca.key.get());
  if (const std::string what = first_difference(old, cert.get()); !what.empty())
    throw error("the new certificate would differ in its " + what + "; issue it anew with pki issue --force");
  // The file keeps its shape: leaf then CA as `pki issue` writes it, or the leaf alone.
  const std::string cert_pem = to_pem(cert.get()) + (chain.size() > 1 ? ca.pem : "");
  replace_pair(key_path, to_pem(key.get()), key_attrs, cert_path, cert_pem);
  out.new_not_after = tls::inspect(cert.get()).not_after;
  return out;
}

renewal consider(const fs::path& path, const site_ca& ca, const std::vector<revocation>& revoked,
                 const renew_options& opts, clock::time_point now) {
  renewal r;
  r.cert_path = path.string();
  try {
    std::vector<tls::x509_ptr> chain;
    r.reason = not_a_leaf(path, ca, revoked, chain);
    if (!r.reason.empty()) return r;
    r.old_not_after = tls::inspect(chain.front().get()).not_after;
    if (r.old_not_after - now >= opts.within) {
      r.result = renew_result::still_valid;
      return r;
    }
    return renew_leaf(path, chain, ca, opts.dry_run);
  } catch (const std::exception& e) {
    r.result = renew_result::failed;
    r.reason = e.what();
    return r;
  }
}

}  // namespace

renew_report renew(const renew_options& opts) {
  if (opts.dir.empty()) throw error("--dir is required");
  const site_ca ca = load_site_ca(opts.dir);
  const auto revoked = read_revocations(opts.dir);
  const auto now = clock::now();
  renew_report report;
  const auto ca_end = tls::inspect(ca.chain.front().get()).not_after;
  if (ca_end - now < opts.within)
    report.ca_warning = "the CA " + opts.dir + "/ca.pem itself expires " + tls::format_time(ca_end) +
                        ", within the window: pki renew does not renew the CA, and no leaf outlives it; "
                        "plan a new CA (vmsgate pki init)";
  for (const fs::path& path : pem_files(opts.dir)) report.certs.push_back(consider(path, ca, revoked, opts, now));
  return report;
}

}  // namespace vmsgate::pki
