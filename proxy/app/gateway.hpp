#pragma once
// The running gateway: workers with their listeners, the admin endpoint, signals and
// drain. Built from a validated, policy-checked configuration.

#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "proxy/admin/server.hpp"
#include "proxy/common/asio.hpp"
#include "proxy/config/config.hpp"
#include "proxy/net/worker.hpp"

namespace vmsgate::app {

// A start-up failure and the exit status it calls for (CONTRACT.md: 1 for a policy
// error or a listener that cannot bind).
struct startup_error : std::runtime_error {
  startup_error(int status, const std::string& what) : std::runtime_error(what), exit_status(status) {}
  int exit_status;
};

// What the admin endpoint reads about one route: its identity and each worker's
// counters (merged at scrape time, never locked).
struct route_record {
  std::string name;
  std::string role;
  std::vector<std::string> backend_labels;  // same order as the counters' backends
  std::vector<net_io::backend_target> backends;
  std::vector<std::shared_ptr<const net_io::route_counters>> per_worker;
};

class gateway {
 public:
  // Reads certificates and keys, builds every worker's TLS contexts and binds every
  // listener; throws startup_error.
  explicit gateway(const config::config& cfg);
  ~gateway();

  // Runs until SIGTERM or SIGINT has been handled; returns the exit status.
  int run();

 private:
  struct route_build;
  void build_route(const config::route_config& rc);
  void start_admin();
  net::awaitable<void> handle_signals();
  net::awaitable<void> drain();
  std::uint64_t open_connections() const;

  config::config cfg_;
  std::vector<route_record> routes_;
  net::io_context control_{1};
  net_io::global_state global_;
  std::vector<std::unique_ptr<net_io::worker>> workers_;
  std::unique_ptr<admin::server> admin_;
  net::signal_set signals_{control_};
};

}  // namespace vmsgate::app
