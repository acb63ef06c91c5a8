#pragma once
// What the data path needs to know about a route, as plain values: no YAML here.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proxy/common/asio.hpp"
#include "proxy/metrics/local_counter.hpp"
#include "proxy/tls/server_context.hpp"

namespace vmsgate::net_io {

struct backend_target {
  tcp::endpoint endpoint;
  std::string label;  // as configured, "host:port", for logs and metric labels
};

struct route_settings {
  std::string name;
  tcp::endpoint listen;
  std::vector<backend_target> backends;  // priority order; later ones are failovers
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds idle_timeout{3'600'000};
  std::uint64_t max_connections = 50'000;
};

// State of a route shared by all workers. Touched once per connection (accept and
// close), never per buffer.
struct route_shared {
  std::atomic<std::uint64_t> active{0};
};

// Per-worker counters of one route, written only by that worker.
struct route_counters {
  metrics::local_counter connections_total;
  metrics::local_counter connections_active;
  metrics::local_counter connections_refused;  // over max_connections
  metrics::local_counter handshakes;
  metrics::local_counter handshake_failures;
  metrics::local_counter backend_failures;
  metrics::local_counter bytes_to_backend;
  metrics::local_counter bytes_to_client;
};

// Everything a connection on one worker needs from its route. Immutable once built;
// a connection holds a shared_ptr so a reload can replace it without touching
// connections that started under the old one.
struct worker_route {
  std::shared_ptr<const route_settings> settings;
  std::shared_ptr<const tls::server_context> tls;
  std::shared_ptr<route_shared> shared;
  std::shared_ptr<route_counters> counters;  // this worker's own
};

}  // namespace vmsgate::net_io
