// `vmsgate demo`: a throwaway site on 127.0.0.1. A site CA and certificates made
// with the pki code, the simulated legacy servers and one gateway per host role as
// child processes (`vmsgate simulate`, `vmsgate run`: exactly what an operator
// runs), a self-check through the gateway, then the lines to try it by hand.

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "demo/command.hpp"
#include "demo/sim/client.hpp"
#include "demo/site.hpp"
#include "proxy/config/features.hpp"
#include "proxy/pki/pki.hpp"

namespace vmsgate::demo {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

struct demo_site {
  fs::path dir;
  site_ports ports;
  bool uplink = config::originate_supported;
  std::vector<child> children;
};

fs::path make_temp_dir() {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/vmsgate-demo-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("cannot make a directory like " + templ);
  return templ;
}

// Smaller keys than the pki defaults: the demo's CA lives for minutes, and a
// 2048-bit key is what the role policies require.
void make_pki(const fs::path& dir) {
  pki::init_options ca;
  ca.dir = (dir / "pki").string();
  ca.name = "vmsgate demo CA";
  ca.bits = 2048;
  ca.days = 2;
  pki::init_ca(ca);
  const auto leaf = [&](const char* role, const char* host, bool client) {
    pki::issue_options o;
    o.dir = ca.dir;
    o.role = role;
    o.hosts = {host};
    o.ips = {"127.0.0.1"};
    o.client = client;
    o.days = 2;
    pki::issue(o);
  };
  leaf("management", "mgmt01.example.local", false);
  leaf("recording", "rec01.example.local", true);  // also rec01's client certificate on the uplink
  leaf("mobile", "mobile.example.local", false);
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p);
  out << text;
  if (!out) throw std::runtime_error("cannot write " + p.string());
}

std::string self_exe() {
  std::error_code ec;
  const auto p = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find the vmsgate binary: " + ec.message());
  return p.string();
}

std::string at(int port) { return "127.0.0.1:" + std::to_string(port); }

// Starts a child and waits for its "ready"-like log line; throws with its log on failure.
void start(demo_site& s, const std::string& name, const std::vector<std::string>& args, std::string_view ready) {
  s.children.push_back(demo::spawn(name, self_exe(), args, s.dir / "logs" / (name + ".log")));
  std::string why;
  if (!demo::wait_for_log(s.children.back(), ready, 20s, why)) throw std::runtime_error(why);
}

void start_simulators(demo_site& s) {
  const auto& p = s.ports;
  start(s, "sim-management", {"simulate", "management", "--http", at(p.mgmt_http), "--link", at(p.mgmt_link)},
        "simulator_listening");
  start(s, "sim-rec02", {"simulate", "recording", "--name", "rec02", "--listen", at(p.rec02)}, "simulator_listening");
  start(s, "sim-mobile",
        {"simulate", "mobile", "--listen", at(p.mobile), "--page-info", (s.dir / "mobile-page.txt").string()},
        "simulator_listening");
}

void start_gateways(demo_site& s) {
  const auto& p = s.ports;
  write_file(s.dir / "management.yaml", demo::management_gateway_yaml(p));
  write_file(s.dir / "recording.yaml", demo::recording_gateway_yaml(p, s.uplink));
  write_file(s.dir / "mobile.yaml", demo::mobile_gateway_yaml(p));
  for (const char* role : {"management", "recording", "mobile"})
    start(s, std::string("gateway-") + role, {"run", "--config", (s.dir / (std::string(role) + ".yaml")).string()},
          "\"event\":\"ready\"");
  // rec01 comes last: its uplink goes through the recording gateway's originate
  // route when there is one, else straight to the management server as today.
  const int uplink = s.uplink ? p.uplink : p.mgmt_link;
  start(s, "sim-rec01", {"simulate", "recording", "--name", "rec01", "--listen", at(p.rec01), "--management", at(uplink)},
        "simulator_listening");
}

// Proves the site works before telling the reader to try it: a live stream through
// the recording gateway and the mobile server's picture stream through the mobile
// gateway, each verified against the demo CA and byte-checked. What the mobile check
// negotiated goes on the mobile server's page (it sees plain HTTP, not the TLS).
void self_check(const demo_site& s) {
  sim::client_options o;
  o.connect = at(s.ports.rec_tls);
  o.tls = true;
  o.ca_file = (s.dir / "pki/ca.pem").string();
  o.sni = "rec01.example.local";
  const auto r = sim::check_live(o, 1, 2s);
  if (!r.ok) throw std::runtime_error("self-check through recording-live failed: " + r.error);
  std::printf("self-check: camera 1 live from %s through recording-live over %s: %llu frames, %llu bytes, all intact\n",
              r.server.c_str(), r.tls_version.c_str(), static_cast<unsigned long long>(r.frames),
              static_cast<unsigned long long>(r.bytes));
  o.connect = at(s.ports.mobile_tls);
  o.sni = "mobile.example.local";
  const auto m = sim::check_mjpeg(o, 1, 1s);
  if (!m.ok) throw std::runtime_error("self-check through mobile failed: " + m.error);
  std::printf("self-check: camera 1 pictures from the mobile server through mobile over %s: %llu JPEG frames, all intact\n\n",
              m.tls_version.c_str(), static_cast<unsigned long long>(m.frames));
  write_file(s.dir / "mobile-page.txt",
             "route: mobile, vmsgate " VMSGATE_VERSION " (" + (s.dir / "mobile.yaml").string() + ")\n"
             "TLS: " + m.tls_version + " with the demo CA's certificate for mobile.example.local "
             "(as the demo's self-check negotiated it on this route)\n"
             "behind it: http://" + at(s.ports.mobile) + "/ in plain, on this host only\n");
}

}  // namespace

void print_guide(const fs::path& dir, const site_ports& p, bool uplink, pid_t rec01_pid);

int demo_main(int port_offset) {
  demo_site s;
  s.ports = site_ports(port_offset);
  // Block the stop signals before any child exists, then wait for them below.
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  int status = 0;
  try {
    s.dir = make_temp_dir();
    fs::create_directories(s.dir / "logs");
    fs::create_directories(s.dir / "pki");
    make_pki(s.dir);
    start_simulators(s);
    start_gateways(s);
    self_check(s);
    demo::print_guide(s.dir, s.ports, s.uplink, s.children.back().pid);
    int sig = 0;
    sigwait(&stop, &sig);
    std::puts("\nstopping: draining the gateways, stopping the simulators");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vmsgate demo: %s\n", e.what());
    status = 1;
  }
  demo::stop_all(s.children, 10s);
  std::error_code ec;
  if (!s.dir.empty()) fs::remove_all(s.dir, ec);
  return status;
}

}  // namespace vmsgate::demo
