#pragma once
// The policy check of every route's certificates, shared by `check`, `run` and reload.

#include <chrono>
#include <string>
#include <vector>

#include "proxy/config/config.hpp"

namespace vmsgate::app {

struct finding {
  enum class severity { error, warning };
  severity level = severity::error;
  std::string route;    // route name, or "role NAME" for role-level findings such as a CA
  std::string rule;     // stable id, e.g. "name_not_covered"
  std::string message;  // plain words, naming the file and the rule broken
};

// Every finding of every route and role; no sockets are touched. Each role's CA is
// checked once (findings under "role NAME"); each route's own certificate against
// its role: a server certificate in terminate mode (required), a client
// certificate in originate mode (optional).
std::vector<finding> check_config(const config::config& cfg);
std::vector<finding> check_config(const config::config& cfg, std::chrono::system_clock::time_point now);

// "error ROUTE: message [rule]" / "warning ROUTE: message [rule]", the line format
// of `check`; the trailing rule id lets scripts match findings without parsing words.
std::string format(const finding& f);

}  // namespace vmsgate::app
