// log::line: the JSON text of a line, as written to stderr.
#include "proxy/common/log.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <limits>
#include <algorithm>
#include <optional>
#include <string>
#include <thread>

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

// Issue 32, finding 8: each line was a blocking write(2) on the worker that logged
// it, so a log reader that stopped reading stalled that worker's streams. With the
// async writer (as `vmsgate run` has it), a thread that logs never waits for the
// reader: past the queue's bound, lines are dropped and counted, and the writer
// reports how many once the reader is back.
TEST(AsyncWriter, AStalledReaderNeverBlocksTheLoggingThreadAndDropsAreCounted) {
  std::fflush(stderr);
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const int saved = ::dup(STDERR_FILENO);
  ::dup2(fds[1], STDERR_FILENO);
  const std::uint64_t dropped_before = vmsgate::log::dropped_lines();
  std::optional<vmsgate::log::async_writer> writer(std::in_place, 16 * 1024);
  // Nobody reads the pipe: its 64 KiB and the 16 KiB queue fill, then lines drop.
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 5000; ++i) line(level::info, "flood").field("n", i).field("pad", std::string(100, 'x'));
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_LT(took, std::chrono::seconds(5)) << "logging waited for the reader";
  EXPECT_GT(vmsgate::log::dropped_lines(), dropped_before) << "750 KB fit in 80 KB, yet no line was dropped";

  // The reader comes back: what was queued, then the drop report, arrive.
  std::string out;
  std::thread reader([&] {
    char buf[65536];
    for (ssize_t n; (n = ::read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<std::size_t>(n));
  });
  // Once the reader has caught up (the queue held 16 KiB), a new line is written.
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  line(level::info, "after");
  writer.reset();  // drains
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  ::close(fds[1]);  // the pipe's last writer: the reader sees its end
  reader.join();
  ::close(fds[0]);
  EXPECT_NE(out.find("\"event\":\"log_lines_dropped\""), std::string::npos) << out.substr(0, 300);
  EXPECT_NE(out.find("\"event\":\"after\""), std::string::npos);
  // Every line that was written is whole: the drops are whole lines.
  std::size_t lines = 0;
  for (std::size_t pos = 0; (pos = out.find('\n', pos)) != std::string::npos; ++pos) ++lines;
  EXPECT_EQ(out.back(), '\n');
  EXPECT_EQ(lines, static_cast<std::size_t>(std::count(out.begin(), out.end(), '{')));
}
