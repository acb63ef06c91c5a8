#include "tests/support/metrics_text.hpp"

#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "tests/support/gateway.hpp"

namespace vmsgate::test {
namespace {

// Splits a sample line into its series and value; false for comments.
bool split(std::string_view line, std::string_view& series, double& value) {
  if (line.empty() || line.front() == '#') return false;
  const auto space = line.rfind(' ');
  if (space == std::string_view::npos) return false;
  series = line.substr(0, space);
  value = std::strtod(std::string(line.substr(space + 1)).c_str(), nullptr);
  return true;
}

template <typename F>
void each_line(std::string_view text, F f) {
  while (!text.empty()) {
    const auto nl = text.find('\n');
    f(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
}

}  // namespace

std::optional<double> sample(std::string_view text, std::string_view series) {
  std::optional<double> found;
  each_line(text, [&](std::string_view line) {
    std::string_view s;
    double v = 0;
    if (split(line, s, v) && s == series) found = v;
  });
  return found;
}

double sum_samples(std::string_view text, std::string_view name, std::string_view label_filter) {
  double total = 0;
  each_line(text, [&](std::string_view line) {
    std::string_view s;
    double v = 0;
    if (!split(line, s, v)) return;
    const auto brace = s.find('{');
    if (s.substr(0, brace) != name) return;
    const std::string_view labels = brace == std::string_view::npos ? std::string_view() : s.substr(brace);
    if (labels.find(label_filter) != std::string_view::npos) total += v;
  });
  return total;
}

std::string scrape(std::uint16_t admin_port) {
  std::string body;
  if (http_get(admin_port, "/metrics", &body) != 200) return {};
  return body;
}

}  // namespace vmsgate::test
