#pragma once
// A simulated management server: an HTTP API and the long-lived plain TCP link
// that recording servers keep open to it.
//
// HTTP (keep-alive, GET only): /api/status answers JSON with every recording server
// that has said hello on the link and how many heartbeats it sent; /healthz "ok".
// Link: a recording server sends <hello><server>NAME</server></hello> and then
// <heartbeat><seq>N</seq></heartbeat>, each ended by CR LF CR LF; each heartbeat is
// answered with <ack><seq>N</seq></ack>. A heartbeat out of order closes the link,
// so a test peer learns that the path in between lost or reordered a message.

#include <string>

#include "proxy/common/asio.hpp"

namespace vmsgate::sim {

struct management_options {
  std::string name = "mgmt01";
  std::string http_listen = "127.0.0.1:18080";
  std::string link_listen = "127.0.0.1:19000";
};

struct management_endpoints {
  tcp::endpoint http;
  tcp::endpoint link;
};

// Binds both ports and starts serving on `ctx`. Throws boost::system::system_error.
management_endpoints start_management(net::io_context& ctx, const management_options& opts);

}  // namespace vmsgate::sim
