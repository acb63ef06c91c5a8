// `pki renew`: what it renews and how (names, usage, key, modes, in place), what
// it leaves alone, and that a renewal that cannot write changes nothing.

#include "tests/pki/helpers.hpp"
#include "proxy/pki/renew.hpp"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <filesystem>

#include "proxy/pki/command.hpp"
#include "proxy/pki/files.hpp"
#include "proxy/pki/pki.hpp"
#include "proxy/tls/certificate.hpp"
#include "tests/tls/fixtures.hpp"

namespace vmsgate::pki {
namespace {

using namespace std::chrono_literals;

using test_helpers::mode_of;
using test_helpers::shell;

tls::cert_info info_of(const std::string& path, std::size_t* count = nullptr) {
  std::string why;
  const auto chain = tls::load_certificates(path, why);
  EXPECT_FALSE(chain.empty()) << path << ": " << why;
  if (count != nullptr) *count = chain.size();
  return chain.empty() ? tls::cert_info{} : tls::inspect(chain.front().get());
}

const renewal& entry(const renew_report& report, const std::string& path) {
  for (const auto& r : report.certs)
    if (r.cert_path == path) return r;
  ADD_FAILURE() << "no line for " << path;
  static const renewal none;
  return none;
}

// A leaf that has run 10 of its 12 days: a validity length renew must keep.
cert_spec short_lived(const std::string& host) {
  cert_spec spec;
  spec.common_name = host;
  spec.org_unit = "recording";
  spec.dns_names = {host, "rec01"};
  spec.ip_addresses = {"10.0.0.5", "::1"};
  spec.uris = {"urn:vmsgate:role:recording"};
  spec.client_auth = true;
  spec.not_before = clock::now() - 24h * 10;
  spec.not_after = clock::now() + 24h * 2;
  return spec;
}

class Renew : public ::testing::Test {
 protected:
  void SetUp() override {
    init_options o;
    o.dir = dir_.path();
    o.bits = 2048;
    init_ca(o);
    std::string why;
    ca_cert_ = std::move(tls::load_certificates(dir_.file("ca.pem"), why).front());
    ca_key_ = tls::load_private_key(dir_.file("ca.key"), why);
  }

  // DIR/NAME.pem (the leaf, then the CA) and DIR/NAME.key, as `pki issue` writes them.
  std::string write_leaf(const std::string& name, const cert_spec& spec, EVP_PKEY* key, mode_t key_mode = 0600) {
    const auto cert = make_certificate(spec, key, ca_cert_.get(), ca_key_.get());
    dir_.write(name + ".key", to_pem(key), key_mode);
    return dir_.write(name + ".pem", to_pem(cert.get()) + read_file(dir_.file("ca.pem")), 0644);
  }

  renew_report run(std::chrono::seconds within = 24h * 30) {
    renew_options o;
    o.dir = dir_.path();
    o.within = within;
    return renew(o);
  }

  void expect_no_temporary_files() {
    for (const auto& e : std::filesystem::directory_iterator(dir_.path()))
      EXPECT_EQ(e.path().filename().string().find(".tmp-"), std::string::npos) << e.path();
  }

  std::pair<int, std::string> verify(const std::string& cert, const std::string& options) {
    return shell("openssl verify -CAfile " + dir_.file("ca.pem") + " " + options + " " + cert);
  }

