// Placeholders for subcommands whose issues have not landed yet; each says so.

#include <cstdio>

#include "proxy/app/commands.hpp"

namespace vmsgate::app {

int demo_main(int, char**) {
  std::fputs("vmsgate demo: not yet available; run scripts/demo.sh for the interim demo\n", stderr);
  return 1;
}

}  // namespace vmsgate::app
