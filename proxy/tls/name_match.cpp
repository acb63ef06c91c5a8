#include "proxy/tls/name_match.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>

namespace vmsgate::tls {

namespace {

std::string normalise(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  std::string out(name);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool has_san(const cert_info& cert) { return !cert.dns_names.empty() || !cert.ip_addresses.empty(); }

}  // namespace

std::optional<std::string> canonical_ip(std::string_view text) {
  const std::string s(text);
  unsigned char bytes[16];
  char buf[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, s.c_str(), bytes) == 1) return std::string(inet_ntop(AF_INET, bytes, buf, sizeof buf));
  if (inet_pton(AF_INET6, s.c_str(), bytes) == 1) return std::string(inet_ntop(AF_INET6, bytes, buf, sizeof buf));
  return std::nullopt;
}

bool dns_name_matches(std::string_view pattern_in, std::string_view host_in) {
  const std::string pattern = normalise(pattern_in);
  const std::string host = normalise(host_in);
  if (pattern.empty() || host.empty() || canonical_ip(host)) return false;
  if (host.find('*') != std::string::npos) return false;
  if (pattern.find('*') == std::string::npos) return pattern == host;
  // Only "*.rest" with no further '*', and "rest" needs two labels so that a
  // wildcard never spans a whole top-level domain.
  if (pattern.size() < 3 || pattern[0] != '*' || pattern[1] != '.') return false;
  const std::string_view rest = std::string_view(pattern).substr(2);
  if (rest.find('*') != std::string_view::npos || rest.find('.') == std::string_view::npos) return false;
  const auto dot = host.find('.');
  if (dot == std::string::npos || dot == 0) return false;
  return std::string_view(host).substr(dot + 1) == rest;
}

bool covers(const cert_info& cert, std::string_view name) {
  if (const auto ip = canonical_ip(name)) {
    if (has_san(cert)) return std::find(cert.ip_addresses.begin(), cert.ip_addresses.end(), *ip) != cert.ip_addresses.end();
    return canonical_ip(cert.common_name) == ip;
  }
  if (!has_san(cert)) return dns_name_matches(cert.common_name, name);
  return std::any_of(cert.dns_names.begin(), cert.dns_names.end(),
                     [&](const std::string& san) { return dns_name_matches(san, name); });
}

bool peer_name_matches(const cert_info& cert, std::string_view pattern) {
  const std::string want = normalise(pattern);
  const auto match = [&](const std::string& name) {
    return !name.empty() && (normalise(name) == want || dns_name_matches(want, name));
  };
  if (!has_san(cert)) return match(cert.common_name);
  return std::any_of(cert.dns_names.begin(), cert.dns_names.end(), match);
}

std::string describe_names(const cert_info& cert) {
  if (!has_san(cert)) {
    return cert.common_name.empty() ? std::string("no SAN and no CN") : "no SAN, only CN " + cert.common_name;
  }
  std::string out;
  const auto add = [&out](const char* kind, const std::string& v) {
    if (!out.empty()) out += ", ";
    out += kind;
    out += v;
  };
  for (const auto& d : cert.dns_names) add("", d);
  for (const auto& ip : cert.ip_addresses) add("IP ", ip);
  return "its SAN lists " + out;
}

}  // namespace vmsgate::tls
