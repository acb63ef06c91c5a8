#pragma once
// The one place that names Boost namespaces; everything else uses these aliases.

#include <boost/asio.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <string>

#include "proxy/common/host_port.hpp"

namespace vmsgate {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

// Completion token for the data path: errors come back as values, never as exceptions.
inline constexpr auto use_nothrow = net::as_tuple(net::use_awaitable);

}  // namespace vmsgate

namespace vmsgate {

// "1.2.3.4:443" or "[::1]:443", for logs and metric labels.
inline std::string endpoint_label(const tcp::endpoint& ep) {
  return format_host_port(ep.address().to_string(), ep.port());
}

// Why a bind to `port` failed, in one line with what to do about it: the error's own
// words (never Boost's source location) and, for the usual cases, the fix.
inline std::string listen_failure(const error_code& ec, std::uint16_t port) {
  std::string out = ec.message();
  if (ec == boost::system::errc::permission_denied && port < 1024)
    out += " (ports below 1024 need CAP_NET_BIND_SERVICE, e.g. AmbientCapabilities=CAP_NET_BIND_SERVICE in the "
           "systemd unit, or a lower net.ipv4.ip_unprivileged_port_start)";
  else if (ec == boost::system::errc::address_in_use)
    out += " (another process listens there: `ss -ltnp` names it)";
  else if (ec == boost::system::errc::address_not_available)
    out += " (no interface of this host has that address)";
  return out;
}

}  // namespace vmsgate
