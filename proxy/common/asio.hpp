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

}  // namespace vmsgate
