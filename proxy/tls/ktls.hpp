#pragma once
// Kernel TLS (the "tls" TCP upper-layer protocol): when the kernel offers it, OpenSSL
// hands it the record keys after the handshake and the kernel encrypts what is written
// to the socket, so the plain side can be spliced into it without passing through
// user space. Decided once per process at start-up; every route and connection then
// says which path it took.

#include <string>

namespace vmsgate::tls {

struct ktls_support {
  bool available = false;
  std::string detail;  // why not, or what was found
};

// Probes once (a loopback TCP connection that asks for the "tls" ULP) and remembers.
const ktls_support& kernel_tls();

// The probe itself, for tests: asks a fresh connected loopback socket for the ULP.
ktls_support probe_kernel_tls();

}  // namespace vmsgate::tls
