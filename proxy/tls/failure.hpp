#pragma once
// Why a TLS handshake was refused, in the words of CONTRACT.md's metric labels, and
// the one pure function that decides it.

#include <array>
#include <cstddef>
#include <string_view>

namespace vmsgate::tls {

enum class failure_reason : std::size_t {
  timeout,
  protocol,
  unknown_ca,
  bad_certificate,
  expired,
  name_mismatch,
  peer_not_allowed,
  no_certificate,
  other,
  revoked,
};
inline constexpr std::size_t failure_reason_count = 10;

inline constexpr std::array<std::string_view, failure_reason_count> failure_reason_names{
    "timeout", "protocol", "unknown_ca", "bad_certificate", "expired",
    "name_mismatch", "peer_not_allowed", "no_certificate", "other", "revoked"};

constexpr std::string_view name(failure_reason r) { return failure_reason_names[static_cast<std::size_t>(r)]; }

// What is known about a failed handshake when it failed, gathered by the session.
struct failure_facts {
  bool timed_out = false;
  long verify_result = 0;      // SSL_get_verify_result (X509_V_OK = 0)
  bool peer_check_refused = false;  // our own role check (peer_names, usage) said no
  int lib = 0;                 // ERR_GET_LIB of the first queued error, 0 if none
  int reason = 0;              // ERR_GET_REASON of it
  int alert_received = -1;     // TLS alert description the peer sent, -1 if none
  bool connection_closed = false;  // the peer closed or reset before finishing
};

failure_reason classify(const failure_facts& f);

}  // namespace vmsgate::tls
