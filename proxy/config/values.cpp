// The scalar value syntaxes of the configuration: durations, endpoints and hosts.
// They take text and return values so that they are tested without any YAML.

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <limits>

#include "proxy/common/host_port.hpp"
#include "proxy/config/config.hpp"
#include "proxy/config/detail.hpp"

namespace vmsgate::config {
namespace {

bool is_digits(std::string_view text) {
  return !text.empty() && std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_ipv4(std::string_view text) {
  in_addr addr{};
  return inet_pton(AF_INET, std::string(text).c_str(), &addr) == 1;
}

bool is_ipv6(std::string_view text) {
  in6_addr addr{};
  return inet_pton(AF_INET6, std::string(text).c_str(), &addr) == 1;
}

bool is_label_char(char c) {
  // Underscores are not legal in host names, but Windows sites do use them in
  // internal DNS, and refusing them would only push operators to IP literals.
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool is_dns_name(std::string_view name) {
  if (!name.empty() && name.back() == '.') name.remove_suffix(1);
  if (name.empty() || name.size() > 253) return false;
  std::string_view last;
  while (!name.empty()) {
    const auto dot = name.find('.');
    const std::string_view label = name.substr(0, dot);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    if (!std::all_of(label.begin(), label.end(), is_label_char)) return false;
    last = label;
    name = dot == std::string_view::npos ? std::string_view{} : name.substr(dot + 1);
  }
  // An all-numeric last label means an IPv4 literal that did not parse, such as
  // 10.0.0.300; taking it for a name would turn a typo into a DNS lookup.
  return !is_digits(last);
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  if (!is_digits(text) || text.size() > 5) return std::nullopt;
  std::from_chars(text.data(), text.data() + text.size(), value);
  if (value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool reject(std::string* why, std::string message) {
  if (why) *why = std::move(message);
  return false;
}

// Splits "host:port" or "[v6]:port" into its two texts, or explains what is wrong.
bool split_endpoint(std::string_view text, std::string_view& host, std::string_view& port, std::string* why) {
  if (text.empty()) return reject(why, "expected host:port, such as 127.0.0.1:9473 or *:443");
  if (text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':')
      return reject(why, "expected [IPv6 address]:port, such as [::1]:443");
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
    if (!is_ipv6(host)) return reject(why, detail::in_quotes(host) + " is not a valid IPv6 address");
    return true;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return reject(why, "the port is missing: expected host:port, such as 127.0.0.1:9473 or *:443");
  host = text.substr(0, colon);
  port = text.substr(colon + 1);
  if (host.find(':') != std::string_view::npos)
    return reject(why, "an IPv6 address must be written in brackets, such as [::1]:443");
  if (host.empty()) return reject(why, "the host is missing: use *:PORT to listen on all addresses");
  return true;
}

}  // namespace

std::string endpoint::str() const { return format_host_port(host, port); }

bool same_address(const endpoint& a, const endpoint& b) {
  return a.port == b.port && a.port != 0 && detail::canonical_host(a.host) == detail::canonical_host(b.host);
}

std::vector<const route_config*> routes_sharing(const config& cfg, const route_config& rc) {
  std::vector<const route_config*> out;
  for (const auto& r : cfg.routes)
    if (&r == &rc || (r.mode == mode::terminate && rc.mode == mode::terminate && same_address(r.listen, rc.listen)))
      out.push_back(&r);
  return out;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  if (digits == 0) return std::nullopt;
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + digits, value);
  if (ec != std::errc{}) return std::nullopt;

  struct unit {
    std::string_view suffix;
    std::uint64_t ms;
  };
  static constexpr std::array<unit, 6> units{{
      {"", 1000}, {"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};
  const std::string_view suffix = text.substr(digits);
  const auto found = std::find_if(units.begin(), units.end(), [&](const unit& u) { return u.suffix == suffix; });
  if (found == units.end()) return std::nullopt;

  constexpr auto max_ms = static_cast<std::uint64_t>(std::numeric_limits<std::chrono::milliseconds::rep>::max());
  if (value > max_ms / found->ms) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::chrono::milliseconds::rep>(value * found->ms));
}

std::optional<endpoint> parse_endpoint(std::string_view text, std::string* why) {
  std::string_view host;
  std::string_view port_text;
  if (!split_endpoint(text, host, port_text, why)) return std::nullopt;
  const auto port = parse_port(port_text);
  if (!port) {
    reject(why, "the port must be a number from 0 to 65535, not " + detail::in_quotes(port_text));
    return std::nullopt;
  }
  // "*" means every address; the runtime binds the IPv4 wildcard for it.
  if (host == "*") return endpoint{"0.0.0.0", *port};
  if (!detail::is_valid_host(host)) {
    reject(why, detail::in_quotes(host) + " is not a valid IP address or host name");
    return std::nullopt;
  }
  return endpoint{std::string(host), *port};
}

namespace detail {

bool is_valid_host(std::string_view host) { return is_ipv4(host) || is_ipv6(host) || is_dns_name(host); }

bool is_wildcard_host(std::string_view host) { return canonical_host(host) == "0.0.0.0" || canonical_host(host) == "::"; }

std::string canonical_host(std::string_view host) {
  std::array<char, INET6_ADDRSTRLEN> text{};
  in6_addr v6{};
  if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) == 1 && inet_ntop(AF_INET6, &v6, text.data(), text.size()))
    return text.data();
  std::string lower(host);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  if (!lower.empty() && lower.back() == '.') lower.pop_back();
  return lower;
}

}  // namespace detail
}  // namespace vmsgate::config
