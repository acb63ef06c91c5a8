#pragma once
// What /metrics shows: every worker's route counters merged at scrape time, the
// certificates' expiry dates, build and reload facts. Runs on the admin thread; the
// workers are never locked or paused for it.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "proxy/config/config.hpp"

namespace vmsgate::app {

struct route_record;  // proxy/observe/route_record.hpp

// One route's certificate renewals by ACME, as /metrics shows them.
struct acme_status {
  std::string route;
  std::uint64_t successes = 0;
  std::uint64_t failures = 0;
  double next_renewal_seconds = 0;  // since the Unix epoch
};

// Reload outcomes, written by the reload code (any thread) and read by the scrape.
struct reload_stats {
  std::atomic<std::uint64_t> successes{0};
  std::atomic<std::uint64_t> failures{0};
  // Seconds since the Unix epoch of the last successful load; start-up counts.
  std::atomic<double> last_success_seconds{0.0};
  // Whether the last load (start-up or reload) succeeded.
  std::atomic<bool> last_successful{true};

  void record_success(std::chrono::system_clock::time_point when = std::chrono::system_clock::now());
  void record_failure() {
    failures.fetch_add(1, std::memory_order_relaxed);
    last_successful.store(false, std::memory_order_relaxed);
  }
};

// What the readiness prober knows of one route, for route_ready and backend_up.
struct route_status {
  std::string route;
  bool ready = false;
  std::vector<std::pair<std::string, bool>> backends;  // label, answered the last probe
};

// The standard process_* figures, read from /proc/self.
struct process_figures {
  double cpu_seconds = 0;
  double resident_bytes = 0;
  double open_fds = 0;
  double max_fds = 0;
  double start_time_seconds = 0;
};
process_figures read_process_figures();

// One certificate the gateway depends on, as the expiry gauge labels it.
struct certificate_record {
  std::string route;  // empty for the CA of a role no route uses
  std::string role;
  std::string usage;  // server, client or ca
  std::string subject;
  std::string serial;
  std::string file;
  std::chrono::system_clock::time_point not_after;
  std::chrono::seconds expiry_warning{0};  // of the role whose policy covers it
};

// One CRL the gateway uses, as the gauge labels it.
struct crl_record {
  std::string role;
  std::string issuer;
  std::string file;
  std::chrono::system_clock::time_point next_update;
};
// Every CRL of every role (a file that cannot be read is skipped: check reports it).
std::vector<crl_record> collect_crls(const config::config& cfg);

// Reads each route's own certificate (the leaf: "server" for terminate routes,
// "client" for originate routes that have one), the CA certificates of its role
// and of its peer roles, and those of roles no route uses. Called at start and on
// reload; a file that cannot be read is skipped (the policy check reports it).
std::vector<certificate_record> collect_certificates(const config::config& cfg);

// Logs one "certificate_expiring" warning per distinct certificate that expires
// within its role's expiry_warning of `now`; returns how many it logged.
std::size_t log_expiring(const std::vector<certificate_record>& certs, std::chrono::system_clock::time_point now);

// The whole /metrics body in the Prometheus text format.
std::string render_metrics(const std::vector<route_record>& routes, const std::vector<certificate_record>& certs,
                           const reload_stats& reloads, const std::vector<route_status>& health = {},
                           const std::vector<crl_record>& crls = {},
                           const std::vector<acme_status>& acme = {});

}  // namespace vmsgate::app