  test::temp_dir dir_;
  tls::x509_ptr ca_cert_;
  tls::pkey_ptr ca_key_;
};

TEST_F(Renew, ALeafNearItsEndGetsTheSameNamesAndUsageWithANewKey) {
  const auto old_key = generate_rsa(2048);
  const std::string pem = write_leaf("rec01.example.local", short_lived("rec01.example.local"), old_key.get());
  const std::string key_path = dir_.file("rec01.example.local.key");
  const std::string old_key_pem = read_file(key_path);
  const tls::cert_info before = info_of(pem);

  const renew_report report = run();
  EXPECT_TRUE(report.ok());
  EXPECT_EQ(report.ca_warning, "");
  const renewal& line = entry(report, pem);
  ASSERT_EQ(line.result, renew_result::renewed) << line.reason;
  EXPECT_EQ(line.reason, "RSA 2048-bit");

  std::size_t count = 0;
  const tls::cert_info after = info_of(pem, &count);
  EXPECT_EQ(count, 2u) << "leaf then the CA, as before";
  EXPECT_EQ(line.new_not_after, after.not_after);
  // The same 12-day length, from now: 10 days later than before.
  EXPECT_GT(after.not_after, before.not_after + 24h * 9);
  EXPECT_LT(after.not_after, clock::now() + 24h * 12 + 1h);
  EXPECT_EQ(after.subject, "CN=rec01.example.local,OU=recording");
  EXPECT_EQ(after.subject, before.subject);
  EXPECT_EQ(after.dns_names, before.dns_names);
  EXPECT_EQ(after.ip_addresses, before.ip_addresses);
  EXPECT_EQ(after.uris, std::vector<std::string>{"urn:vmsgate:role:recording"});
  EXPECT_TRUE(after.eku_server_auth);
  EXPECT_TRUE(after.eku_client_auth);
  EXPECT_EQ(after.key, tls::key_kind::rsa);
  EXPECT_EQ(after.key_bits, 2048);
  EXPECT_NE(after.serial, before.serial);

  EXPECT_NE(read_file(key_path), old_key_pem);
  EXPECT_EQ(mode_of(key_path), 0600u);
  EXPECT_EQ(mode_of(pem), 0644u);
  std::string why;
  const auto key = tls::load_private_key(key_path, why);
  ASSERT_TRUE(key) << why;
  EXPECT_EQ(X509_check_private_key(tls::load_certificates(pem, why).front().get(), key.get()), 1);
  for (const char* options : {"-purpose sslserver -verify_hostname rec01.example.local", "-purpose sslclient"}) {
    const auto [rc, out] = verify(pem, options);
    EXPECT_EQ(rc, 0) << options << ": " << out;
  }
  expect_no_temporary_files();
}

TEST_F(Renew, AnEcdsaLeafGetsAnEcdsaKeyAndKeepsItsFileModesAndOwner) {
  const auto old_key = generate_ec("P-384");
  cert_spec spec = short_lived("ec.example.local");
  spec.client_auth = false;
  const std::string pem = write_leaf("ec.example.local", spec, old_key.get(), 0400);
  const std::string key_path = dir_.file("ec.example.local.key");
  ASSERT_EQ(::chmod(pem.c_str(), 0640), 0);
  // As root, the files keep their owner too (the gateway's user, say).
  const bool root = ::geteuid() == 0;
  if (root) {
    ASSERT_EQ(::chown(key_path.c_str(), 4242, 4243), 0);
  }
  const renewal line = entry(run(), pem);
  ASSERT_EQ(line.result, renew_result::renewed) << line.reason;
  EXPECT_EQ(line.reason, "ECDSA secp384r1");
  const tls::cert_info after = info_of(pem);
  EXPECT_EQ(after.key, tls::key_kind::ec);
  EXPECT_EQ(after.key_bits, 384);
  EXPECT_TRUE(after.eku_server_auth);
  EXPECT_FALSE(after.eku_client_auth);
  EXPECT_EQ(mode_of(key_path), 0400u);
  EXPECT_EQ(mode_of(pem), 0640u);
  struct stat st {};
  ASSERT_EQ(::stat(key_path.c_str(), &st), 0);
  const uid_t want_uid = root ? 4242 : ::geteuid();
  const gid_t want_gid = root ? 4243 : st.st_gid;
  EXPECT_EQ(st.st_uid, want_uid);
  EXPECT_EQ(st.st_gid, want_gid);
}

TEST_F(Renew, ALeafFarFromItsEndIsLeftByteForByte) {
  issue_options o;
  o.dir = dir_.path();
  o.role = "recording";
  o.hosts = {"far.example.local"};
  const issued out = issue(o);
  const std::string cert = read_file(out.cert_path);
  const std::string key = read_file(out.key_path);
  const renewal line = entry(run(), out.cert_path);
  EXPECT_EQ(line.result, renew_result::still_valid);
  EXPECT_EQ(read_file(out.cert_path), cert);
  EXPECT_EQ(read_file(out.key_path), key);
  // The window decides: a year's window takes it.
  EXPECT_EQ(entry(run(24h * 400), out.cert_path).result, renew_result::renewed);
  EXPECT_NE(read_file(out.cert_path), cert);
}

TEST_F(Renew, ForeignCertificatesCrlsAndRevokedLeavesAreSkipped) {
  const test::issuer other = test::make_ca("another CA");
  const auto key = generate_rsa(2048);
  const auto foreign =
      make_certificate(short_lived("foreign.example.local"), key.get(), other.cert.get(), other.key.get());
  const std::string foreign_pem = dir_.write("foreign.example.local.pem", to_pem(foreign.get()), 0644);
  dir_.write("foreign.example.local.key", to_pem(key.get()));
  const std::string other_ca = dir_.write("other-ca.pem", to_pem(other.cert.get()), 0644);
  const std::string crl = write_crl({dir_.path(), 30});
  const std::string revoked_pem = write_leaf("revoked.example.local", short_lived("revoked.example.local"), key.get());
  revoke_options r;
  r.dir = dir_.path();
  r.cert = revoked_pem;
  revoke(r);
  const std::string foreign_bytes = read_file(foreign_pem);
  const std::string revoked_bytes = read_file(revoked_pem);

  const renew_report report = run();
  EXPECT_TRUE(report.ok());
  ASSERT_EQ(report.certs.size(), 4u) << "ca.pem is not a candidate";
  const renewal& f = entry(report, foreign_pem);
  EXPECT_EQ(f.result, renew_result::skipped);
  EXPECT_NE(f.reason.find("issued by CN=another CA, not by this directory's CA"), std::string::npos) << f.reason;
  EXPECT_EQ(entry(report, other_ca).reason, "a CA certificate, not a leaf");
  EXPECT_EQ(entry(report, crl).reason, "a CRL, not a certificate");
  EXPECT_NE(entry(report, revoked_pem).reason.find("revoked"), std::string::npos);
  EXPECT_EQ(read_file(foreign_pem), foreign_bytes);
  EXPECT_EQ(read_file(revoked_pem), revoked_bytes);
}

TEST_F(Renew, ARenewalThatCannotWriteFailsAndLeavesTheOldPair) {
  const auto key = generate_rsa(2048);
  const std::string pem = write_leaf("rec01.example.local", short_lived("rec01.example.local"), key.get());
  const std::string key_path = dir_.file("rec01.example.local.key");
  const std::string cert_bytes = read_file(pem);
  const std::string key_bytes = read_file(key_path);

  // Writes fail past 512 bytes, for root too: the new key (1.7 KB of PEM) cannot
  // be written, so neither file may change.
  rlimit saved{};
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &saved), 0);
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  rlimit small = saved;
  small.rlim_cur = 512;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &small), 0);
  const renew_report report = run();
  ::setrlimit(RLIMIT_FSIZE, &saved);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_FALSE(report.ok());
  const renewal& line = entry(report, pem);
  EXPECT_EQ(line.result, renew_result::failed);
  EXPECT_NE(line.reason.find("cannot write"), std::string::npos) << line.reason;
  EXPECT_EQ(read_file(pem), cert_bytes);
  EXPECT_EQ(read_file(key_path), key_bytes);
  expect_no_temporary_files();

  // The key's path is a directory: refused before anything is written.
  ASSERT_EQ(std::remove(key_path.c_str()), 0);
  ASSERT_TRUE(std::filesystem::create_directory(key_path));
  const renewal dir_line = entry(run(), pem);
  EXPECT_EQ(dir_line.result, renew_result::failed);
  EXPECT_NE(dir_line.reason.find("not a regular file"), std::string::npos) << dir_line.reason;
  EXPECT_EQ(read_file(pem), cert_bytes);
  ASSERT_TRUE(std::filesystem::remove(key_path));

  // A directory this user may not write (root may write anywhere).
  dir_.write("rec01.example.local.key", key_bytes);
  if (::geteuid() != 0) {
    ASSERT_EQ(::chmod(dir_.path().c_str(), 0500), 0);
    const renewal ro = entry(run(), pem);
    ::chmod(dir_.path().c_str(), 0700);
    EXPECT_EQ(ro.result, renew_result::failed);
    EXPECT_EQ(read_file(pem), cert_bytes);
    EXPECT_EQ(read_file(key_path), key_bytes);
  }
  // A leaf without its key is a failure too: it needed renewal and did not get it.
  ASSERT_EQ(std::remove(key_path.c_str()), 0);
  const renewal lone = entry(run(), pem);
  EXPECT_EQ(lone.result, renew_result::failed);
  EXPECT_NE(lone.reason.find("is missing"), std::string::npos) << lone.reason;
}

