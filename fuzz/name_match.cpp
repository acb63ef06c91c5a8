// The host-name matcher (also the SNI check of server contexts) on arbitrary names. Input: a pattern, a
// NUL or newline, then names one per line; each name is matched against the pattern
// and the lot is put into a certificate's facts for covers() and peer_name_matches().

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/tls/name_match.hpp"

namespace {

std::vector<std::string_view> split_lines(std::string_view s) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto at = s.find_first_of(std::string_view("\n\0", 2));
    out.push_back(s.substr(0, at));
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace vmsgate::tls;
  const auto lines = split_lines(std::string_view(reinterpret_cast<const char*>(data), size));
  if (lines.empty()) return 0;
  const std::string_view pattern = lines.front();
  cert_info info;
  info.common_name = std::string(pattern);
  // A few dozen names reach every branch; thousands would only make each run quadratic.
  for (std::size_t i = 1; i < lines.size() && i <= 64; ++i) {
    const std::string_view name = lines[i];
    (void)dns_name_matches(pattern, name);
    if (const auto ip = canonical_ip(name)) {
      // Canonical text is a fixed point: canonicalising it again changes nothing.
      if (canonical_ip(*ip) != ip) __builtin_trap();
      info.ip_addresses.push_back(*ip);
    } else {
      info.dns_names.emplace_back(name);
    }
    (void)covers(info, name);
    (void)peer_name_matches(info, name);
  }
  (void)covers(info, pattern);
  (void)peer_name_matches(info, pattern);
  (void)describe_names(info);
  return 0;
}
