#include "tests/support/client_pki.hpp"

#include <fstream>

#include "proxy/pki/builder.hpp"
#include "tests/support/gateway.hpp"

namespace vmsgate::test {

client_pki make_client_pki(const std::filesystem::path& dir, std::chrono::system_clock::time_point not_after,
                           EVP_PKEY* key) {
  using namespace std::chrono_literals;
  const auto now = std::chrono::system_clock::now();
  const tls::pkey_ptr ca_key = pki::generate_rsa(2048);
  pki::cert_spec ca;
  ca.common_name = "management test CA";
  ca.ca = true;
  ca.not_before = now - 24h;
  ca.not_after = now + 24h;
  const tls::x509_ptr ca_cert = pki::make_certificate(ca, ca_key.get(), nullptr, ca_key.get());
  tls::pkey_ptr own;
  if (key == nullptr) {
    own = pki::generate_rsa(2048);
    key = own.get();
  }
  pki::cert_spec leaf;
  leaf.common_name = "mgmt01.example.local";
  leaf.org_unit = "management";
  leaf.dns_names = {"mgmt01.example.local"};
  leaf.not_before = now - 1h;
  leaf.not_after = not_after;
  leaf.server_auth = false;
  leaf.client_auth = true;
  const tls::x509_ptr cert = pki::make_certificate(leaf, key, ca_cert.get(), ca_key.get());
  client_pki out{(dir / "mgmt-ca.pem").string(), (dir / "mgmt01.pem").string(), (dir / "mgmt01.key").string()};
  std::ofstream(out.ca) << pki::to_pem(ca_cert.get());
  std::ofstream(out.cert) << pki::to_pem(cert.get());
  std::ofstream(out.key) << pki::to_pem(key);
  return out;
}

std::string mutual_tls_config(const std::string& backend, const client_pki& client, const std::string& top,
                              const std::string& management) {
  const test_pki& pki = shared_pki();
  return "admin:\n  listen: \"127.0.0.1:0\"\nworkers: 1\n" + top +
         "roles:\n"
         "  recording:\n    ca: " + pki.ca.string() + "\n"
         "  management:\n    ca: " + client.ca + "\n" + management +
         "routes:\n"
         "  - name: strict\n"
         "    role: recording\n"
         "    listen: \"127.0.0.1:0\"\n"
         "    server_names: [rec01.example.local]\n"
         "    cert: " + pki.rec01_cert.string() + "\n"
         "    key: " + pki.rec01_key.string() + "\n"
         "    client_auth: required\n"
         "    peer_roles: [management]\n"
         "    backends: [\"" + backend + "\"]\n";
}

}  // namespace vmsgate::test
