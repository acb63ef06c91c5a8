#pragma once
// Whether another process already listens on an address. Every worker binds its
// routes with SO_REUSEPORT, and the kernel lets any socket of the same user that
// also sets it join the group: a second vmsgate (or anything else) started on the
// same port would silently take a share of the connections, with its own
// certificate and backends. A plain bind without SO_REUSEPORT, made first, fails
// with EADDRINUSE exactly when someone listens there already.

#include <optional>
#include <string>

#include "proxy/common/asio.hpp"

namespace vmsgate::net_io {

// Who holds `where` when someone does: "another process", or "pid N (NAME)" when
// /proc says which; nullopt when it is free. Port 0 is always free.
std::optional<std::string> listening_holder(const tcp::endpoint& where);

}  // namespace vmsgate::net_io
