#pragma once
// `vmsgate run`, and the process set-up around it that the command line shares.

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

// Load, check, build, serve, drain; the process exit status of CONTRACT.md.
int run_main(const char* config_path);

}  // namespace vmsgate::app
