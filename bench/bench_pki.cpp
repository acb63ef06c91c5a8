#include "bench/bench_pki.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "proxy/pki/builder.hpp"

namespace vmsgate::bench {

namespace {

void write_file(const std::string& path, const std::string& text, mode_t mode) {
  std::ofstream(path) << text;
  chmod(path.c_str(), mode);
}

struct owner {
  test_pki p;
  owner() {
    char tmpl[] = "/tmp/vmsgate-bench-pki.XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    p.dir = tmpl;
    const auto now = pki::clock::now();
    pki::cert_spec ca_spec;
    ca_spec.common_name = "bench CA";
    ca_spec.ca = true;
    ca_spec.not_before = now - std::chrono::hours(1);
    ca_spec.not_after = now + std::chrono::hours(24 * 400);
    p.ca_key = pki::generate_rsa(2048);
    p.ca = pki::make_certificate(ca_spec, p.ca_key.get(), nullptr, p.ca_key.get());
    pki::cert_spec leaf_spec;
    leaf_spec.common_name = "bench.local";
    leaf_spec.org_unit = "bench";
    leaf_spec.dns_names = {"bench.local"};
    leaf_spec.not_before = ca_spec.not_before;
    leaf_spec.not_after = ca_spec.not_after;
    p.leaf_key = pki::generate_rsa(2048);
    p.leaf = pki::make_certificate(leaf_spec, p.leaf_key.get(), p.ca.get(), p.ca_key.get());
    p.ca_path = p.dir + "/ca.pem";
    p.cert_path = p.dir + "/leaf.pem";
    p.key_path = p.dir + "/leaf.key";
    write_file(p.ca_path, pki::to_pem(p.ca.get()), 0644);
    write_file(p.cert_path, pki::to_pem(p.leaf.get()), 0644);
    write_file(p.key_path, pki::to_pem(p.leaf_key.get()), 0600);
  }
  ~owner() {
    std::error_code ec;
    std::filesystem::remove_all(p.dir, ec);
  }
};

}  // namespace

const test_pki& pki() {
  static owner o;
  return o.p;
}

}  // namespace vmsgate::bench
