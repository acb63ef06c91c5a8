// Kernel TLS: the gateway probes the kernel once at start-up, logs what it found,
// and each route's listening line names the data path its connections take. On a
// kernel without the TLS ULP (this CI machine's) the user-space path must engage and
// carry a stream byte-exact; on one with it, connections report the kernel send path.
// The test's own probe decides which of the two is expected.

#include <gtest/gtest.h>

#include <vector>

#include "proxy/tls/ktls.hpp"
#include "tests/support/backends.hpp"
#include "tests/support/gateway.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {
namespace {

using namespace std::chrono_literals;

TEST(KernelTls, DataPathFollowsWhatTheKernelOffers) {
  const tls::ktls_support kernel = tls::probe_kernel_tls();
  RecordProperty("kernel_tls", kernel.available ? "available" : "absent: " + kernel.detail);
  constexpr std::uint64_t total = 8u << 20;
  source_server source(total, 11);
  gateway_config cfg;
  cfg.backends = {source.address()};
  gateway gw(cfg.yaml());
  ASSERT_TRUE(gw.wait_ready()) << gw.log();

  const auto probed = gw.events("kernel_tls");
  ASSERT_EQ(probed.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(probed[0], "available"), kernel.available ? "true" : "false") << probed[0];
  EXPECT_EQ(json_field(probed[0], "detail"), kernel.detail) << probed[0];
  const auto listening = gw.events("listening");
  ASSERT_EQ(listening.size(), 1u) << gw.log();
  EXPECT_EQ(json_field(listening[0], "data_path"), kernel.available ? "ktls_splice" : "userspace") << listening[0];

  tls_client c;
  ASSERT_TRUE(c.connect(gw.port("rec"), rec01_client())) << c.error();
  const std::string got = c.recv_all();
  ASSERT_EQ(got.size(), total) << c.error();
  std::vector<std::uint8_t> want(total);
  fill_pattern(11, 0, want);
  EXPECT_TRUE(std::equal(want.begin(), want.end(), reinterpret_cast<const std::uint8_t*>(got.data())));
  EXPECT_EQ(c.last_end(), read_end::close_notify);
  c.close();

  const auto closed = gw.wait_for_event("connection_closed", 5s);
  ASSERT_TRUE(closed) << gw.log();
  EXPECT_EQ(json_field(*closed, "bytes_to_client"), std::to_string(total)) << *closed;
  if (kernel.available) {
    // AES-GCM, which the gateway prefers, is what the kernel encrypts.
    EXPECT_NE(json_field(*closed, "ktls").value_or("off"), "off") << *closed;
  } else {
    EXPECT_EQ(json_field(*closed, "ktls"), "off") << *closed;
  }
}

}  // namespace
}  // namespace vmsgate::test
