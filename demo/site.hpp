#pragma once
// The pieces of `vmsgate demo`: the site's ports, the gateway configurations, and
// the child processes (simulators and gateways) with their log files.

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

namespace vmsgate::demo {

// Every port of the demo site, on 127.0.0.1; `offset` moves them all, so a second
// demo (or a test) can run beside the first.
struct site_ports {
  explicit site_ports(int offset = 0);
  int mgmt_http, mgmt_link, rec01, rec02, mobile;     // the simulated legacy servers, plain
  int mgmt_web_tls, mgmt_link_tls, rec_tls, mobile_tls;  // the gateways' TLS listeners
  int uplink;                                         // the originate route's plain listener
  int admin_mgmt, admin_rec, admin_mobile;            // the gateways' admin endpoints
};

// One gateway configuration per host role; paths are relative to the PKI's parent.
std::string management_gateway_yaml(const site_ports& p);
std::string recording_gateway_yaml(const site_ports& p, bool with_uplink);
std::string mobile_gateway_yaml(const site_ports& p);

// A process the demo started, its stderr going to `log`.
struct child {
  std::string name;
  pid_t pid = -1;
  std::filesystem::path log;
};

// Starts `exe args...` with stdout and stderr appended to `log`, signals unblocked,
// and SIGTERM sent to it should the demo die first. Throws std::runtime_error.
child spawn(const std::string& name, const std::string& exe, const std::vector<std::string>& args,
            const std::filesystem::path& log);

// Waits until the child's log has a line with `needle`; false (with `why`) when the
// child exits or the timeout passes first.
bool wait_for_log(const child& c, std::string_view needle, std::chrono::milliseconds timeout, std::string& why);

// SIGTERM to each running child, then waits up to `grace` for all before SIGKILL.
void stop_all(std::vector<child>& children, std::chrono::milliseconds grace);

// The last lines of a log, for an error message.
std::string log_tail(const std::filesystem::path& log, std::size_t lines = 8);

}  // namespace vmsgate::demo
