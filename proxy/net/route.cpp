#include "proxy/net/route.hpp"

#include "proxy/tls/name_match.hpp"

namespace vmsgate::net_io {

route_counters::route_counters(std::size_t backend_count) : backend_failures(backend_count) {}

const worker_route* route_table::choose(std::optional<std::string_view> server_name) const {
  if (!shared()) return entries.front().route.get();
  // Clients that dial an address send no SNI (some wrongly send the address itself).
  if (!server_name || tls::canonical_ip(*server_name)) return fallback;
  for (const auto& e : entries)
    for (const auto& pattern : e.names)
      if (tls::dns_name_matches(pattern, *server_name)) return e.route.get();
  return fallback;
}

std::shared_ptr<const route_table> route_table::single(std::shared_ptr<const worker_route> route) {
  auto table = std::make_shared<route_table>();
  table->entries.push_back({std::move(route), {}});
  return table;
}

}  // namespace vmsgate::net_io
