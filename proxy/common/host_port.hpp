#pragma once
// The one spelling of an address as text, shared by the configuration (which holds
// a host as written) and the runtime (which holds a resolved endpoint), so that a
// log line, a metric label and a config error all write the same address the same way.

#include <cstdint>
#include <string>
#include <string_view>

namespace vmsgate {

// "host:port", or "[host]:port" when the host has a colon (an IPv6 literal), so that
// the port stays unambiguous.
inline std::string format_host_port(std::string_view host, std::uint16_t port) {
  const bool bracket = host.find(':') != std::string_view::npos;
  std::string out;
  out.reserve(host.size() + 8);
  if (bracket) out += '[';
  out += host;
  if (bracket) out += ']';
  out += ':';
  out += std::to_string(port);
  return out;
}

}  // namespace vmsgate
