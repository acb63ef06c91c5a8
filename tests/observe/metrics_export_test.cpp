// The scrape: per-worker counters merged into the contract's families, the
// certificate inventory, reload facts, and promtool's verdict on the text.

#include <gtest/gtest.h>

#include "proxy/observe/metrics_export.hpp"
#include "proxy/observe/route_record.hpp"
#include "proxy/tls/certificate.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::app {
namespace {

using test::sample;
using test::sum_samples;

route_record two_worker_route(const std::string& name) {
  route_record r;
  r.name = name;
  r.role = "recording";
  r.backend_labels = {"127.0.0.1:1", "127.0.0.1:2"};
  for (int w = 0; w < 2; ++w) {
    auto c = std::make_shared<net_io::route_counters>(2);
    c->connections_total.add(3);
    c->connections_active.add(1);
    c->handshakes[1][0].add(2);
    c->handshakes[0][1].add(1);
    c->handshake_failures[static_cast<std::size_t>(tls::failure_reason::protocol)].add();
    c->handshake_duration[0].observe(0.002);
    c->handshake_duration[0].observe(0.02);
    c->bytes_to_backend.add(1000);
    c->bytes_to_client.add(70000);
    c->backend_connect_duration.observe(0.0003);
    c->backend_failures[1][static_cast<std::size_t>(net_io::backend_failure::refused)].add(5);
    r.per_worker.push_back(c);
  }
  return r;
}

TEST(MetricsExport, SumsWorkersPerRoute) {
  const std::vector<route_record> routes{two_worker_route("rec"), two_worker_route("mobile")};
  reload_stats reloads;
  const std::string text = render_metrics(routes, {}, reloads);
  EXPECT_EQ(sample(text, R"(vmsgate_connections_total{route="rec"})"), 6.0) << text;
  EXPECT_EQ(sample(text, R"(vmsgate_connections_active{route="mobile"})"), 2.0) << text;
  EXPECT_EQ(sample(text, R"(vmsgate_tls_handshakes_total{route="rec",version="TLSv1.3",resumed="false"})"), 4.0);
  EXPECT_EQ(sample(text, R"(vmsgate_tls_handshakes_total{route="rec",version="TLSv1.2",resumed="true"})"), 2.0);
  EXPECT_EQ(sum_samples(text, "vmsgate_tls_handshakes_total", R"(route="rec")"), 6.0);
  EXPECT_EQ(sample(text, R"(vmsgate_tls_handshake_failures_total{route="rec",reason="protocol"})"), 2.0);
  EXPECT_EQ(sample(text, R"(vmsgate_tls_handshake_failures_total{route="rec",reason="timeout"})"), 0.0);
  EXPECT_EQ(sample(text, R"(vmsgate_tls_handshake_duration_seconds_count{route="rec",resumed="false"})"), 4.0);
  EXPECT_EQ(sample(text, R"(vmsgate_tls_handshake_duration_seconds_bucket{route="rec",resumed="false",le="0.0025"})"),
            2.0);
  EXPECT_EQ(sample(text, R"(vmsgate_transferred_bytes_total{route="rec",direction="to_client"})"), 140000.0);
  EXPECT_EQ(sample(text, R"(vmsgate_backend_failures_total{route="rec",backend="127.0.0.1:2",reason="refused"})"),
            10.0);
  EXPECT_EQ(sample(text, R"(vmsgate_backend_connect_duration_seconds_count{route="mobile"})"), 2.0);
}

TEST(MetricsExport, BuildInfoAndReloads) {
  reload_stats reloads;
  reloads.record_success(std::chrono::system_clock::time_point(std::chrono::seconds(1767225600)));
  reloads.record_failure();
  const std::string text = render_metrics({}, {}, reloads);
  EXPECT_EQ(sum_samples(text, "vmsgate_build_info", "version=\"" VMSGATE_VERSION "\""), 1.0) << text;
  EXPECT_EQ(sample(text, R"(vmsgate_config_reloads_total{result="success"})"), 1.0);
  EXPECT_EQ(sample(text, R"(vmsgate_config_reloads_total{result="failure"})"), 1.0);
  EXPECT_EQ(sample(text, "vmsgate_config_last_reload_success_timestamp_seconds"), 1767225600.0);
  // The failure came last: the reload alert's gauge says so; a success clears it.
  EXPECT_EQ(sample(text, "vmsgate_config_last_reload_successful"), 0.0) << text;
  reloads.record_success();
  EXPECT_EQ(sample(render_metrics({}, {}, reloads), "vmsgate_config_last_reload_successful"), 1.0);
}

// Issue 27: the standard process families (no vmsgate_ prefix), the prober's view
// of routes and backends, and each role's warning window for the expiry alert.
TEST(MetricsExport, ProcessRoutesBackendsAndRoleWarnings) {
  std::vector<route_status> health{{"rec", true, {{"127.0.0.1:17563", true}, {"127.0.0.1:17564", false}}},
                                   {"mob", false, {{"127.0.0.1:18081", false}}}};
  certificate_record cert;
  cert.route = "rec";
  cert.role = "recording";
  cert.usage = "server";
  cert.subject = "CN=rec01";
  cert.serial = "01";
  cert.expiry_warning = std::chrono::hours(24 * 30);
  const std::string text = render_metrics({}, {cert}, reload_stats{}, health);
  EXPECT_EQ(sample(text, R"(vmsgate_route_ready{route="rec"})"), 1.0) << text;
  EXPECT_EQ(sample(text, R"(vmsgate_route_ready{route="mob"})"), 0.0);
  EXPECT_EQ(sample(text, R"(vmsgate_backend_up{route="rec",backend="127.0.0.1:17563"})"), 1.0);
  EXPECT_EQ(sample(text, R"(vmsgate_backend_up{route="rec",backend="127.0.0.1:17564"})"), 0.0);
  EXPECT_EQ(sample(text, R"(vmsgate_backend_up{route="mob",backend="127.0.0.1:18081"})"), 0.0);
  EXPECT_EQ(sample(text, R"(vmsgate_role_expiry_warning_seconds{role="recording"})"), 30.0 * 86400);

  EXPECT_GE(sample(text, "process_cpu_seconds_total").value_or(-1), 0.0) << text;  // a fresh process: maybe 0
  EXPECT_GT(sample(text, "process_resident_memory_bytes").value_or(0), 1e6);
  EXPECT_GE(sample(text, "process_open_fds").value_or(0), 3.0);
  EXPECT_GE(sample(text, "process_max_fds").value_or(0), sample(text, "process_open_fds").value_or(1));
  const double start = sample(text, "process_start_time_seconds").value_or(0);
  const double now = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_GT(start, now - 3600) << "this test process started within the hour";
  EXPECT_LE(start, now + 1);
  EXPECT_EQ(text.find("vmsgate_process_"), std::string::npos) << "the standard families carry no prefix";
}

config::config pki_config() {
  const auto& pki = test::shared_pki();
  config::config cfg;
  cfg.roles.push_back({"recording", pki.ca.string(), 2048, false, std::chrono::hours(24), {}, false, {}, {}});
  cfg.roles.push_back({"management", pki.ca.string(), 2048, false, std::chrono::hours(24), {}, false, {}, {}});
  cfg.roles.push_back({"spare", pki.other_ca.string(), 2048, false, std::chrono::hours(24), {}, false, {}, {}});
  config::route_config rec;
  rec.name = "rec";
  rec.role = "recording";
  rec.cert = pki.rec01_cert.string();
  cfg.routes.push_back(rec);
  config::route_config uplink;
  uplink.name = "uplink";
  uplink.role = "management";
  uplink.mode = config::mode::originate;
  uplink.cert = pki.client_cert.string();
  uplink.peer_roles = {"recording"};
  cfg.routes.push_back(uplink);
  return cfg;
}

tls::cert_info leaf_of(const std::filesystem::path& file) {
  std::string error;
  const auto certs = tls::load_certificates(file.string(), error);
  EXPECT_FALSE(certs.empty()) << error;
  return tls::inspect(certs.front().get());
}

TEST(MetricsExport, CertificateInventoryCoversOwnClientAndCaCertificates) {
  const auto certs = collect_certificates(pki_config());
  auto find = [&](std::string_view route, std::string_view usage, std::string_view role) {
    for (const auto& c : certs)
      if (c.route == route && c.usage == usage && c.role == role) return &c;
    return static_cast<const certificate_record*>(nullptr);
  };
  const auto* server = find("rec", "server", "recording");
  ASSERT_NE(server, nullptr);
  EXPECT_EQ(server->not_after, leaf_of(test::shared_pki().rec01_cert).not_after);
  EXPECT_EQ(server->serial, leaf_of(test::shared_pki().rec01_cert).serial);
  EXPECT_NE(find("rec", "ca", "recording"), nullptr);
  EXPECT_NE(find("uplink", "client", "management"), nullptr);
  EXPECT_NE(find("uplink", "ca", "management"), nullptr);
  EXPECT_NE(find("uplink", "ca", "recording"), nullptr);  // the peer role's CA verifies the upstream
  EXPECT_NE(find("", "ca", "spare"), nullptr);             // configured, used by no route
}

TEST(MetricsExport, ExpiryGaugeIsNotAfterInSeconds) {
  const auto certs = collect_certificates(pki_config());
  const std::string text = render_metrics({}, certs, reload_stats{});
  const auto info = leaf_of(test::shared_pki().rec01_cert);
  const std::string series = R"(vmsgate_certificate_expiry_timestamp_seconds{route="rec",role="recording",)"
                             R"(usage="server",subject=")" + info.subject + R"(",serial=")" + info.serial + "\"}";
  const auto seconds = std::chrono::duration_cast<std::chrono::seconds>(info.not_after.time_since_epoch()).count();
  EXPECT_EQ(sample(text, series), static_cast<double>(seconds)) << text;
}

TEST(MetricsExport, ExpiringCertificatesAreLoggedOncePerCertificate) {
  const auto certs = collect_certificates(pki_config());
  const auto now = std::chrono::system_clock::now();
  EXPECT_EQ(log_expiring(certs, now), 0u);
  // The test certificates live 30 days, beyond the 1-day warning window set above.
  // Far in the future every certificate is inside its warning window; the shared
  // CA appears under three routes and roles but is logged once.
  const auto later = now + std::chrono::hours(24 * 365 * 200);
  EXPECT_EQ(log_expiring(certs, later), 4u);  // rec01, client, CA, other CA
}

TEST(MetricsExport, PromtoolAcceptsTheOutput) {
  const std::vector<route_record> routes{two_worker_route("rec")};
  reload_stats reloads;
  reloads.record_success();
  const std::string text = render_metrics(routes, collect_certificates(pki_config()), reloads);
  test::temp_dir dir;
  const auto file = dir.write_file("metrics.txt", text);
  const auto r = test::run_command("promtool check metrics < " + test::shell_quote(file.string()));
  EXPECT_EQ(r.code(), 0) << r.out << r.err << "\n" << text;
}

}  // namespace
}  // namespace vmsgate::app
