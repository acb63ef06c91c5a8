#pragma once
// The policy check of every route's certificates, shared by `check`, `run` and reload.

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

// Every finding of every route and role; no sockets are touched.
std::vector<finding> check_config(const config::config& cfg);

}  // namespace vmsgate::app
