#pragma once
// In-process certificates for policy tests: a CA and leaves that break one rule
// each, written to a temporary directory that the fixture removes.

#include <sys/stat.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/pki/builder.hpp"

namespace vmsgate::test {

using namespace std::chrono_literals;
using sys_clock = std::chrono::system_clock;

class temp_dir {
 public:
  temp_dir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "vmsgate-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

  // Writes `data` to NAME with `mode` and returns the full path.
  std::string write(const std::string& name, const std::string& data, mode_t mode = 0600) const {
    const std::string p = file(name);
    std::ofstream(p, std::ios::binary | std::ios::trunc) << data;
    ::chmod(p.c_str(), mode);
    return p;
  }

 private:
  std::string path_;
};

// A signing pair; RSA 2048 keeps key generation quick.
struct issuer {
  tls::pkey_ptr key;
  tls::x509_ptr cert;
};

inline issuer make_ca(const std::string& name, sys_clock::time_point not_after = sys_clock::now() + 3650 * 24h,
                      sys_clock::time_point not_before = sys_clock::now() - 24h) {
  issuer ca;
  ca.key = pki::generate_rsa(2048);
  pki::cert_spec spec;
  spec.common_name = name;
  spec.ca = true;
  spec.not_before = not_before;
  spec.not_after = not_after;
  ca.cert = pki::make_certificate(spec, ca.key.get(), nullptr, ca.key.get());
  return ca;
}

// A valid server leaf for rec01.example.local; tests change one field.
inline pki::cert_spec server_spec() {
  pki::cert_spec spec;
  spec.common_name = "rec01.example.local";
  spec.org_unit = "recording";
  spec.dns_names = {"rec01.example.local"};
  spec.not_before = sys_clock::now() - 24h;
  spec.not_after = sys_clock::now() + 365 * 24h;
  return spec;
}

}  // namespace vmsgate::test
