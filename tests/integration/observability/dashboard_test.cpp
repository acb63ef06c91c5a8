// The Grafana dashboard and the alerting rules against a real Prometheus (Debian's
// `prometheus`) scraping a running gateway that carried traffic (issue 27): every
// panel's expression, with the dashboard's variables set to "All", must evaluate
// without error and return series; so must every variable's query; and the rules
// load and evaluate (an alert goes pending). A panel whose metric was renamed, or
// whose PromQL is broken, fails here.

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/src.hpp>  // Boost.JSON compiled into this test alone
#include <fstream>
#include <sstream>
#include <thread>
#include <variant>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/process.hpp"

namespace vmsgate::test {
namespace {

namespace json = boost::json;

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

std::string url_encode(std::string_view s) {
  static const char hex[] = "0123456789ABCDEF";
  std::string out;
  for (const unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

// Grafana's variables as "All", and its rate interval, in a panel expression.
std::string with_variables(std::string expr) {
  const std::pair<std::string, std::string> vars[] = {
      {"$__rate_interval", "15s"}, {"$route", ".*"}, {"$instance", ".*"}, {"$job", ".*"}};
  for (const auto& [name, value] : vars)
    for (std::size_t at; (at = expr.find(name)) != std::string::npos;) expr.replace(at, name.size(), value);
  return expr;
}

// Grafana's label_values(METRIC, LABEL) as the PromQL that finds the same values.
std::string variable_query(const std::string& q) {
  const auto open = q.find('(');
  const auto comma = q.rfind(',');
  const auto close = q.rfind(')');
  const std::string metric = q.substr(open + 1, comma - open - 1);
  std::string label = q.substr(comma + 1, close - comma - 1);
  label.erase(0, label.find_first_not_of(' '));
  return "count by (" + label + ") (" + with_variables(metric) + ")";
}

class prometheus_server {
 public:
  prometheus_server(const temp_dir& dir, std::uint16_t admin_port) : port_(free_port()) {
    const std::string rules = std::string(VMSGATE_SOURCE_DIR) + "/deploy/prometheus/vmsgate-alerts.yml";
    const auto cfg = dir.write_file("prometheus.yml", "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                                                      "rule_files: [" + rules + "]\n"
                                                      "scrape_configs:\n  - job_name: vmsgate\n"
                                                      "    static_configs:\n      - targets: [\"127.0.0.1:" +
                                                          std::to_string(admin_port) + "\"]\n");
    proc_ = std::make_unique<process>(std::vector<std::string>{
        "/usr/bin/prometheus", "--config.file=" + cfg.string(), "--storage.tsdb.path=" + (dir.path() / "data").string(),
        "--web.listen-address=127.0.0.1:" + std::to_string(port_), "--log.level=warn"});
  }
  bool wait_ready(std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (http_get(port_, "/-/ready", nullptr, 2s) == 200) return true;
      std::this_thread::sleep_for(200ms);
    }
    return false;
  }
  // An instant query; the parsed "data.result" array, or an error text.
  std::variant<json::array, std::string> query(const std::string& promql) {
    std::string body;
    const int status = http_get(port_, "/api/v1/query?query=" + url_encode(promql), &body, 10s);
    if (status != 200) return "HTTP " + std::to_string(status) + ": " + body;
    json::error_code ec;
    const json::value v = json::parse(body, ec);
    if (ec || !v.is_object() || v.at("status") != "success") return "bad answer: " + body;
    return v.at("data").at("result").as_array();
  }
  std::string log() const {
    std::string targets;
    http_get(port_, "/api/v1/targets", &targets, 5s);
    return proc_->stderr_text() + "\ntargets: " + targets;
  }

 private:
  std::uint16_t port_;
  std::unique_ptr<process> proc_;
};

TEST(Dashboard, EveryPanelAndVariableReturnsSeriesFromALiveGateway) {
  ASSERT_EQ(::access("/usr/bin/prometheus", X_OK), 0) << "prometheus missing (apt-get install prometheus)";
  echo_server echo;
  gateway_config cfg;
  // A dead backend first: failures and failovers have series too.
  cfg.backends = {"127.0.0.1:" + std::to_string(closed_port()), echo.address()};
  std::string yaml = cfg.yaml();
  // A warning window longer than any certificate: the expiry alert goes pending.
  yaml.insert(yaml.find("\nroutes:"), "\n    expiry_warning: 36500d");
  gateway gw(yaml);
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  temp_dir dir("vmsgate-dashboard");
  prometheus_server prom(dir, gw.admin_port());
  ASSERT_TRUE(prom.wait_ready(30s)) << prom.log();

  // Traffic: handshakes with bytes both ways, and one connection left open.
  for (int i = 0; i < 5; ++i) {
    tls_client c;
    ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error();
    ASSERT_TRUE(echo_transfer(c, 64 * 1024, static_cast<std::uint64_t>(i)).ok);
  }
  tls_client open;
  ASSERT_TRUE(open.connect(gw.port("rec"), rec01_client())) << open.error();
  // Prometheus hands its first targets to the scraper after about 5 s; then a few
  // scrapes and rule evaluations.
  const auto until = std::chrono::steady_clock::now() + 30s;
  bool scraped = false;
  while (!scraped && std::chrono::steady_clock::now() < until) {
    const auto up = prom.query("up == 1");
    scraped = std::holds_alternative<json::array>(up) && !std::get<json::array>(up).empty();
    if (!scraped) std::this_thread::sleep_for(250ms);
  }
  ASSERT_TRUE(scraped) << "Prometheus never scraped the gateway\n" << prom.log();
  std::this_thread::sleep_for(4s);

  const json::value dashboard = json::parse([] {
    std::ifstream in(std::string(VMSGATE_SOURCE_DIR) + "/docker/grafana/vmsgate-dashboard.json");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }());
  int checked = 0;
  for (const auto& var : dashboard.at("templating").at("list").as_array()) {
    if (var.at("type") != "query") continue;
    const std::string q = json::value_to<std::string>(var.at("query").at("query"));
    const auto r = prom.query(variable_query(q));
    ASSERT_TRUE(std::holds_alternative<json::array>(r)) << q << ": " << std::get<std::string>(r);
    EXPECT_FALSE(std::get<json::array>(r).empty()) << "variable " << var.at("name") << " has no values: " << q;
    ++checked;
  }
  for (const auto& panel : dashboard.at("panels").as_array()) {
    for (const auto& target : panel.at("targets").as_array()) {
      const std::string expr = with_variables(json::value_to<std::string>(target.at("expr")));
      const auto r = prom.query(expr);
      ASSERT_TRUE(std::holds_alternative<json::array>(r))
          << "panel \"" << panel.at("title") << "\": " << expr << "\n" << std::get<std::string>(r);
      EXPECT_FALSE(std::get<json::array>(r).empty())
          << "panel \"" << panel.at("title") << "\" shows nothing: " << expr;
      ++checked;
    }
  }
  EXPECT_GE(checked, 18);
  ::testing::Test::RecordProperty("expressions_checked", checked);

  // The rules loaded and evaluate against the live series.
  const auto rules = prom.query("ALERTS{alertname=\"VmsgateCertificateExpiringSoon\"}");
  ASSERT_TRUE(std::holds_alternative<json::array>(rules));
  EXPECT_FALSE(std::get<json::array>(rules).empty()) << "the expiry alert is not pending\n" << prom.log();
}

}  // namespace
}  // namespace vmsgate::test
