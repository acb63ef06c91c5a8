#pragma once
// The one table of metric families (CONTRACT.md, "Metrics"), and a builder that
// turns plain values into prometheus-cpp's data model and the text format. The
// table is the only place a name, a help text or a label name is spelt: the
// exporter refers to families by enum, so a label set cannot drift from the
// contract without the builder refusing it.

#include <prometheus/metric_family.h>
#include <prometheus/metric_type.h>

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/metrics/local_histogram.hpp"

namespace vmsgate::metrics {

enum class family : std::size_t {
  build_info,
  connections_active,
  connections_total,
  connections_refused_total,
  tls_handshakes_total,
  tls_handshake_failures_total,
  tls_handshake_duration_seconds,
  transferred_bytes_total,
  connection_duration_seconds,
  backend_connect_duration_seconds,
  backend_failures_total,
  backend_failovers_total,
  certificate_expiry_timestamp_seconds,
  config_reloads_total,
  config_last_reload_success_timestamp_seconds,
  log_lines_dropped_total,
  backend_up,
  route_ready,
  role_expiry_warning_seconds,
  config_last_reload_successful,
  process_cpu_seconds_total,
  process_resident_memory_bytes,
  process_open_fds,
  process_max_fds,
  process_start_time_seconds,
  crl_next_update_timestamp_seconds,
  acme_orders_total,
  acme_next_renewal_timestamp_seconds,
};
inline constexpr std::size_t family_count = 28;

inline constexpr std::string_view prefix = "vmsgate_";

struct family_spec {
  family id;
  std::string_view name;  // without the prefix
  std::string_view help;
  prometheus::MetricType type;
  std::vector<std::string_view> labels;
  // The standard process_* families every Prometheus client exports: no prefix.
  bool standard = false;
};

// The name as scraped: "vmsgate_" + name, or name alone for a standard family.
std::string exported_name(const family_spec& s);

// Every family, in enum order.
const std::vector<family_spec>& family_table();
const family_spec& spec(family f);

// A histogram merged from several workers' local_histogram: non-cumulative bucket
// counts as the workers keep them, summed.
struct histogram_snapshot {
  explicit histogram_snapshot(std::span<const double> bounds);
  // Adds one worker's histogram; its bounds must be the same layout.
  void merge(const local_histogram& h);

  std::span<const double> bounds;
  std::vector<std::uint64_t> buckets;  // size bounds.size() + 1, the last is +Inf
  double sum = 0.0;
};

// One scrape's worth of samples. Families appear in table order, each with its
// HELP and TYPE even when it has no sample yet.
class family_set {
 public:
  using label_values = std::initializer_list<std::string_view>;

  family_set();

  // Label values in the order of the family's label names; a wrong count or a
  // family of another type throws std::logic_error.
  void counter(family f, label_values values, double value);
  void gauge(family f, label_values values, double value);
  void histogram(family f, label_values values, const histogram_snapshot& h);

  const std::vector<prometheus::MetricFamily>& families() const { return families_; }
  // The Prometheus text exposition format (version 0.0.4).
  std::string text() const;

 private:
  prometheus::ClientMetric& add(family f, prometheus::MetricType type, label_values values);
  std::vector<prometheus::MetricFamily> families_;
};

// The Content-Type of text().
inline constexpr std::string_view text_content_type = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace vmsgate::metrics
