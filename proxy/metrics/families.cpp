#include "proxy/metrics/families.hpp"

#include <prometheus/text_serializer.h>

#include <limits>
#include <sstream>
#include <stdexcept>

namespace vmsgate::metrics {
namespace {

using prometheus::MetricType;

std::vector<family_spec> make_table() {
  return {
      {family::build_info, "build_info", "Always 1; the labels name the vmsgate and OpenSSL versions.",
       MetricType::Gauge, {"version", "openssl"}},
      {family::connections_active, "connections_active", "Client connections open now.", MetricType::Gauge,
       {"route"}},
      {family::connections_total, "connections_total", "Client connections accepted.", MetricType::Counter,
       {"route"}},
      {family::connections_refused_total, "connections_refused_total",
       "Client connections closed at accept because a max_connections limit was reached.", MetricType::Counter,
       {"route"}},
      {family::tls_handshakes_total, "tls_handshakes_total", "TLS handshakes completed.", MetricType::Counter,
       {"route", "version", "resumed"}},
      {family::tls_handshake_failures_total, "tls_handshake_failures_total", "TLS handshakes refused or failed.",
       MetricType::Counter, {"route", "reason"}},
      {family::tls_handshake_duration_seconds, "tls_handshake_duration_seconds",
       "Time from the first byte of the ClientHello to a completed handshake.", MetricType::Histogram,
       {"route", "resumed"}},
      {family::transferred_bytes_total, "transferred_bytes_total", "Payload bytes forwarded, by direction.",
       MetricType::Counter, {"route", "direction"}},
      {family::connection_duration_seconds, "connection_duration_seconds",
       "Lifetime of client connections, accept to close.", MetricType::Histogram, {"route"}},
      {family::backend_connect_duration_seconds, "backend_connect_duration_seconds",
       "Time to open a TCP connection to a backend that answered.", MetricType::Histogram, {"route"}},
      {family::backend_failures_total, "backend_failures_total", "Backend connection attempts that failed.",
       MetricType::Counter, {"route", "backend", "reason"}},
      {family::backend_failovers_total, "backend_failovers_total",
       "Connections served by a backend other than the first.", MetricType::Counter, {"route"}},
      {family::certificate_expiry_timestamp_seconds, "certificate_expiry_timestamp_seconds",
       "notAfter of each configured certificate, in seconds since the Unix epoch.", MetricType::Gauge,
       {"route", "role", "usage", "subject", "serial"}},
      {family::config_reloads_total, "config_reloads_total", "Configuration reloads, by result.",
       MetricType::Counter, {"result"}},
      {family::config_last_reload_success_timestamp_seconds, "config_last_reload_success_timestamp_seconds",
       "When the configuration was last loaded successfully (start-up counts), in seconds since the Unix epoch.",
       MetricType::Gauge, {}},
      {family::log_lines_dropped_total, "log_lines_dropped_total",
       "Log lines dropped because the log reader was too slow (the gateway never waits for it).",
       MetricType::Counter, {}},
      {family::backend_up, "backend_up",
       "1 when the backend accepted the last connection the readiness prober made to it, else 0.",
       MetricType::Gauge, {"route", "backend"}},
      {family::route_ready, "route_ready",
       "1 when the route's listener accepts and one of its backends answered recently (what /readyz checks).",
       MetricType::Gauge, {"route"}},
      {family::role_expiry_warning_seconds, "role_expiry_warning_seconds",
       "The role's expiry_warning: certificates of the role that expire sooner are warned of.", MetricType::Gauge,
       {"role"}},
      {family::config_last_reload_successful, "config_last_reload_successful",
       "1 when the last configuration load (start-up or reload) succeeded, 0 when the last reload failed.",
       MetricType::Gauge, {}},
      {family::process_cpu_seconds_total, "process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
       MetricType::Counter, {}, true},
      {family::process_resident_memory_bytes, "process_resident_memory_bytes", "Resident memory size in bytes.",
       MetricType::Gauge, {}, true},
      {family::process_open_fds, "process_open_fds", "Number of open file descriptors.", MetricType::Gauge, {}, true},
      {family::process_max_fds, "process_max_fds", "Maximum number of open file descriptors.", MetricType::Gauge, {},
       true},
      {family::process_start_time_seconds, "process_start_time_seconds",
       "Start time of the process since unix epoch in seconds.", MetricType::Gauge, {}, true},
      {family::crl_next_update_timestamp_seconds, "crl_next_update_timestamp_seconds",
       "When each CRL of a role's CA is due to be replaced (its nextUpdate), in seconds since the Unix epoch.",
       MetricType::Gauge, {"role", "issuer"}},
      {family::acme_orders_total, "acme_orders_total",
       "ACME certificate orders of each route, by result (a failure leaves the certificate in use).",
       MetricType::Counter, {"route", "result"}},
      {family::acme_next_renewal_timestamp_seconds, "acme_next_renewal_timestamp_seconds",
       "When each route's next ACME order is due (now while one is under way or being retried), in seconds since "
       "the Unix epoch.",
       MetricType::Gauge, {"route"}},
  };
}

}  // namespace

const std::vector<family_spec>& family_table() {
  static const std::vector<family_spec> table = make_table();
  return table;
}

std::string exported_name(const family_spec& s) {
  return s.standard ? std::string(s.name) : std::string(prefix) + std::string(s.name);
}

const family_spec& spec(family f) { return family_table().at(static_cast<std::size_t>(f)); }

histogram_snapshot::histogram_snapshot(std::span<const double> b) : bounds(b), buckets(b.size() + 1, 0) {}

void histogram_snapshot::merge(const local_histogram& h) {
  if (h.bounds().size() != bounds.size()) throw std::logic_error("histogram layouts differ");
  for (std::size_t i = 0; i < buckets.size(); ++i) buckets[i] += h.bucket(i);
  sum += h.sum();
}

family_set::family_set() {
  families_.reserve(family_count);
  for (const auto& s : family_table()) {
    prometheus::MetricFamily mf;
    mf.name = exported_name(s);
    mf.help = std::string(s.help);
    mf.type = s.type;
    families_.push_back(std::move(mf));
  }
}

prometheus::ClientMetric& family_set::add(family f, prometheus::MetricType type, label_values values) {
  const family_spec& s = spec(f);
  if (s.type != type) throw std::logic_error("metric " + std::string(s.name) + " has another type");
  if (values.size() != s.labels.size()) throw std::logic_error("metric " + std::string(s.name) + ": wrong label count");
  prometheus::ClientMetric m;
  auto value = values.begin();
  for (const auto name : s.labels) m.label.push_back({std::string(name), std::string(*value++)});
  auto& metrics = families_[static_cast<std::size_t>(f)].metric;
  metrics.push_back(std::move(m));
  return metrics.back();
}

void family_set::counter(family f, label_values values, double value) {
  add(f, prometheus::MetricType::Counter, values).counter.value = value;
}

void family_set::gauge(family f, label_values values, double value) {
  add(f, prometheus::MetricType::Gauge, values).gauge.value = value;
}

// Buckets become cumulative here, and _count is the +Inf bucket rather than the
// workers' own count: a scrape that races a worker then still shows a histogram
// whose _count equals its last bucket, as Prometheus expects.
void family_set::histogram(family f, label_values values, const histogram_snapshot& h) {
  auto& out = add(f, prometheus::MetricType::Histogram, values).histogram;
  std::uint64_t running = 0;
  out.bucket.reserve(h.buckets.size());
  for (std::size_t i = 0; i < h.buckets.size(); ++i) {
    running += h.buckets[i];
    const double bound = i < h.bounds.size() ? h.bounds[i] : std::numeric_limits<double>::infinity();
    out.bucket.push_back({running, bound});
  }
  out.sample_count = running;
  out.sample_sum = h.sum;
}

std::string family_set::text() const {
  std::ostringstream out;
  prometheus::TextSerializer().Serialize(out, families_);
  return out.str();
}

}  // namespace vmsgate::metrics
