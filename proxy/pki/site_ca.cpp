#include "proxy/pki/site_ca.hpp"

#include <sstream>

#include "proxy/pki/builder.hpp"
#include "proxy/pki/files.hpp"
#include "proxy/tls/certificate.hpp"

namespace vmsgate::pki {

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

std::vector<revocation> read_revocations(const std::string& dir) {
  std::vector<revocation> out;
  const std::string path = dir + "/revoked.txt";
  if (!file_exists(path)) return out;
  std::istringstream in(read_file(path));
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    revocation r;
    if (fields >> r.serial >> r.when) out.push_back(r);
  }
  return out;
}

}  // namespace vmsgate::pki
