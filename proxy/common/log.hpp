#pragma once
// Structured logging: one JSON object per line on stderr, written with a single
// write(2) so that lines from different worker threads never interleave.
//
// While an async_writer exists (`vmsgate run` holds one), a line is handed to one
// writer thread through a bounded queue instead: a worker never waits on a slow
// log reader (a stalled journald, a full pipe), and when the queue is full a line is
// dropped and counted (dropped_lines(), vmsgate_log_lines_dropped_total); the writer
// then logs how many were lost. Without one, lines are written at once.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

namespace vmsgate::log {

enum class level { debug, info, warning, error };

// Builds one log line; the line is written when the object is destroyed, so the
// usual form is a temporary: log::line(level::info, "listening").field("route", r);
class line {
 public:
  line(level lvl, std::string_view event);
  ~line();
  line(const line&) = delete;
  line& operator=(const line&) = delete;

  line& field(std::string_view key, std::string_view value);
  line& field(std::string_view key, const char* value) { return field(key, std::string_view(value)); }
  line& field(std::string_view key, const std::string& value) { return field(key, std::string_view(value)); }
  line& field(std::string_view key, std::int64_t value);
  line& field(std::string_view key, std::uint64_t value);
  line& field(std::string_view key, int value) { return field(key, static_cast<std::int64_t>(value)); }
  line& field(std::string_view key, unsigned value) { return field(key, static_cast<std::uint64_t>(value)); }
  line& field(std::string_view key, double value);
  line& field(std::string_view key, bool value);

 private:
  void key(std::string_view k);
  std::string text_;
};

// Appends `s` to `out` as the body of a JSON string (without the quotes).
void append_json_escaped(std::string& out, std::string_view s);

// Lines below this level are dropped; set once at start-up.
void set_min_level(level lvl);

// Lines dropped because the async writer's queue was full, since start.
std::uint64_t dropped_lines();

class async_writer {
 public:
  // `max_queued_bytes`: lines waiting beyond this are dropped.
  explicit async_writer(std::size_t max_queued_bytes = 1 << 20);
  // Writes what is queued (waiting up to `drain_timeout` for a slow reader), then
  // lines go straight to stderr again. Destroy it only once no other thread logs
  // (`run` does so after joining its workers).
  ~async_writer();
  async_writer(const async_writer&) = delete;
  async_writer& operator=(const async_writer&) = delete;

  static constexpr std::chrono::milliseconds drain_timeout{2000};

  struct state;  // log.cpp

 private:
  state* state_;
  std::thread thread_;
};

}  // namespace vmsgate::log
