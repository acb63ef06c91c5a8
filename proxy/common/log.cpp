#include "proxy/common/log.hpp"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <utility>

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

// `v` as exactly `width` decimal digits (v < 10^width).
void append_digits(std::string& out, unsigned v, std::size_t width) {
  char buf[8];
  for (std::size_t i = width; i > 0; --i) {
    buf[i - 1] = static_cast<char>('0' + v % 10);
    v /= 10;
  }
  out.append(buf, width);
}

// RFC 3339 UTC time with milliseconds, the form log collectors parse without help.
// By calendar arithmetic: gmtime_r takes glibc's time zone lock, and snprintf costs
// more than the rest of a connection's log line.
void append_timestamp(std::string& out) {
  using namespace std::chrono;
  const auto now = time_point_cast<milliseconds>(system_clock::now());
  const auto day = floor<days>(now);
  const year_month_day date(day);
  const hh_mm_ss<milliseconds> time(now - day);
  append_digits(out, static_cast<unsigned>(static_cast<int>(date.year())) % 10000, 4);
  out += '-';
  append_digits(out, static_cast<unsigned>(date.month()), 2);
  out += '-';
  append_digits(out, static_cast<unsigned>(date.day()), 2);
  out += 'T';
  append_digits(out, static_cast<unsigned>(time.hours().count()), 2);
  out += ':';
  append_digits(out, static_cast<unsigned>(time.minutes().count()), 2);
  out += ':';
  append_digits(out, static_cast<unsigned>(time.seconds().count()), 2);
  out += '.';
  append_digits(out, static_cast<unsigned>(time.subseconds().count()), 3);
  out += 'Z';
}

std::atomic<std::uint64_t> dropped{0};

void write_all(const char* p, std::size_t left) {
  while (left > 0) {
    const ssize_t n = ::write(STDERR_FILENO, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // Nowhere left to report a broken stderr.
    p += n;
    left -= static_cast<std::size_t>(n);
  }
}

// The queue between the threads that log and the one that writes. Freed once the
// writer has drained it and ended; left allocated (on purpose) only when the writer
// is still stuck in write(2) as the process exits, which must not find it freed.
struct writer_state {
  std::mutex mutex;
  std::condition_variable wake;     // lines queued, or stop
  std::condition_variable drained;  // the queue became empty
  std::deque<std::string> queue;
  std::size_t queued_bytes = 0;
  std::size_t max_bytes = 0;
  std::uint64_t dropped_unreported = 0;
  bool writing = false;
  bool stop = false;
};

std::atomic<writer_state*> active{nullptr};

// False when the line could not be queued (the queue was full): it is dropped.
bool enqueue(writer_state& st, std::string&& text) {
  {
    std::lock_guard lock(st.mutex);
    if (st.queued_bytes + text.size() > st.max_bytes) {
      ++st.dropped_unreported;
      dropped.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    st.queued_bytes += text.size();
    st.queue.push_back(std::move(text));
  }
  st.wake.notify_one();
  return true;
}

void write_loop(writer_state* st) {
  std::unique_lock lock(st->mutex);
  for (;;) {
    st->wake.wait(lock, [st] { return !st->queue.empty() || st->dropped_unreported > 0 || st->stop; });
    if (st->queue.empty() && st->dropped_unreported == 0) {
      if (st->stop) return;
      continue;
    }
    std::deque<std::string> batch;
    batch.swap(st->queue);
    st->queued_bytes = 0;
    const std::uint64_t lost = std::exchange(st->dropped_unreported, 0);
    st->writing = true;
    lock.unlock();
    if (lost > 0) {
      std::string note = "{\"ts\":\"";
      append_timestamp(note);
      note += "\",\"level\":\"warning\",\"event\":\"log_lines_dropped\",\"count\":" + std::to_string(lost) +
              ",\"detail\":\"the log reader was too slow; lines were dropped rather than stall connections\"}\n";
      write_all(note.data(), note.size());
    }
    for (const auto& text : batch) write_all(text.data(), text.size());
    lock.lock();
    st->writing = false;
    if (st->queue.empty() && st->dropped_unreported == 0) st->drained.notify_all();
  }
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
          static constexpr char hex[] = "0123456789abcdef";
          out += "\\u00";
          out += hex[static_cast<unsigned char>(c) >> 4];
          out += hex[static_cast<unsigned char>(c) & 0xf];
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
  if (writer_state* st = active.load(std::memory_order_acquire)) {
    enqueue(*st, std::move(text_));
    return;
  }
  write_all(text_.data(), text_.size());
}

std::uint64_t dropped_lines() { return dropped.load(std::memory_order_relaxed); }

struct async_writer::state : writer_state {};

async_writer::async_writer(std::size_t max_queued_bytes) : state_(new state) {
  state_->max_bytes = max_queued_bytes;
  thread_ = std::thread(write_loop, static_cast<writer_state*>(state_));
  active.store(state_, std::memory_order_release);
}

async_writer::~async_writer() {
  active.store(nullptr, std::memory_order_release);
  bool drained = false;
  {
    std::unique_lock lock(state_->mutex);
    state_->stop = true;
    state_->wake.notify_one();
    // Lines already queued are written unless the reader stays stuck past the
    // timeout; the process then goes on (to exit) without them.
    drained = state_->drained.wait_for(lock, drain_timeout, [this] {
      return state_->queue.empty() && state_->dropped_unreported == 0 && !state_->writing;
    });
  }
  if (drained) {
    thread_.join();  // it ends at once: stop is set and nothing is queued
    delete state_;
  } else {
    thread_.detach();  // stuck in write(2): it keeps the state; see writer_state
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
  // Six decimals, as printf's "%.6f"; JSON has no infinity or NaN, and a number
  // too long for that form is written in exponent form.
  if (!std::isfinite(value)) {
    text_ += "null";
    return *this;
  }
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, value, std::chars_format::fixed, 6);
  if (r.ec != std::errc{}) r = std::to_chars(buf, buf + sizeof buf, value);
  text_.append(buf, r.ptr);
  return *this;
}

line& line::field(std::string_view k, bool value) {
  if (text_.empty()) return *this;
  key(k);
  text_ += value ? "true" : "false";
  return *this;
}

}  // namespace vmsgate::log
