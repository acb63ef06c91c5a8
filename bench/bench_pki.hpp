#pragma once
// A throwaway CA and RSA-2048 server leaf for bench.local, made in-process with the
// proxy/pki code once per benchmark binary and written to a temporary directory
// (the policy engine's file checks read paths). Shared by policy_bench and pump_bench.

#include <chrono>
#include <string>

#include "proxy/tls/openssl.hpp"

namespace vmsgate::bench {

struct test_pki {
  std::string dir, ca_path, cert_path, key_path;
  tls::x509_ptr ca, leaf;
  tls::pkey_ptr ca_key, leaf_key;
};

// Made on first use; the directory is removed at exit.
const test_pki& pki();

}  // namespace vmsgate::bench
