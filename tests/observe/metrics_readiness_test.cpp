// /readyz: the pure decision with a fake clock, and the prober against loopback.

#include <gtest/gtest.h>

#include "proxy/observe/readiness.hpp"
#include "proxy/observe/route_record.hpp"
#include "tests/support/backends.hpp"

namespace vmsgate::app {
namespace {

using namespace std::chrono_literals;

const steady::time_point t0{std::chrono::hours(1000)};

TEST(Readiness, ReadyWhenAcceptingAndEveryRouteAnsweredRecently) {
  const std::vector<route_health> routes{{"rec", t0 - 3s, ""}, {"mobile", t0 - 1s, ""}};
  const auto v = decide_readiness(true, routes, t0, 10s);
  EXPECT_TRUE(v.ready);
  EXPECT_EQ(v.body, "ready\n");
  EXPECT_EQ(to_response(v).status, 200u);
}

TEST(Readiness, NotAcceptingIsNotReady) {
  const auto v = decide_readiness(false, {{"rec", t0, ""}}, t0, 10s);
  EXPECT_FALSE(v.ready);
  EXPECT_NE(v.body.find("not accepting"), std::string::npos) << v.body;
  EXPECT_EQ(to_response(v).status, 503u);
}

TEST(Readiness, OneLinePerFailingRouteWithTheReason) {
  const std::vector<route_health> routes{
      {"rec", t0 - 1s, ""},
      {"never", std::nullopt, ""},
      {"stale", t0 - 11s, ""},
      {"down", t0 - 1s, "127.0.0.1:9: Connection refused"},
  };
  const auto v = decide_readiness(true, routes, t0, 10s);
  EXPECT_FALSE(v.ready);
  EXPECT_EQ(v.body,
            "route never: no backend has answered yet\n"
            "route stale: no backend answered in the last 10s\n"
            "route down: no backend answers (127.0.0.1:9: Connection refused)\n");
}

TEST(Readiness, AnAnswerExactlyAtTheFreshnessLimitStillCounts) {
  EXPECT_TRUE(decide_readiness(true, {{"rec", t0 - 10s, ""}}, t0, 10s).ready);
}

TEST(Readiness, NoRoutesIsReadyWhileAccepting) { EXPECT_TRUE(decide_readiness(true, {}, t0, 10s).ready); }

route_record record_for(const std::string& name, std::vector<std::uint16_t> ports) {
  route_record r;
  r.name = name;
  r.role = "recording";
  for (const auto p : ports) {
    const tcp::endpoint ep(net::ip::make_address("127.0.0.1"), p);
    r.backends.push_back({ep, "127.0.0.1:" + std::to_string(p), {}});
    r.backend_labels.push_back(r.backends.back().label);
  }
  r.per_worker.push_back(std::make_shared<net_io::route_counters>(ports.size()));
  return r;
}

TEST(Readiness, ProberFindsTheFailoverThatAnswers) {
  test::echo_server echo;
  const std::vector<route_record> routes{record_for("rec", {test::closed_port(), echo.port()})};
  net::io_context ioc;
  readiness r(ioc, routes, {100ms, 1000ms});
  EXPECT_FALSE(r.verdict().ready);  // not started: not accepting, nothing probed
  r.start();
  ioc.run_for(500ms);
  const auto v = r.verdict();
  EXPECT_TRUE(v.ready) << v.body;
  r.stop();
  ioc.run_for(200ms);
  EXPECT_TRUE(ioc.stopped()) << "the prober must end at stop()";
  EXPECT_FALSE(r.verdict().ready);
}

TEST(Readiness, ProberReportsEveryRefusingBackend) {
  const std::uint16_t a = test::closed_port();
  const std::uint16_t b = test::closed_port();
  const std::vector<route_record> routes{record_for("rec", {a, b})};
  net::io_context ioc;
  readiness r(ioc, routes, {100ms, 1000ms});
  r.start();
  ioc.run_for(300ms);
  const auto v = r.verdict();
  EXPECT_FALSE(v.ready);
  EXPECT_NE(v.body.find("127.0.0.1:" + std::to_string(a) + ": "), std::string::npos) << v.body;
  EXPECT_NE(v.body.find("127.0.0.1:" + std::to_string(b) + ": "), std::string::npos) << v.body;
  r.stop();
}

TEST(Readiness, DataPathConnectsCountAsAnswers) {
  const std::vector<route_record> routes{record_for("rec", {test::closed_port()})};
  net::io_context ioc;
  readiness r(ioc, routes, {10s, 1000ms});
  r.start();
  ioc.run_for(150ms);
  EXPECT_FALSE(r.verdict().ready);
  // The worker connected a client to a backend (the probe cannot, the port is shut).
  const_cast<net_io::route_counters&>(*routes[0].per_worker[0]).backend_connect_duration.observe(0.001);
  const auto v = r.verdict();
  EXPECT_TRUE(v.ready) << v.body;
  r.stop();
}

}  // namespace
}  // namespace vmsgate::app
