#pragma once
// Config errors and policy findings as log lines, the same at start and on reload.

#include <vector>

#include "proxy/config/config.hpp"
#include "proxy/gateway/policy_check.hpp"

namespace vmsgate::app {

void log_config_errors(const std::vector<config::error>& errors);

// Logs every finding; true when one of them forbids starting (or reloading).
bool log_findings(const std::vector<finding>& findings);

}  // namespace vmsgate::app
