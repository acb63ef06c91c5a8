#pragma once
// Entry points of the subcommands that only read (`check`, `certs`), and the command
// line that dispatches to every command; each returns the process exit status of
// CONTRACT.md. `run` is the gateway's (proxy/gateway/run.hpp), `pki` the pki
// layer's, `demo` and `simulate` the demo's.

namespace vmsgate::app {

int check_main(const char* config_path);
// `certs`: every certificate and CRL the configuration uses; 0, or 2 when the
// configuration is invalid.
int certs_main(const char* config_path, bool json);

// The whole command line of CONTRACT.md: parses `argv`, runs the command; the
// process exit status. Called first thing in main.
int command_line_main(int argc, char** argv);

}  // namespace vmsgate::app
