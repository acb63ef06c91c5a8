// The metric family table against CONTRACT.md, and the builder's text output.

#include <gtest/gtest.h>

#include <map>
#include <stdexcept>

#include "proxy/metrics/families.hpp"
#include "tests/support/metrics_text.hpp"

namespace vmsgate::metrics {
namespace {

using prometheus::MetricType;

struct contract_row {
  MetricType type;
  std::vector<std::string_view> labels;
};

// CONTRACT.md's table, spelt out again on purpose: the test fails when the table
// in proxy/metrics drifts from what operators were promised.
const std::map<std::string_view, contract_row>& contract() {
  static const std::map<std::string_view, contract_row> rows{
      {"build_info", {MetricType::Gauge, {"version", "openssl"}}},
      {"connections_active", {MetricType::Gauge, {"route"}}},
      {"connections_total", {MetricType::Counter, {"route"}}},
      {"tls_handshakes_total", {MetricType::Counter, {"route", "version", "resumed"}}},
      {"tls_handshake_failures_total", {MetricType::Counter, {"route", "reason"}}},
      {"tls_handshake_duration_seconds", {MetricType::Histogram, {"route", "resumed"}}},
      {"transferred_bytes_total", {MetricType::Counter, {"route", "direction"}}},
      {"connection_duration_seconds", {MetricType::Histogram, {"route"}}},
      {"backend_connect_duration_seconds", {MetricType::Histogram, {"route"}}},
      {"backend_failures_total", {MetricType::Counter, {"route", "backend", "reason"}}},
      {"backend_failovers_total", {MetricType::Counter, {"route"}}},
      {"certificate_expiry_timestamp_seconds", {MetricType::Gauge, {"route", "role", "usage", "subject", "serial"}}},
      {"config_reloads_total", {MetricType::Counter, {"result"}}},
      {"config_last_reload_success_timestamp_seconds", {MetricType::Gauge, {}}},
      {"log_lines_dropped_total", {MetricType::Counter, {}}},  // issue 32
      {"backend_up", {MetricType::Gauge, {"route", "backend"}}},
      {"route_ready", {MetricType::Gauge, {"route"}}},
      {"role_expiry_warning_seconds", {MetricType::Gauge, {"role"}}},     // for the expiry alert
      {"config_last_reload_successful", {MetricType::Gauge, {}}},       // for the reload alert
      {"process_cpu_seconds_total", {MetricType::Counter, {}}},
      {"process_resident_memory_bytes", {MetricType::Gauge, {}}},
      {"process_open_fds", {MetricType::Gauge, {}}},
      {"process_max_fds", {MetricType::Gauge, {}}},
      {"process_start_time_seconds", {MetricType::Gauge, {}}},
      {"crl_next_update_timestamp_seconds", {MetricType::Gauge, {"role", "issuer"}}},
  };
  return rows;
}

TEST(MetricFamilies, EveryContractFamilyWithItsTypeAndLabels) {
  std::map<std::string_view, const family_spec*> by_name;
  for (const auto& s : family_table()) by_name[s.name] = &s;
  for (const auto& [name, row] : contract()) {
    ASSERT_TRUE(by_name.contains(name)) << name;
    EXPECT_EQ(by_name[name]->type, row.type) << name;
    EXPECT_EQ(by_name[name]->labels, row.labels) << name;
  }
}

TEST(MetricFamilies, TableIsInEnumOrderWithHelp) {
  ASSERT_EQ(family_table().size(), family_count);
  for (std::size_t i = 0; i < family_count; ++i) {
    EXPECT_EQ(static_cast<std::size_t>(family_table()[i].id), i);
    EXPECT_FALSE(family_table()[i].help.empty()) << family_table()[i].name;
  }
}

TEST(MetricFamilies, EveryFamilyHasHelpAndTypeInTheText) {
  const std::string text = family_set().text();
  for (const auto& s : family_table()) {
    const std::string name = exported_name(s);
    EXPECT_EQ(name.rfind("process_", 0) == 0 ? name : "vmsgate_" + std::string(s.name), name);
    EXPECT_NE(text.find("# HELP " + name + " "), std::string::npos) << name;
    EXPECT_NE(text.find("# TYPE " + name + " "), std::string::npos) << name;
  }
}

TEST(MetricFamilies, WrongLabelCountOrTypeIsRefused) {
  family_set fs;
  EXPECT_THROW(fs.counter(family::connections_total, {"rec", "extra"}, 1), std::logic_error);
  EXPECT_THROW(fs.gauge(family::connections_total, {"rec"}, 1), std::logic_error);
  EXPECT_NO_THROW(fs.counter(family::connections_total, {"rec"}, 1));
}

TEST(MetricFamilies, CounterAndGaugeSamples) {
  family_set fs;
  fs.counter(family::transferred_bytes_total, {"rec", "to_backend"}, 123456789012.0);
  fs.gauge(family::config_last_reload_success_timestamp_seconds, {}, 1767225600.0);
  const std::string text = fs.text();
  EXPECT_EQ(test::sample(text, R"(vmsgate_transferred_bytes_total{route="rec",direction="to_backend"})"),
            123456789012.0)
      << text;
  EXPECT_EQ(test::sample(text, "vmsgate_config_last_reload_success_timestamp_seconds"), 1767225600.0) << text;
}

TEST(MetricFamilies, HistogramBucketsBecomeCumulativeAcrossWorkers) {
  static const std::vector<double> bounds{0.1, 1.0};
  local_histogram a(bounds);
  local_histogram b(bounds);
  a.observe(0.05);
  a.observe(0.5);
  b.observe(0.5);
  b.observe(7.0);
  histogram_snapshot h(bounds);
  h.merge(a);
  h.merge(b);
  family_set fs;
  fs.histogram(family::connection_duration_seconds, {"rec"}, h);
  const std::string text = fs.text();
  const std::string base = "vmsgate_connection_duration_seconds";
  EXPECT_EQ(test::sample(text, base + R"(_bucket{route="rec",le="0.1"})"), 1.0) << text;
  EXPECT_EQ(test::sample(text, base + R"(_bucket{route="rec",le="1"})"), 3.0) << text;
  EXPECT_EQ(test::sample(text, base + R"(_bucket{route="rec",le="+Inf"})"), 4.0) << text;
  EXPECT_EQ(test::sample(text, base + R"(_count{route="rec"})"), 4.0) << text;
  EXPECT_DOUBLE_EQ(test::sample(text, base + R"(_sum{route="rec"})").value_or(0), 8.05) << text;
}

}  // namespace
}  // namespace vmsgate::metrics
