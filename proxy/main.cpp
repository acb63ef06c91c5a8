// The command line of CONTRACT.md: run, check, pki, demo, --version.

#include <openssl/opensslv.h>
#include <openssl/crypto.h>

#include <boost/version.hpp>

#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

#include "proxy/app/commands.hpp"
#include "proxy/sim/command.hpp"

namespace {

int usage(FILE* out) {
  std::fputs(
      "usage:\n"
      "  vmsgate run --config FILE        run the gateway in the foreground\n"
      "  vmsgate check --config FILE      check the config and every certificate against its role's policy\n"
      "  vmsgate pki init --dir DIR [--name CN] [--bits N] [--days N]\n"
      "  vmsgate pki issue --dir DIR --role ROLE --host NAME [--host NAME...] [--ip ADDR...] [--client]\n"
      "                    [--bits N] [--days N] [--force]\n"
      "  vmsgate demo                     a throwaway site: PKI, simulated servers, gateways\n"
      "  vmsgate simulate recording|management|mobile|client ...   simulated legacy servers and checking clients\n"
      "  vmsgate --version\n",
      out);
  return out == stdout ? 0 : 2;
}

int version() {
  std::printf("vmsgate %s\nOpenSSL %s\nBoost %d.%d.%d\n", VMSGATE_VERSION, OpenSSL_version(OPENSSL_VERSION_STRING),
              BOOST_VERSION / 100000, BOOST_VERSION / 100 % 1000, BOOST_VERSION % 100);
  return 0;
}

// Finds `--config FILE` (or `--config=FILE`) among the arguments after the command.
const char* config_arg(int argc, char** argv) {
  for (int i = 2; i < argc; ++i) {
    if (std::strcmp(argv[i], "--config") == 0 && i + 1 < argc) return argv[i + 1];
    if (std::strncmp(argv[i], "--config=", 9) == 0) return argv[i] + 9;
  }
  return nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  vmsgate::app::hold_stop_signals();
  const std::string_view cmd = argc < 2 ? "" : argv[1];
  if (cmd != "run") vmsgate::app::release_stop_signals();
  if (argc < 2) return usage(stderr);
  if (cmd == "--version" || cmd == "version") return version();
  if (cmd == "--help" || cmd == "-h" || cmd == "help") return usage(stdout);
  if (cmd == "run" || cmd == "check") {
    const char* path = config_arg(argc, argv);
    if (path == nullptr) {
      std::fprintf(stderr, "vmsgate %s: --config FILE is required\n", argv[1]);
      return 2;
    }
    return cmd == "run" ? vmsgate::app::run_main(path) : vmsgate::app::check_main(path);
  }
  if (cmd == "pki") return vmsgate::app::pki_main(argc - 2, argv + 2);
  if (cmd == "demo") return vmsgate::app::demo_main(argc - 2, argv + 2);
  if (cmd == "simulate") return vmsgate::sim::simulate_main(argc - 2, argv + 2);
  std::fprintf(stderr, "vmsgate: unknown command '%s'\n", argv[1]);
  return usage(stderr);
}