TEST_F(Renew, DryRunWritesNothing) {
  const auto key = generate_rsa(2048);
  const std::string pem = write_leaf("rec01.example.local", short_lived("rec01.example.local"), key.get());
  const std::string bytes = read_file(pem);
  renew_options o;
  o.dir = dir_.path();
  o.dry_run = true;
  const renewal line = entry(renew(o), pem);
  EXPECT_EQ(line.result, renew_result::renewed);
  EXPECT_GT(line.new_not_after, line.old_not_after + 24h * 9);
  EXPECT_EQ(read_file(pem), bytes);
}

TEST(RenewCa, ACaNearItsEndIsWarnedOfAndItsLeavesCannotOutliveIt) {
  test::temp_dir dir;
  init_options ca;
  ca.dir = dir.path();
  ca.bits = 2048;
  ca.days = 10;
  init_ca(ca);
  issue_options o;
  o.dir = dir.path();
  o.role = "recording";
  o.hosts = {"capped.example.local"};
  const issued out = issue(o);  // capped at the CA's notAfter
  const std::string bytes = read_file(out.cert_path);
  renew_options r;
  r.dir = dir.path();
  const renew_report report = renew(r);
  EXPECT_NE(report.ca_warning.find("does not renew the CA"), std::string::npos) << report.ca_warning;
  const renewal& line = entry(report, out.cert_path);
  EXPECT_EQ(line.result, renew_result::failed);
  EXPECT_NE(line.reason.find("cannot outlive it"), std::string::npos) << line.reason;
  EXPECT_EQ(read_file(out.cert_path), bytes);
  // With no leaf due, the warning alone is no failure.
  r.within = 24h;
  const renew_report quiet = renew(r);
  EXPECT_TRUE(quiet.ok());
  EXPECT_EQ(quiet.ca_warning, "");
}

TEST(RenewWithin, ANumberAndAUnit) {
  EXPECT_EQ(parse_within("30d"), std::chrono::seconds(30 * 86400));
  EXPECT_EQ(parse_within("12h"), std::chrono::seconds(12 * 3600));
  EXPECT_EQ(parse_within("90m"), std::chrono::seconds(90 * 60));
  EXPECT_EQ(parse_within("0s"), std::chrono::seconds(0));
  EXPECT_EQ(parse_within("36500d"), std::chrono::seconds(36500LL * 86400));
  for (const char* bad : {"", "30", "d", "30x", "-1d", "1.5d", "30 d", "30dd", "36501d", "99999999999d"})
    EXPECT_EQ(parse_within(bad), std::nullopt) << bad;
}

}  // namespace
}  // namespace vmsgate::pki
