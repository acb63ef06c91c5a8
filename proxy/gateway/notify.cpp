#include "proxy/gateway/notify.hpp"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <string>

namespace vmsgate::app::notify {
namespace {

// STATUS= is one line: a newline in it would start another assignment.
std::string one_line(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c == '\n' || c == '\r') c = ' ';
  return out;
}

}  // namespace

void ready(std::string_view status) { sd_notify(0, ("READY=1\nSTATUS=" + one_line(status)).c_str()); }

void reloading() {
  // systemd 253 and later require the time of the request with RELOADING=1;
  // older ones ignore it.
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                    static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  sd_notify(0, ("RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=" + std::to_string(usec)).c_str());
}

void stopping() { sd_notify(0, "STOPPING=1\nSTATUS=draining"); }

void watchdog() { sd_notify(0, "WATCHDOG=1"); }

std::optional<std::chrono::microseconds> watchdog_interval() {
  std::uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return std::nullopt;
  return std::chrono::microseconds(usec / 2);
}

}  // namespace vmsgate::app::notify
