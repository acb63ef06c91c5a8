// The vmsgate binary: every command of CONTRACT.md, declared and dispatched by the
// commands layer (proxy/commands/command_line.cpp).

#include "proxy/commands/commands.hpp"

int main(int argc, char** argv) { return vmsgate::app::command_line_main(argc, argv); }
