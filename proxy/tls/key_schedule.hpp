#pragma once
// Record keys from secrets: TLS 1.3's HKDF-Expand-Label (RFC 8446 section 7.1) and
// TLS 1.2's key block (RFC 5246 section 6.3), for the suites of record_suites.hpp.

#include <cstddef>
#include <span>
#include <string_view>

#include "proxy/tls/record_suites.hpp"

namespace vmsgate::tls {

// HKDF-Expand-Label(secret, label, "", n) with the suite's hash. Runs on a context
// kept per thread and hash, its secret wiped after each call.
bool expand_label(const record_suite& suite, std::span<const unsigned char> secret, std::string_view label,
                  unsigned char* out, std::size_t n) noexcept;

// What a TLS 1.2 session's record keys come from.
struct tls12_secrets {
  std::span<const unsigned char> master;
  std::span<const unsigned char> client_random;
  std::span<const unsigned char> server_random;
};
// PRF(master secret, "key expansion", server random + client random), n bytes.
bool tls12_key_block(const record_suite& suite, const tls12_secrets& s, unsigned char* out, std::size_t n) noexcept;

}  // namespace vmsgate::tls
