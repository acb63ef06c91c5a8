#pragma once
// `vmsgate pki …` on the command line: its subcommands and options, declared with
// CLI11 (the same definitions give --help), and running the one that was parsed.

#include <CLI/CLI.hpp>

#include "proxy/pki/pki.hpp"

namespace vmsgate::pki {

struct command_line {
  init_options init;
  issue_options issue;
  revoke_options revoke;
  crl_options crl;
  CLI::App* init_cmd = nullptr;
  CLI::App* issue_cmd = nullptr;
  CLI::App* revoke_cmd = nullptr;
  CLI::App* crl_cmd = nullptr;
};

// Adds `pki` and its subcommands to `app`, writing into `cl`; `cl` must outlive
// the parse.
CLI::App* add_command(CLI::App& app, command_line& cl);

// Runs the pki subcommand that was parsed; the process exit status.
int run_parsed(const command_line& cl);

}  // namespace vmsgate::pki
