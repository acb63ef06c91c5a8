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

int run_main(const char* config_path);
int check_main(const char* config_path);
int pki_main(int argc, char** argv);   // arguments after "pki"
int demo_main(int argc, char** argv);  // arguments after "demo"

}  // namespace vmsgate::app
