#pragma once
// `pki renew`: re-issues the leaf certificates of a pki directory that expire
// soon, in place, with the same names, role and usage and a new key.

#include <chrono>
#include <string>
#include <vector>

#include "proxy/pki/builder.hpp"

namespace vmsgate::pki {

struct renew_options {
  std::string dir;
  std::chrono::seconds within = std::chrono::hours(24 * 30);
  bool dry_run = false;  // report what would be renewed, write nothing
};

enum class renew_result { renewed, still_valid, skipped, failed };

struct renewal {
  std::string cert_path;  // DIR/NAME.pem
  renew_result result = renew_result::skipped;
  std::string reason;  // skipped and failed: why; renewed: the new key, e.g. "RSA 2048-bit"
  clock::time_point old_not_after{};
  clock::time_point new_not_after{};  // renewed only
};

struct renew_report {
  std::vector<renewal> certs;  // by file name
  std::string ca_warning;      // set when the CA itself expires within the window
  bool ok() const;             // no certificate failed
};

// Looks at every DIR/*.pem but ca.pem. A leaf of DIR's CA whose notAfter is less
// than `within` away (or past) gets a new key of the same type and size, written
// over DIR/NAME.key, and a new certificate with the same subject, SANs and key
// usage, the same validity length (capped at the CA's notAfter) and a new serial,
// written over DIR/NAME.pem; each file replaced atomically, keeping its mode, and
// its owner when run as root. Files that are not leaves of this CA, and revoked
// leaves, are skipped. One leaf's failure does not stop the others. Throws
// pki::error only when DIR's CA cannot be loaded or DIR cannot be listed.
renew_report renew(const renew_options& opts);

}  // namespace vmsgate::pki
