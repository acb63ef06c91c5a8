#pragma once
// The site CA of a pki directory as the subcommands that sign with it load it.

#include <chrono>
#include <string>
#include <vector>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::pki {

// Leaves are back-dated a little so that a client whose clock runs slightly
// behind does not see a certificate that is "not yet valid".
inline constexpr auto backdate = std::chrono::minutes(5);

struct site_ca {
  std::vector<tls::x509_ptr> chain;  // DIR/ca.pem, the CA first
  tls::pkey_ptr key;                 // DIR/ca.key, checked to match
  std::string pem;                   // DIR/ca.pem as written
};

// Throws pki::error, saying how to make a CA when DIR has none.
site_ca load_site_ca(const std::string& dir);

struct revocation {
  std::string serial;  // upper-case hex
  long long when = 0;  // Unix time
};

// DIR/revoked.txt, one "SERIAL UNIX-TIME" line each (empty when there is none):
// the record `pki revoke` keeps and the CRL is made from.
std::vector<revocation> read_revocations(const std::string& dir);

}  // namespace vmsgate::pki
