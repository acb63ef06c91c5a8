// The admin endpoint of the real binary cannot be starved (issue 32, finding 2):
// held-open idle connections used to fill its 64 slots, and every /healthz probe
// after them was refused (under Kubernetes, a liveness failure and a restart that
// cuts every stream). Now the oldest idle connection yields to the new one.

#include <gtest/gtest.h>

#include <memory>
#include <vector>

#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"

namespace vmsgate::test {
namespace {

TEST(AdminBudget, TwoHundredIdleConnectionsHeldAndHealthzStillAnswers) {
  echo_server echo;
  gateway_config cfg;
  cfg.backends = {echo.address()};
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();
  std::vector<std::unique_ptr<tls_client>> idle;
  for (int i = 0; i < 200; ++i) {
    idle.push_back(std::make_unique<tls_client>());
    ASSERT_TRUE(idle.back()->connect_tcp(gw.admin_port())) << i << ": " << idle.back()->error();
  }
  for (int probe = 0; probe < 5; ++probe) {
    std::string body;
    EXPECT_EQ(http_get(gw.admin_port(), "/healthz", &body, 3s), 200) << "probe " << probe << "\n" << gw.log();
    EXPECT_EQ(body, "ok\n");
  }
  std::string metrics;
  EXPECT_EQ(http_get(gw.admin_port(), "/metrics", &metrics, 3s), 200);
  EXPECT_NE(metrics.find("vmsgate_"), std::string::npos);
  EXPECT_TRUE(gw.proc().running());
}

}  // namespace
}  // namespace vmsgate::test
