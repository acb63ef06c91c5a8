#pragma once
// `vmsgate pki …` on the command line: its subcommands and options, declared with
// CLI11 (the same definitions give --help), and running the one that was parsed.

#include <CLI/CLI.hpp>

#include <chrono>
#include <optional>
#include <string_view>

#include "proxy/pki/pki.hpp"
#include "proxy/pki/renew.hpp"

namespace vmsgate::pki {

struct command_line {
  init_options init;
  issue_options issue;
  revoke_options revoke;
  crl_options crl;
  renew_options renew;
  std::string within = "30d";  // parsed into renew.within when the command runs
  CLI::App* init_cmd = nullptr;
  CLI::App* issue_cmd = nullptr;
  CLI::App* revoke_cmd = nullptr;
  CLI::App* crl_cmd = nullptr;
  CLI::App* renew_cmd = nullptr;
};

// "30d", "12h", "90m", "45s": a whole number and a unit, at most 36500 days;
// nullopt otherwise.
std::optional<std::chrono::seconds> parse_within(std::string_view text);

// Adds `pki` and its subcommands to `app`, writing into `cl`; `cl` must outlive
// the parse.
CLI::App* add_command(CLI::App& app, command_line& cl);

// Runs the pki subcommand that was parsed; the process exit status.
int run_parsed(const command_line& cl);

}  // namespace vmsgate::pki
