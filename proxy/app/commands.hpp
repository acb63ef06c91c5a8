#pragma once
// Entry points of the subcommands; each returns the process exit status of CONTRACT.md.

namespace vmsgate::app {

int run_main(const char* config_path);
int check_main(const char* config_path);
int pki_main(int argc, char** argv);   // arguments after "pki"
int demo_main(int argc, char** argv);  // arguments after "demo"

}  // namespace vmsgate::app
