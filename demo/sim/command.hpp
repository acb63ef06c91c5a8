#pragma once
// `vmsgate simulate recording|management|mobile|client ...`: the simulators as
// processes, for the demo, the namespace site test and the Docker site.

namespace vmsgate::sim {

// Arguments after "simulate"; returns the exit status (servers run until SIGINT or
// SIGTERM and exit 0; a client exits 0 when its check passed, 1 when not, 2 on bad
// arguments).
int simulate_main(int argc, char** argv);

}  // namespace vmsgate::sim
