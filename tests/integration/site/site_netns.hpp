#pragma once
// A site in network namespaces for the site test: one namespace per host, joined
// by veth pairs to a bridge in a "switch" namespace, on 10.99.0.0/24, a range that
// exists only inside these namespaces. The guard removes every namespace it made
// (and kills what still runs in it), also when a test fails half way.

#include <string>
#include <vector>

#include "tests/support/process.hpp"

namespace vmsgate::test {

class netns_site {
 public:
  netns_site();  // makes the switch; throws std::runtime_error when ip fails
  ~netns_site();
  netns_site(const netns_site&) = delete;
  netns_site& operator=(const netns_site&) = delete;

  // Adds host `role` with address 10.99.0.`octet`/24; returns the namespace name.
  std::string add_host(const std::string& role, int octet);
  // Starts `argv` inside the host's namespace.
  std::unique_ptr<process> start(const std::string& ns, std::vector<std::string> argv) const;
  // Runs a shell command inside the host's namespace.
  command_result run(const std::string& ns, const std::string& command, std::chrono::milliseconds timeout = 30s) const;

 private:
  void ip(const std::string& args);
  std::string prefix_;
  std::string switch_ns_;
  std::vector<std::string> namespaces_;
  int links_ = 0;
};

// True when this process may create network namespaces (root, ip available).
bool can_make_namespaces();

}  // namespace vmsgate::test
