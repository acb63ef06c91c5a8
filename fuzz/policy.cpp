// The policy engine fed arbitrary PEM or DER: certificate inspection, then every
// check a route's own certificate and a peer's certificate go through. The input's
// own certificates also serve as the CA bundle, so that chain verification runs on
// self-consistent inputs too. The clock is fixed so that a crash reproduces.

#include <openssl/pem.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "proxy/tls/name_match.hpp"
#include "proxy/tls/policy.hpp"

namespace {

using namespace vmsgate::tls;

std::vector<x509_ptr> read_pem_certs(const std::uint8_t* data, std::size_t size) {
  std::vector<x509_ptr> out;
  bio_ptr bio(BIO_new_mem_buf(data, static_cast<int>(size)));
  while (out.size() < 8) {
    x509_ptr c(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!c) break;
    out.push_back(std::move(c));
  }
  return out;
}

// Concatenated DER certificates, as a chain in DER would arrive.
std::vector<x509_ptr> read_der_certs(const std::uint8_t* data, std::size_t size) {
  std::vector<x509_ptr> out;
  const unsigned char* p = data;
  const unsigned char* end = data + size;
  while (p < end && out.size() < 8) {
    x509_ptr c(d2i_X509(nullptr, &p, static_cast<long>(end - p)));
    if (!c) break;
    out.push_back(std::move(c));
  }
  return out;
}

pkey_ptr read_key(const std::uint8_t* data, std::size_t size) {
  bio_ptr bio(BIO_new_mem_buf(data, static_cast<int>(size)));
  pkey_ptr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (key) return key;
  const unsigned char* p = data;
  return pkey_ptr(d2i_AutoPrivateKey(nullptr, &p, static_cast<long>(size)));
}

std::vector<x509_ptr> copies(const std::vector<x509_ptr>& certs) {
  std::vector<x509_ptr> out;
  for (const auto& c : certs) {
    X509_up_ref(c.get());
    out.emplace_back(c.get());
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  auto certs = read_pem_certs(data, size);
  if (certs.empty()) certs = read_der_certs(data, size);
  pkey_ptr key = read_key(data, size);
  drain_errors();
  if (certs.empty()) return 0;

  // 2026-01-01T00:00:00Z: fixed, so a finding depends on the input only.
  const clock::time_point now{std::chrono::seconds(1767225600)};
  role_policy role;
  role.name = "recording";
  role.ca_path = "fuzz-ca.pem";
  role.peer_names = {"*.example.local", "mgmt01.example.local"};
  ca_bundle ca{"fuzz-ca.pem", copies(certs), ""};
  for (const auto& c : certs) {
    const cert_info info = inspect(c.get());
    (void)covers(info, "rec01.example.local");
    (void)covers(info, "127.0.0.1");
    (void)describe_names(info);
    (void)check_peer(role, c.get(), usage::server, now);
    (void)check_peer(role, c.get(), usage::client, now);
  }
  (void)check_ca(role, ca, now);
  for (const usage use : {usage::server, usage::client}) {
    own_certificate own;
    own.route = "fuzz";
    own.usage = use;
    own.server_names = {"rec01.example.local", "127.0.0.1"};
    own.cert = cert_file{"fuzz.pem", copies(certs), ""};
    own.key = key_file{"fuzz.key", nullptr, key ? "" : "no key", 0600};
    if (key) {
      EVP_PKEY_up_ref(key.get());
      own.key.key.reset(key.get());
    }
    (void)check_own(role, ca, own, now);
  }
  drain_errors();
  return 0;
}
