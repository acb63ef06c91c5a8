#include "proxy/common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <ctime>

namespace vmsgate::log {
namespace {

std::atomic<level> min_level{level::info};

const char* level_name(level lvl) {
  switch (lvl) {
    case level::debug: return "debug";
    case level::info: return "info";
    case level::warning: return "warning";
    case level::error: return "error";
  }
  return "info";
}

// RFC 3339 UTC time with milliseconds, the form log collectors parse without help.
void append_timestamp(std::string& out) {
  const auto now = std::chrono::system_clock::now();
  const auto secs = std::chrono::system_clock::to_time_t(now);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[40];
  const int n = std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  out.append(buf, static_cast<std::size_t>(n));
}

}  // namespace

void set_min_level(level lvl) { min_level.store(lvl, std::memory_order_relaxed); }

void append_json_escaped(std::string& out, std::string_view s) {
  for (const char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(c)));
          out += buf;
        } else {
          out += c;
        }
    }
  }
}

line::line(level lvl, std::string_view event) {
  if (lvl < min_level.load(std::memory_order_relaxed)) return;
  text_.reserve(256);
  text_ += "{\"ts\":\"";
  append_timestamp(text_);
  text_ += "\",\"level\":\"";
  text_ += level_name(lvl);
  text_ += "\",\"event\":\"";
  append_json_escaped(text_, event);
  text_ += '"';
}

line::~line() {
  if (text_.empty()) return;
  text_ += "}\n";
  const char* p = text_.data();
  std::size_t left = text_.size();
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // Nowhere left to report a broken stderr.
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

void line::key(std::string_view k) {
  text_ += ",\"";
  append_json_escaped(text_, k);
  text_ += "\":";
}

line& line::field(std::string_view k, std::string_view value) {
  if (text_.empty()) return *this;
  key(k);
  text_ += '"';
  append_json_escaped(text_, value);
  text_ += '"';
  return *this;
}

line& line::field(std::string_view k, std::int64_t value) {
  if (text_.empty()) return *this;
  key(k);
  text_ += std::to_string(value);
  return *this;
}

line& line::field(std::string_view k, std::uint64_t value) {
  if (text_.empty()) return *this;
  key(k);
  text_ += std::to_string(value);
  return *this;
}

line& line::field(std::string_view k, double value) {
  if (text_.empty()) return *this;
  key(k);
  char buf[32];
  const int n = std::snprintf(buf, sizeof buf, "%.6f", value);
  text_.append(buf, static_cast<std::size_t>(n));
  return *this;
}

line& line::field(std::string_view k, bool value) {
  if (text_.empty()) return *this;
  key(k);
  text_ += value ? "true" : "false";
  return *this;
}

}  // namespace vmsgate::log
