#pragma once
// What the data path needs to know about a route, as plain values: no YAML here.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/common/asio.hpp"
#include "proxy/metrics/local_counter.hpp"
#include "proxy/metrics/local_histogram.hpp"
#include "proxy/net/backoff.hpp"
#include "proxy/tls/client_context.hpp"
#include "proxy/tls/failure.hpp"
#include "proxy/tls/server_context.hpp"

namespace vmsgate::net_io {

// Why a backend connection attempt failed (label `reason` of backend_failures_total).
// `tls` is an upstream of an originate route whose handshake was refused.
enum class backend_failure : std::size_t { refused, timeout, error, tls };
inline constexpr std::size_t backend_failure_count = 4;
inline constexpr std::array<std::string_view, backend_failure_count> backend_failure_names{"refused", "timeout",
                                                                                          "error", "tls"};

struct backend_target {
  tcp::endpoint endpoint;
  std::string label;        // as configured, "host:port", for logs and metric labels
  std::string server_name;  // originate: SNI and the name the certificate must carry
};

struct route_settings {
  std::string name;
  bool originate = false;  // plain in, TLS out; otherwise TLS in, plain out
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

// Per-worker counters of one route, written only by that worker, merged at scrape.
struct route_counters {
  explicit route_counters(std::size_t backend_count);

  metrics::local_counter connections_total;
  metrics::local_counter connections_active;
  metrics::local_counter connections_refused;  // over max_connections
  // Indexed [tls13 ? 1 : 0][resumed ? 1 : 0].
  metrics::local_counter handshakes[2][2];
  std::array<metrics::local_counter, tls::failure_reason_count> handshake_failures;
  metrics::local_histogram handshake_duration[2]{metrics::local_histogram(metrics::buckets::handshake),
                                                 metrics::local_histogram(metrics::buckets::handshake)};  // [resumed]
  metrics::local_counter bytes_to_backend;
  metrics::local_counter bytes_to_client;
  metrics::local_histogram connection_duration{metrics::buckets::connection};
  metrics::local_histogram backend_connect_duration{metrics::buckets::backend_connect};
  metrics::local_counter backend_failovers;  // connections served by other than the first backend
  // Per backend (same order as route_settings::backends), by backend_failure.
  std::vector<std::array<metrics::local_counter, backend_failure_count>> backend_failures;
};

// What the route's workers have learnt about its backends: which are backing off.
// One per route, shared by its workers (see backoff.hpp).
struct backend_state {
  explicit backend_state(std::size_t n) : health(n) {}
  class backoff health;
};

// Everything a connection on one worker needs from its route. Immutable once built;
// a connection holds a shared_ptr so a reload can replace it without touching
// connections that started under the old one.
struct worker_route {
  std::shared_ptr<const route_settings> settings;
  std::shared_ptr<const tls::server_context> tls;         // terminate routes
  std::shared_ptr<const tls::client_context> client_tls;  // originate routes
  std::shared_ptr<backend_state> backends;
  std::shared_ptr<tls::session_cache> sessions;  // originate: shared by the route's workers
  std::shared_ptr<route_shared> shared;
  std::shared_ptr<route_counters> counters;  // this worker's own
};

// The routes of one listen address. One route takes every connection. When several
// terminate routes share the address, the client's SNI chooses among their
// server_names, once per connection, in the ClientHello callback (handshake.cpp);
// a connection then costs no more than on a single-route port.
struct route_table {
  struct entry {
    std::shared_ptr<const worker_route> route;
    std::vector<std::string> names;  // server_names, '*.' wildcards as in certificates
  };
  std::vector<entry> entries;
  // `default: true`: takes clients that send no SNI (or an IP literal), or a name
  // that no route lists. Without one, a shared address refuses them.
  const worker_route* fallback = nullptr;

  bool shared() const noexcept { return entries.size() > 1; }
  // The route a connection starts on, before its ClientHello is read: the first.
  // On a shared address its SSL_CTX holds the session cache.
  const worker_route& lead() const noexcept { return *entries.front().route; }
  // The route for a ClientHello's SNI (nullopt: none sent); nullptr when none takes it.
  const worker_route* choose(std::optional<std::string_view> server_name) const;

  static std::shared_ptr<const route_table> single(std::shared_ptr<const worker_route> route);
};

}  // namespace vmsgate::net_io
