// log::line: the JSON text of a line, as written to stderr.
#include "proxy/common/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <limits>
#include <string>

namespace {

using vmsgate::log::level;
using vmsgate::log::line;

// What `emit` writes to stderr.
std::string captured(const std::function<void()>& emit) {
  std::fflush(stderr);
  FILE* file = std::tmpfile();
  if (file == nullptr) return "no temporary file";
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(::fileno(file), STDERR_FILENO);
  emit();
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  std::string text;
  std::rewind(file);
  char buf[512];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, file)) > 0;) text.append(buf, n);
  std::fclose(file);
  return text;
}

// The line after its timestamp, which `ts` receives.
std::string after_timestamp(const std::string& text, std::string& ts) {
  const std::string head = "{\"ts\":\"";
  if (text.rfind(head, 0) != 0 || text.size() < head.size() + 25) return "no timestamp in: " + text;
  ts = text.substr(head.size(), 24);
  return text.substr(head.size() + 24);
}

TEST(LogLine, IsOneJsonObjectWithItsFieldsInOrderAndEscaped) {
  std::string ts;
  const std::string text = captured([] {
    line(level::warning, "ev\"ent")
        .field("s", std::string_view("a\x01" "b\n\t\\", 6))
        .field("i", -5)
        .field("u", 7u)
        .field("big", std::uint64_t{18446744073709551615u})
        .field("d", 1.5)
        .field("b", true);
  });
  EXPECT_EQ(after_timestamp(text, ts),
            "\",\"level\":\"warning\",\"event\":\"ev\\\"ent\",\"s\":\"a\\u0001b\\n\\t\\\\\",\"i\":-5,\"u\":7,"
            "\"big\":18446744073709551615,\"d\":1.500000,\"b\":true}\n");
}

TEST(LogLine, TimestampIsUtcWithMillisecondsAndNow) {
  std::string ts;
  const std::time_t before = std::time(nullptr);
  after_timestamp(captured([] { line(level::info, "tick"); }), ts);
  const std::time_t after = std::time(nullptr);
  ASSERT_EQ(ts.size(), 24u) << ts;
  const std::string shape = "dddd-dd-ddTdd:dd:dd.dddZ";
  for (std::size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 'd') {
      EXPECT_TRUE(ts[i] >= '0' && ts[i] <= '9') << ts;
    } else {
      EXPECT_EQ(ts[i], shape[i]) << ts;
    }
  }
  std::tm tm{};
  tm.tm_year = std::atoi(ts.substr(0, 4).c_str()) - 1900;
  tm.tm_mon = std::atoi(ts.substr(5, 2).c_str()) - 1;
  tm.tm_mday = std::atoi(ts.substr(8, 2).c_str());
  tm.tm_hour = std::atoi(ts.substr(11, 2).c_str());
  tm.tm_min = std::atoi(ts.substr(14, 2).c_str());
  tm.tm_sec = std::atoi(ts.substr(17, 2).c_str());
  const std::time_t at = ::timegm(&tm);
  EXPECT_GE(at, before) << ts;
  EXPECT_LE(at, after) << ts;
}

TEST(LogLine, NumbersAreAlwaysValidJson) {
  std::string ts;
  const std::string text = captured([] {
    line(level::error, "n")
        .field("small", 0.0000004)
        .field("neg", -12345.6789)
        .field("huge", 1e300)
        .field("inf", std::numeric_limits<double>::infinity())
        .field("nan", std::nan(""));
  });
  EXPECT_EQ(after_timestamp(text, ts),
            "\",\"level\":\"error\",\"event\":\"n\",\"small\":0.000000,\"neg\":-12345.678900,\"huge\":1e+300,"
            "\"inf\":null,\"nan\":null}\n");
}

TEST(LogLine, LinesBelowTheLevelAreNotWritten) {
  vmsgate::log::set_min_level(level::warning);
  const std::string text = captured([] {
    line(level::info, "dropped").field("x", 1);
    line(level::debug, "dropped too");
  });
  vmsgate::log::set_min_level(level::info);
  EXPECT_EQ(text, "");
}

}  // namespace
