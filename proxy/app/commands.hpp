#pragma once
// Entry points of the subcommands; each returns the process exit status of CONTRACT.md.

namespace vmsgate::app {

// SIGHUP, SIGTERM and SIGINT are blocked from the first line of main, so that none
// can kill the process (or be lost) while `run` is still starting: `run` keeps them
// pending until it is ready, then handles them (a SIGHUP sent during start-up is a
// reload right after it, a SIGTERM a drain). Every other command gives them back at
// once. Threads started meanwhile inherit the block, so only the control thread
// ever takes them.
void hold_stop_signals();
void release_stop_signals();

// `run` makes the process non-dumpable before it reads a key (no core dump, no
// ptrace or /proc/PID/mem by the same user); VMSGATE_CORE_DUMPS=1 keeps it dumpable
// for debugging a crash, and says so in the log.
bool core_dumps_wanted();
void keep_secrets_out_of_core_dumps();

int run_main(const char* config_path);
int check_main(const char* config_path);
// `certs`: every certificate and CRL the configuration uses; 0, or 2 when the
// configuration is invalid.
int certs_main(const char* config_path, bool json);
int demo_main(int port_offset);

}  // namespace vmsgate::app
