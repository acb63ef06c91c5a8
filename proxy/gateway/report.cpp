#include "proxy/gateway/report.hpp"

#include "proxy/common/log.hpp"

namespace vmsgate::app {

void log_config_errors(const std::vector<config::error>& errors) {
  for (const auto& e : errors) {
    log::line(log::level::error, "config_error")
        .field("message", e.str())
        .field("file", e.where.file)
        .field("line", e.where.line)
        .field("column", e.where.column)
        .field("key", e.key);
  }
}

// Logs every finding; true when one of them forbids starting.
bool log_findings(const std::vector<finding>& findings) {
  bool fatal = false;
  for (const auto& f : findings) {
    const bool error = f.level == finding::severity::error;
    fatal = fatal || error;
    log::line(error ? log::level::error : log::level::warning, "policy")
        .field("route", f.route)
        .field("rule", f.rule)
        .field("message", f.message);
  }
  return fatal;
}


}  // namespace vmsgate::app
