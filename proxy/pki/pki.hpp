#pragma once
// The site PKI of `vmsgate pki`: a CA in a directory, and leaf certificates it
// issues that pass a role's default policy.

#include <string>
#include <vector>

#include "proxy/pki/builder.hpp"

namespace vmsgate::pki {

struct init_options {
  std::string dir;
  std::string name = "vmsgate site CA";
  int bits = 3072;
  int days = 3650;
  bool force = false;
};

struct issue_options {
  std::string dir;
  std::string role;
  std::vector<std::string> hosts;
  std::vector<std::string> ips;
  bool client = false;
  int bits = 2048;
  int days = 397;  // the CA/Browser Forum's longest validity, which clients also enforce
  bool force = false;
};

struct issued {
  std::string cert_path;
  std::string key_path;
};

// Writes DIR/ca.pem and DIR/ca.key (0600). Throws pki::error.
issued init_ca(const init_options& opts);

// Writes DIR/NAME.pem (leaf, then the CA) and DIR/NAME.key (0600), NAME being the
// first host (a leading "*." written as "wildcard."). Throws pki::error.
issued issue(const issue_options& opts);

struct revoke_options {
  std::string dir;
  std::string serial;  // upper- or lower-case hex
  std::string cert;    // or the certificate file, whose serial is taken
  int days = 30;       // the new CRL's nextUpdate
};

struct crl_options {
  std::string dir;
  int days = 30;
};

// Records the serial in DIR/revoked.txt (one "SERIAL UNIX-TIME" line each; the
// record the CRL is made from) and writes DIR/crl.pem anew. Revoking a serial
// again changes nothing but the CRL's dates. Returns the CRL's path.
std::string revoke(const revoke_options& opts);

// Writes DIR/crl.pem anew from DIR/revoked.txt (empty when there is none): signed
// by the CA, lastUpdate now, nextUpdate `days` from now, a CRL number one higher
// than the last (DIR/crlnumber). Returns its path.
std::string write_crl(const crl_options& opts);


}  // namespace vmsgate::pki
