// `vmsgate check`: the configuration and every certificate against its role's
// policy, printed one finding a line; binds nothing.

#include <cstdio>

#include "proxy/commands/commands.hpp"
#include "proxy/config/config.hpp"
#include "proxy/gateway/policy_check.hpp"

namespace vmsgate::app {

int check_main(const char* config_path) {
  const auto loaded = config::load_file(config_path);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
  if (!loaded.cfg) return 2;
  const auto findings = check_config(*loaded.cfg);
  std::size_t errors = 0;
  for (const auto& f : findings) {
    std::printf("%s\n", format(f).c_str());
    if (f.level == finding::severity::error) ++errors;
  }
  std::printf("%zu errors, %zu warnings\n", errors, findings.size() - errors);
  return errors == 0 ? 0 : 1;
}

}  // namespace vmsgate::app
