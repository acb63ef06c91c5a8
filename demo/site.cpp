#include "demo/site.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace vmsgate::demo {
namespace {

using namespace std::chrono_literals;

std::string addr(int port) { return "\"127.0.0.1:" + std::to_string(port) + "\""; }

// Settings every demo gateway shares: one worker each (the demo runs beside the
// reader's other work), short drain so Ctrl-C is quick, the site CA for each role.
std::string common_yaml(int admin_port) {
  return "admin:\n  listen: " + addr(admin_port) +
         "\nworkers: 1\n"
         "limits:\n  connect_timeout: 2s\n  idle_timeout: 1h\n  drain_timeout: 3s\n"
         "roles:\n"
         // One CA for the site: the role URIs `pki issue` writes tell the roles apart.
         "  management:\n    ca: pki/ca.pem\n    require_role_uri: true\n    peer_names: [\"mgmt01.example.local\"]\n"
         "  recording:\n    ca: pki/ca.pem\n    require_role_uri: true\n    peer_names: [\"*.example.local\"]\n"
         "  mobile:\n    ca: pki/ca.pem\n    require_role_uri: true\n"
         "routes:\n";
}

std::string terminate_route(const std::string& name, const std::string& role, int listen, const std::string& host,
                            const std::vector<int>& backends) {
  std::string list;
  for (const int b : backends) list += (list.empty() ? "" : ", ") + addr(b);
  return "  - name: " + name + "\n    role: " + role + "\n    mode: terminate\n    listen: " + addr(listen) +
         "\n    server_names: [" + host + ", 127.0.0.1]\n    cert: pki/" + host + ".pem\n    key: pki/" + host +
         ".key\n    backends: [" + list + "]\n";
}

bool log_has(const std::filesystem::path& log, std::string_view needle) {
  std::ifstream in(log);
  std::string line;
  while (std::getline(in, line))
    if (line.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

site_ports::site_ports(int offset)
    : mgmt_http(18080 + offset), mgmt_link(19000 + offset), rec01(17563 + offset), rec02(17564 + offset),
      mobile(18081 + offset), mgmt_web_tls(8443 + offset), mgmt_link_tls(9443 + offset), rec_tls(7563 + offset),
      mobile_tls(8082 + offset), uplink(9000 + offset), admin_mgmt(9473 + offset), admin_rec(9474 + offset),
      admin_mobile(9475 + offset) {}

std::string management_gateway_yaml(const site_ports& p) {
  // The link port demands a recording server's client certificate: only the
  // site's own recording servers may hold the management link.
  return common_yaml(p.admin_mgmt) +
         terminate_route("management-web", "management", p.mgmt_web_tls, "mgmt01.example.local", {p.mgmt_http}) +
         terminate_route("management-link", "management", p.mgmt_link_tls, "mgmt01.example.local", {p.mgmt_link}) +
         "    client_auth: required\n    peer_roles: [recording]\n";
}

std::string recording_gateway_yaml(const site_ports& p, bool with_uplink) {
  std::string y = common_yaml(p.admin_rec) +
                  terminate_route("recording-live", "recording", p.rec_tls, "rec01.example.local", {p.rec01, p.rec02});
  if (!with_uplink) return y;
  return y + "  - name: management-uplink\n    role: recording\n    mode: originate\n    listen: " + addr(p.uplink) +
         "\n    cert: pki/rec01.example.local.pem\n    key: pki/rec01.example.local.key\n"
         "    peer_roles: [management]\n    backends:\n      - address: " + addr(p.mgmt_link_tls) +
         "\n        server_name: mgmt01.example.local\n";
}

std::string mobile_gateway_yaml(const site_ports& p) {
  return common_yaml(p.admin_mobile) +
         terminate_route("mobile", "mobile", p.mobile_tls, "mobile.example.local", {p.mobile});
}

child spawn(const std::string& name, const std::string& exe, const std::vector<std::string>& args,
            const std::filesystem::path& log) {
  const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log.string());
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(exe.c_str()));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    // The demo blocks SIGINT/SIGTERM to wait for them; its children must not.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    const int null = ::open("/dev/null", O_RDONLY);
    dup2(null, STDIN_FILENO);
    execv(exe.c_str(), argv.data());
    _exit(127);
  }
  ::close(fd);
  if (pid < 0) throw std::runtime_error("fork failed for " + name);
  return {name, pid, log};
}

bool wait_for_log(const child& c, std::string_view needle, std::chrono::milliseconds timeout, std::string& why) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (log_has(c.log, needle)) return true;
    int status = 0;
    if (waitpid(c.pid, &status, WNOHANG) == c.pid) {
      why = c.name + " exited (status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + "):\n" +
            log_tail(c.log);
      return false;
    }
    std::this_thread::sleep_for(50ms);
  }
  why = c.name + " did not log " + std::string(needle) + " in time:\n" + log_tail(c.log);
  return false;
}

void stop_all(std::vector<child>& children, std::chrono::milliseconds grace) {
  for (auto& c : children)
    if (c.pid > 0) kill(c.pid, SIGTERM);
  const auto until = std::chrono::steady_clock::now() + grace;
  for (auto& c : children) {
    while (c.pid > 0) {
      int status = 0;
      const pid_t r = waitpid(c.pid, &status, WNOHANG);
      if (r == c.pid || r < 0) c.pid = -1;
      else {
        if (std::chrono::steady_clock::now() >= until) kill(c.pid, SIGKILL);
        std::this_thread::sleep_for(20ms);
      }
    }
  }
}

std::string log_tail(const std::filesystem::path& log, std::size_t lines) {
  std::ifstream in(log);
  std::vector<std::string> all;
  for (std::string line; std::getline(in, line);) all.push_back(line);
  std::ostringstream out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out << "    " << all[i] << "\n";
  return out.str();
}

}  // namespace vmsgate::demo
