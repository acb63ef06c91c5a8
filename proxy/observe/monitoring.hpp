#pragma once
// Everything the admin endpoint serves besides /healthz, gathered for the gateway:
// /metrics, /readyz with its backend prober, the certificate inventory behind the
// expiry gauge, and the daily expiry warnings in the log. Lives on the gateway's
// control io_context (one thread), so none of it takes a lock.

#include <chrono>
#include <functional>
#include <memory>
#include <vector>

#include "proxy/admin/route.hpp"
#include "proxy/common/asio.hpp"
#include "proxy/config/config.hpp"
#include "proxy/observe/metrics_export.hpp"
#include "proxy/observe/readiness.hpp"

namespace vmsgate::app {

class monitoring {
 public:
  // `routes` must outlive this object. Reads the certificates of `cfg` and counts
  // the start-up load as the last successful one.
  monitoring(net::io_context& ioc, const config::config& cfg, const std::vector<route_record>& routes);
  ~monitoring();
  monitoring(const monitoring&) = delete;
  monitoring& operator=(const monitoring&) = delete;

  // The /metrics and /readyz handlers; valid while this object lives.
  admin::handlers handlers();

  // Starts the backend prober and logs expiring certificates now and once a day.
  void start();
  // Stops both; /readyz answers 503 from now on. Call on the io_context's thread.
  void stop();

  // Re-reads the certificates after a successful reload (the caller also counts it
  // in reloads()).
  void set_config(const config::config& cfg);
  reload_stats& reloads() { return reloads_; }
  // Where /metrics reads the ACME renewals from (called on the io_context's thread).
  void set_acme_source(std::function<std::vector<acme_status>()> source) { acme_ = std::move(source); }

  struct reminder;  // shared with the daily reminder coroutine

 private:
  const std::vector<route_record>& routes_;
  reload_stats reloads_;
  std::shared_ptr<reminder> reminder_;
  readiness readiness_;
  std::function<std::vector<acme_status>()> acme_;
};

}  // namespace vmsgate::app
