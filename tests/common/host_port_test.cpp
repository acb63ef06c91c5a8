// The one spelling of an address as text: the configuration's host as written and
// the runtime's resolved endpoint must come out the same way.

#include <gtest/gtest.h>

#include "proxy/common/asio.hpp"
#include "proxy/common/host_port.hpp"

namespace vmsgate {
namespace {

TEST(HostPort, BracketsOnlyAColonHost) {
  EXPECT_EQ(format_host_port("10.1.2.3", 443), "10.1.2.3:443");
  EXPECT_EQ(format_host_port("rec01.example.local", 0), "rec01.example.local:0");
  EXPECT_EQ(format_host_port("*", 7563), "*:7563");
  EXPECT_EQ(format_host_port("::1", 65535), "[::1]:65535");
  EXPECT_EQ(format_host_port("fe80::1%lo", 80), "[fe80::1%lo]:80");
}

TEST(HostPort, EndpointLabelBracketsEveryV6Address) {
  EXPECT_EQ(endpoint_label({net::ip::make_address("127.0.0.1"), 8443}), "127.0.0.1:8443");
  EXPECT_EQ(endpoint_label({net::ip::make_address("::1"), 443}), "[::1]:443");
  EXPECT_EQ(endpoint_label({net::ip::make_address("::ffff:10.0.0.1"), 80}), "[::ffff:10.0.0.1]:80");
  EXPECT_EQ(endpoint_label({net::ip::make_address("::"), 0}), "[::]:0");
}

}  // namespace
}  // namespace vmsgate
