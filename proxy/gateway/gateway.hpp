#pragma once
// The running gateway: workers with their listeners, the admin endpoint, signals and
// drain. Built from a validated, policy-checked configuration.

#include <memory>
#include <string>
#include <vector>

#include "proxy/admin/server.hpp"
#include "proxy/common/asio.hpp"
#include "proxy/config/config.hpp"
#include "proxy/gateway/acme_renewal.hpp"
#include "proxy/gateway/route_build.hpp"
#include "proxy/net/worker.hpp"
#include "proxy/observe/monitoring.hpp"
#include "proxy/observe/route_record.hpp"

namespace vmsgate::app {

class gateway {
 public:
  // Reads certificates and keys, builds every worker's TLS contexts and binds every
  // listener; throws startup_error.
  explicit gateway(const config::config& cfg);
  ~gateway();

  // Runs until SIGTERM or SIGINT has been handled; returns the exit status.
  int run();

 private:
  // One route built for every worker; nothing is live until commit() (see reload.cpp).
  struct staged_route {
    route_record record;
    std::vector<std::shared_ptr<net_io::worker_route>> per_worker;
  };
  // One listen address and the routes on it (several: SNI chooses among them).
  struct staged_listener {
    std::uint64_t id = 0;
    config::endpoint listen;
    tcp::endpoint bound;
    std::vector<tcp::acceptor> acceptors;  // empty: the address keeps its listener
    std::vector<std::size_t> routes;       // indices into staged_config::routes
    std::vector<std::shared_ptr<const net_io::route_table>> per_worker;
  };
  struct staged_config {
    std::vector<staged_route> routes;
    std::vector<staged_listener> listeners;
  };

  staged_route stage_route(const config::config& cfg, const config::route_config& rc, const route_record* old);
  staged_listener stage_listener(const config::route_config& first);
  staged_config stage_all(const config::config& cfg);
  void commit(staged_config staged, config::config cfg);
  // Returns whether the new configuration is being served.
  bool reload(const char* trigger);
  bool swap_certificates(const char* trigger);
  bool reload_from(const char* trigger, bool read_config_file);
  void apply_log_settings(const config::log_config& settings);
  tls::ticket_key_list load_ticket_keys(const config::config& cfg) const;
  net::awaitable<void> watch_files();
  net::awaitable<void> rotate_ticket_keys();
  net::awaitable<void> return_memory();
  void drop_privileges();
  void start_admin();
  net::awaitable<void> handle_signals();
  net::awaitable<void> drain();
  net::awaitable<void> keep_watchdog(std::chrono::microseconds every);
  std::uint64_t open_connections() const;

  config::config cfg_;
  // Shared by every worker's contexts: a reconnect resumes on any worker, and on any
  // instance that reads the same tls.ticket_keys file.
  std::shared_ptr<tls::ticket_keyring> tickets_;
  std::vector<route_record> routes_;
  std::uint64_t next_listener_id_ = 1;
  net::io_context control_{1};
  net_io::global_state global_;
  std::vector<std::unique_ptr<net_io::worker>> workers_;
  // Before admin_, whose handlers point into it, so that it is destroyed after.
  std::unique_ptr<monitoring> monitoring_;
  std::unique_ptr<admin::server> admin_;
  // The tls-alpn-01 answers every ACME route's contexts read, and the renewals that
  // write them; after admin_, since its http-01 listeners live on control_ too.
  std::shared_ptr<tls::acme_answers> acme_answers_ = std::make_shared<tls::acme_answers>();
  std::unique_ptr<acme_renewals> acme_;
  net::signal_set signals_{control_};
  net::steady_timer watch_timer_{control_};
  net::steady_timer rotate_timer_{control_};
  net::steady_timer trim_timer_{control_};
  net::steady_timer watchdog_timer_{control_};
  bool draining_ = false;
};

}  // namespace vmsgate::app
