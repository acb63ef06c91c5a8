// parse_server_name: the SNI read in the ClientHello callback, before OpenSSL has
// checked the extension, so every malformed shape must be caught here.

#include <gtest/gtest.h>

#include <vector>

#include "proxy/tls/client_hello.hpp"

namespace vmsgate::tls {
namespace {

std::vector<unsigned char> list(std::initializer_list<std::pair<unsigned char, std::string>> entries) {
  std::vector<unsigned char> body{0, 0};
  for (const auto& [type, name] : entries) {
    body.push_back(type);
    body.push_back(static_cast<unsigned char>(name.size() >> 8));
    body.push_back(static_cast<unsigned char>(name.size()));
    body.insert(body.end(), name.begin(), name.end());
  }
  body[0] = static_cast<unsigned char>((body.size() - 2) >> 8);
  body[1] = static_cast<unsigned char>(body.size() - 2);
  return body;
}

TEST(ClientHelloServerName, ReadsTheHostName) {
  const auto body = list({{0, "rec01.example.local"}});
  const auto got = parse_server_name(body);
  EXPECT_FALSE(got.malformed);
  EXPECT_EQ(got.name, "rec01.example.local");
}

TEST(ClientHelloServerName, SkipsOtherNameTypesAndTakesTheFirstHostName) {
  const auto body = list({{7, "opaque"}, {0, "rec02.example.local"}, {0, "second"}});
  const auto got = parse_server_name(body);
  EXPECT_FALSE(got.malformed);
  EXPECT_EQ(got.name, "rec02.example.local");
  const auto none = parse_server_name(list({{7, "opaque"}}));
  EXPECT_FALSE(none.malformed);
  EXPECT_FALSE(none.name);
}

TEST(ClientHelloServerName, RefusesEveryMalformedShape) {
  const auto good = list({{0, "rec01.example.local"}});
  std::vector<std::vector<unsigned char>> bad;
  bad.push_back({});                   // empty extension
  bad.push_back({0});                  // half a length
  bad.push_back({0, 0});               // empty list
  auto longer = good;
  longer[1] += 1;                      // list length past the end
  bad.push_back(longer);
  auto shorter = good;
  shorter[1] -= 1;                     // list length short of the end
  bad.push_back(shorter);
  auto name_past_end = good;
  name_past_end[4] += 1;               // name length past the end
  bad.push_back(name_past_end);
  bad.push_back(list({{0, ""}}));      // an empty host_name
  auto cut = good;
  cut.resize(4);                       // an entry cut inside its header
  cut[1] = 2;
  bad.push_back(cut);
  for (std::size_t i = 0; i < bad.size(); ++i) EXPECT_TRUE(parse_server_name(bad[i]).malformed) << "case " << i;
  // Every truncation of a good extension is refused, never read past its end.
  for (std::size_t n = 0; n < good.size(); ++n)
    EXPECT_TRUE(parse_server_name(std::span(good.data(), n)).malformed) << "cut at " << n;
}

}  // namespace
}  // namespace vmsgate::tls
