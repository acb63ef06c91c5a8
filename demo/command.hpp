#pragma once
// `vmsgate demo`: a throwaway site on 127.0.0.1 (PKI, simulated servers and a
// gateway per role as child processes) until Ctrl-C.

namespace vmsgate::demo {

// Every port the demo listens on is moved by `port_offset`; the process exit status.
int demo_main(int port_offset);

}  // namespace vmsgate::demo
