#pragma once
// Host-name matching as browsers apply it (RFC 6125 as narrowed by the CA/Browser
// Forum): a '*' is allowed only as the whole left-most label and stands for exactly
// one label; IP addresses match only IP SANs; the subject CN is consulted only when
// the certificate carries no SAN at all.

#include <optional>
#include <string>
#include <string_view>

#include "proxy/tls/certificate.hpp"

namespace vmsgate::tls {

// The canonical text of an IPv4 or IPv6 literal ("::0001" -> "::1"); nullopt when
// `text` is not an IP address.
std::optional<std::string> canonical_ip(std::string_view text);

// Whether the DNS `pattern` (possibly "*.example.local") covers `host`. Matching
// is case-insensitive and ignores one trailing dot. A wildcard needs at least two
// labels after it ("*.local" covers nothing) and never covers an IP literal.
bool dns_name_matches(std::string_view pattern, std::string_view host);

// Whether the certificate covers `name` (a DNS name or an IP literal) by the rules above.
bool covers(const cert_info& cert, std::string_view name);

// Whether a peer certificate satisfies a role's `peer_names` pattern: one of its DNS
// SANs (or its CN when it has no SAN) equals the pattern or is covered by it.
bool peer_name_matches(const cert_info& cert, std::string_view pattern);

// "DNS:a, DNS:b, IP:10.0.0.1" or "CN a (no SAN)"; the names a certificate does
// cover, for messages that say why a name is not among them.
std::string describe_names(const cert_info& cert);

}  // namespace vmsgate::tls
