#include "proxy/app/check.hpp"

#include <cstdio>

#include "proxy/app/commands.hpp"

namespace vmsgate::app {

// Interim: the policy engine of issue 4 replaces this.
std::vector<finding> check_config(const config::config&) { return {}; }

int check_main(const char* config_path) {
  const auto loaded = config::load_file(config_path);
  for (const auto& e : loaded.errors) std::fprintf(stderr, "%s\n", e.str().c_str());
  if (!loaded.cfg) return 2;
  std::printf("0 errors, 0 warnings\n");
  return 0;
}

int pki_main(int, char**) {
  std::fputs("vmsgate pki: not yet available\n", stderr);
  return 1;
}

}  // namespace vmsgate::app
