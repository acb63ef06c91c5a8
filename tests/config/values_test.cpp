// Tables for the scalar syntaxes: durations and endpoints, without any YAML.

#include <gtest/gtest.h>

#include <chrono>
#include <limits>
#include <string>

#include "proxy/config/config.hpp"

namespace vmsgate::config {
namespace {

using std::chrono::milliseconds;

struct duration_case {
  const char* text;
  long long ms;
};

class duration_ok : public ::testing::TestWithParam<duration_case> {};

TEST_P(duration_ok, parses) {
  const auto parsed = parse_duration(GetParam().text);
  ASSERT_TRUE(parsed.has_value()) << GetParam().text;
  EXPECT_EQ(parsed->count(), GetParam().ms) << GetParam().text;
}

INSTANTIATE_TEST_SUITE_P(table, duration_ok,
                         ::testing::Values(duration_case{"250ms", 250}, duration_case{"0ms", 0},
                                           duration_case{"10s", 10'000}, duration_case{"5m", 300'000},
                                           duration_case{"1h", 3'600'000}, duration_case{"30d", 2'592'000'000},
                                           duration_case{"45", 45'000}, duration_case{"0", 0},
                                           duration_case{"007s", 7'000}));

class duration_bad : public ::testing::TestWithParam<const char*> {};

TEST_P(duration_bad, is_rejected) { EXPECT_FALSE(parse_duration(GetParam()).has_value()) << GetParam(); }

INSTANTIATE_TEST_SUITE_P(table, duration_bad,
                         ::testing::Values("", "-5s", "+5s", "s", "10 s", " 10s", "10s ", "1.5h", "10sec", "10S",
                                           "5w", "1h30m", "abc", "99999999999999999999", "999999999999999d",
                                           "9223372036854776s"));

TEST(duration, largest_value_that_fits_is_accepted) {
  const auto parsed = parse_duration("9223372036854775807ms");
  ASSERT_TRUE(parsed.has_value());
  EXPECT_EQ(parsed->count(), std::numeric_limits<milliseconds::rep>::max());
}

struct endpoint_case {
  const char* text;
  const char* host;
  int port;
  const char* str;
};

class endpoint_ok : public ::testing::TestWithParam<endpoint_case> {};

TEST_P(endpoint_ok, parses_and_prints_back) {
  std::string why;
  const auto parsed = parse_endpoint(GetParam().text, &why);
  ASSERT_TRUE(parsed.has_value()) << GetParam().text << ": " << why;
  EXPECT_EQ(parsed->host, GetParam().host);
  EXPECT_EQ(parsed->port, GetParam().port);
  EXPECT_EQ(parsed->str(), GetParam().str);
}

INSTANTIATE_TEST_SUITE_P(
    table, endpoint_ok,
    ::testing::Values(endpoint_case{"127.0.0.1:9473", "127.0.0.1", 9473, "127.0.0.1:9473"},
                      endpoint_case{"*:443", "0.0.0.0", 443, "0.0.0.0:443"},
                      endpoint_case{"0.0.0.0:0", "0.0.0.0", 0, "0.0.0.0:0"},
                      endpoint_case{"[::1]:443", "::1", 443, "[::1]:443"},
                      endpoint_case{"[::]:65535", "::", 65535, "[::]:65535"},
                      endpoint_case{"[2001:db8::7]:8443", "2001:db8::7", 8443, "[2001:db8::7]:8443"},
                      endpoint_case{"mgmt01.example.local:9443", "mgmt01.example.local", 9443,
                                    "mgmt01.example.local:9443"},
                      endpoint_case{"localhost:1", "localhost", 1, "localhost:1"},
                      endpoint_case{"rec_01.site.:80", "rec_01.site.", 80, "rec_01.site.:80"}));

struct endpoint_bad_case {
  const char* text;
  const char* why_contains;
};

class endpoint_bad : public ::testing::TestWithParam<endpoint_bad_case> {};

TEST_P(endpoint_bad, is_rejected_with_a_reason) {
  std::string why;
  EXPECT_FALSE(parse_endpoint(GetParam().text, &why).has_value()) << GetParam().text;
  EXPECT_NE(why.find(GetParam().why_contains), std::string::npos) << GetParam().text << ": " << why;
}

INSTANTIATE_TEST_SUITE_P(
    table, endpoint_bad,
    ::testing::Values(endpoint_bad_case{"", "expected host:port"},
                      endpoint_bad_case{"127.0.0.1", "port is missing"},
                      endpoint_bad_case{":443", "host is missing"},
                      endpoint_bad_case{"127.0.0.1:", "port must be a number"},
                      endpoint_bad_case{"127.0.0.1:65536", "port must be a number"},
                      endpoint_bad_case{"127.0.0.1:-1", "port must be a number"},
                      endpoint_bad_case{"127.0.0.1:http", "port must be a number"},
                      endpoint_bad_case{"::1:443", "in brackets"},
                      endpoint_bad_case{"[::1]443", "[IPv6 address]:port"},
                      endpoint_bad_case{"[::1:443", "[IPv6 address]:port"},
                      endpoint_bad_case{"[10.0.0.1]:443", "not a valid IPv6 address"},
                      endpoint_bad_case{"10.0.0.300:443", "not a valid IP address or host name"},
                      endpoint_bad_case{"bad host:443", "not a valid IP address or host name"},
                      endpoint_bad_case{"-rec.example:443", "not a valid IP address or host name"},
                      endpoint_bad_case{"a..b:443", "not a valid IP address or host name"},
                      endpoint_bad_case{"**:443", "not a valid IP address or host name"}));

TEST(endpoint, why_is_optional) { EXPECT_FALSE(parse_endpoint("nonsense").has_value()); }

TEST(endpoint, str_brackets_only_ipv6) {
  EXPECT_EQ((endpoint{"::1", 443}).str(), "[::1]:443");
  EXPECT_EQ((endpoint{"10.1.2.3", 0}).str(), "10.1.2.3:0");
  EXPECT_EQ((endpoint{"host.example", 80}).str(), "host.example:80");
}

TEST(error, str_has_file_line_column_key_and_message) {
  const error with_key{{"site.yaml", 12, 5}, "routes[1].listen", "bad"};
  EXPECT_EQ(with_key.str(), "site.yaml:12:5: routes[1].listen: bad");
  const error without_key{{"site.yaml", 0, 0}, "", "cannot read"};
  EXPECT_EQ(without_key.str(), "site.yaml:0:0: cannot read");
}

}  // namespace
}  // namespace vmsgate::config
