// A real Prometheus server (Debian's /usr/bin/prometheus) scrapes vmsgate's admin
// endpoint: its HTTP API must report the target up and return a vmsgate series.

#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <thread>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

constexpr const char* prometheus_binary = "/usr/bin/prometheus";

std::string scrape_config(std::uint16_t admin_port) {
  return "global:\n"
         "  scrape_interval: 1s\n"
         "  evaluation_interval: 1s\n"
         "scrape_configs:\n"
         "  - job_name: vmsgate\n"
         "    static_configs:\n"
         "      - targets: [\"127.0.0.1:" + std::to_string(admin_port) + "\"]\n";
}

// Polls `target` on Prometheus until the body contains `needle`; the last body.
bool wait_for_body(std::uint16_t port, const std::string& target, const std::string& needle,
                   std::chrono::milliseconds timeout, std::string& body) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (http_get(port, target, &body) == 200 && body.find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(250ms);
  }
  return false;
}

TEST(MetricsPrometheus, RealPrometheusScrapesTheAdminEndpoint) {
  if (!std::filesystem::exists(prometheus_binary)) FAIL() << "prometheus is not installed (scripts/install-deps.sh installs it)";
  echo_server echo;
  gateway_config cfg;
  cfg.backends = {echo.address()};
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  temp_dir dir("vmsgate-prometheus");
  const auto config = dir.write_file("prometheus.yml", scrape_config(gw.admin_port()));
  const std::uint16_t web = closed_port();
  process prom({prometheus_binary, "--config.file=" + config.string(),
                "--storage.tsdb.path=" + (dir.path() / "data").string(),
                "--web.listen-address=127.0.0.1:" + std::to_string(web), "--log.level=warn"});

  std::string body;
  ASSERT_TRUE(wait_for_body(web, "/api/v1/targets", R"("health":"up")", 30s, body))
      << body << "\n" << prom.stderr_text();
  ASSERT_TRUE(wait_for_body(web, "/api/v1/query?query=vmsgate_build_info", R"("__name__":"vmsgate_build_info")", 15s,
                            body))
      << body << "\n" << prom.stderr_text();
  EXPECT_NE(body.find(R"("version":")" VMSGATE_VERSION "\""), std::string::npos) << body;

  prom.send_signal(SIGTERM);
  const auto status = prom.wait_for_exit(20s);
  EXPECT_TRUE(status) << "prometheus did not stop on SIGTERM";
}

}  // namespace
}  // namespace vmsgate::test
