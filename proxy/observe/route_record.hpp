#pragma once
// What the admin endpoint reads about one route: its identity and each worker's
// counters. The gateway fills these in (start and reload); observability reads them
// (the scrape merge, readiness), so the record lives here, below both.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/common/asio.hpp"
#include "proxy/config/config.hpp"
#include "proxy/net/route.hpp"

namespace vmsgate::app {

// Each worker's counters are merged at scrape time, never locked.
struct route_record {
  std::string name;
  std::string role;
  std::vector<std::string> backend_labels;  // same order as the counters' backends
  std::vector<net_io::backend_target> backends;
  std::vector<std::shared_ptr<net_io::route_counters>> per_worker;
  // Listener bookkeeping, for reload.
  std::uint64_t listener_id = 0;
  config::endpoint listen;  // as configured
  tcp::endpoint bound;      // with the port it got
  std::shared_ptr<net_io::route_shared> shared;
  bool acme_pending = false;  // refusing clients until ACME brings its certificate
};

}  // namespace vmsgate::app
