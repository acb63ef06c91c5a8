// listen_failure: the one-line reason a bind failed, with the fix for the usual cases.

#include <gtest/gtest.h>

#include "proxy/common/asio.hpp"

namespace vmsgate {
namespace {

error_code errc(boost::system::errc::errc_t e) { return boost::system::errc::make_error_code(e); }

TEST(ListenFailure, ALowPortDeniedNamesTheCapabilityAndTheSysctl) {
  const std::string why = listen_failure(errc(boost::system::errc::permission_denied), 443);
  EXPECT_TRUE(why.starts_with("Permission denied")) << why;
  EXPECT_NE(why.find("CAP_NET_BIND_SERVICE"), std::string::npos) << why;
  EXPECT_NE(why.find("net.ipv4.ip_unprivileged_port_start"), std::string::npos) << why;
  // Above 1023 a denial is something else (a security module): no such advice.
  EXPECT_EQ(listen_failure(errc(boost::system::errc::permission_denied), 8443), "Permission denied");
}

TEST(ListenFailure, AnAddressInUseOrNotHereSaysWhatToLookAt) {
  EXPECT_NE(listen_failure(errc(boost::system::errc::address_in_use), 7563).find("ss -ltnp"), std::string::npos);
  EXPECT_NE(listen_failure(errc(boost::system::errc::address_not_available), 7563).find("no interface"),
            std::string::npos);
  EXPECT_EQ(listen_failure(error_code(), 7563).find("hint"), std::string::npos);
}

}  // namespace
}  // namespace vmsgate
