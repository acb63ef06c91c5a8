#include "tests/integration/site/site_netns.hpp"

#include <unistd.h>

#include <memory>
#include <stdexcept>

namespace vmsgate::test {

namespace {
constexpr const char* ip_bin = "/usr/sbin/ip";
}

bool can_make_namespaces() {
  if (geteuid() != 0 || access(ip_bin, X_OK) != 0) return false;
  const std::string probe = "vgt-probe-" + std::to_string(getpid());
  const bool ok = run_command(std::string(ip_bin) + " netns add " + probe, 10s).code() == 0;
  run_command(std::string(ip_bin) + " netns del " + probe, 10s);
  return ok;
}

netns_site::netns_site() : prefix_("vgt" + std::to_string(getpid()) + "-") {
  switch_ns_ = prefix_ + "sw";
  namespaces_.push_back(switch_ns_);
  ip("netns add " + switch_ns_);
  ip("-n " + switch_ns_ + " link add br0 type bridge");
  ip("-n " + switch_ns_ + " link set br0 up");
}

netns_site::~netns_site() {
  for (auto it = namespaces_.rbegin(); it != namespaces_.rend(); ++it) {
    run_command(std::string(ip_bin) + " netns pids " + *it + " | xargs -r kill -9", 10s);
    run_command(std::string(ip_bin) + " netns del " + *it, 10s);
  }
}

void netns_site::ip(const std::string& args) {
  const auto r = run_command(std::string(ip_bin) + " " + args, 10s);
  if (r.code() != 0) throw std::runtime_error("ip " + args + ": " + r.err);
}

std::string netns_site::add_host(const std::string& role, int octet) {
  const std::string ns = prefix_ + role;
  namespaces_.push_back(ns);
  const std::string port = "p" + std::to_string(++links_);
  ip("netns add " + ns);
  ip("-n " + switch_ns_ + " link add " + port + " type veth peer name eth0 netns " + ns);
  ip("-n " + switch_ns_ + " link set " + port + " master br0 up");
  ip("-n " + ns + " addr add 10.99.0." + std::to_string(octet) + "/24 dev eth0");
  ip("-n " + ns + " link set eth0 up");
  ip("-n " + ns + " link set lo up");
  return ns;
}

std::unique_ptr<process> netns_site::start(const std::string& ns, std::vector<std::string> argv) const {
  std::vector<std::string> full = {ip_bin, "netns", "exec", ns};
  full.insert(full.end(), argv.begin(), argv.end());
  return std::make_unique<process>(std::move(full));
}

command_result netns_site::run(const std::string& ns, const std::string& command,
                               std::chrono::milliseconds timeout) const {
  return run_command(std::string(ip_bin) + " netns exec " + ns + " " + command, timeout);
}

}  // namespace vmsgate::test
