#include "tests/support/gateway.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <stdexcept>
#include <thread>

namespace vmsgate::test {

namespace fs = std::filesystem;

temp_dir::temp_dir(std::string_view prefix) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/" + std::string(prefix) + "-XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) throw std::runtime_error("mkdtemp failed for " + templ);
  path_ = templ;
}

temp_dir::~temp_dir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

fs::path temp_dir::write_file(const std::string& name, std::string_view text) const {
  const fs::path p = path_ / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(text.data(), static_cast<std::streamsize>(text.size()));
  if (!out) throw std::runtime_error("cannot write " + p.string());
  return p;
}

namespace {

// The paths of the script's files in `dir`.
test_pki test_pki_in(const fs::path& dir) {
  test_pki p;
  p.dir = dir;
  p.ca = dir / "ca.pem";
  p.ca_key = dir / "ca.key";
  p.rec01_cert = dir / "rec01.pem";
  p.rec01_key = dir / "rec01.key";
  p.client_cert = dir / "client.pem";
  p.client_key = dir / "client.key";
  p.other_ca = dir / "other-ca.pem";
  p.other_ca_key = dir / "other-ca.key";
  p.other_cert = dir / "other.pem";
  p.other_key = dir / "other.key";
  return p;
}

}  // namespace

test_pki make_test_pki(const fs::path& dir) {
  const auto r = run_command(shell_quote(VMSGATE_TEST_PKI_SCRIPT) + " " + shell_quote(dir.string()), 60s);
  if (r.code() != 0)
    throw std::runtime_error("make-test-certs.sh failed (" + r.status.str() + "): " + r.err);
  return test_pki_in(dir);
}

fs::path shared_cache_dir(const std::string& name, const fs::path& maker,
                          const std::function<void(const fs::path&)>& make) {
  const fs::path root = VMSGATE_TEST_CACHE_DIR;
  fs::create_directories(root);
  const fs::path dir = root / name;
  // Beside the directory, not in it, so that the directory holds only what `make` made.
  const fs::path marker = root / (name + ".complete");
  const fs::path lock_path = root / (name + ".lock");
  const int lock = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock < 0) throw std::runtime_error("cannot open " + lock_path.string() + ": " + std::strerror(errno));
  struct closer {
    int fd;
    ~closer() { ::close(fd); }  // closing releases the lock
  } guard{lock};
  while (::flock(lock, LOCK_EX) != 0) {
    if (errno != EINTR) throw std::runtime_error("cannot lock " + lock_path.string() + ": " + std::strerror(errno));
  }
  std::error_code ec;
  const auto made = fs::last_write_time(marker, ec);
  const bool fresh = !ec && made >= fs::last_write_time(maker) && made > fs::file_time_type::clock::now() - 12h;
  if (!fresh) {
    fs::remove(marker);
    fs::remove_all(dir);
    fs::create_directories(dir);
    make(dir);
    std::ofstream out(marker);
    out << "made by " << maker.string() << "\n";
    if (!out.flush()) throw std::runtime_error("cannot write " + marker.string());
  }
  return dir;
}

const test_pki& shared_pki() {
  static const test_pki pki = test_pki_in(
      shared_cache_dir("test-pki", VMSGATE_TEST_PKI_SCRIPT, [](const fs::path& dir) { make_test_pki(dir); }));
  return pki;
}

std::string gateway_config::yaml() const {
  const test_pki& pki = shared_pki();
  std::string backend_list;
  for (const auto& b : backends) backend_list += (backend_list.empty() ? "\"" : ", \"") + b + "\"";
  return "admin:\n"
         "  listen: \"127.0.0.1:0\"\n"
         "workers: " + std::to_string(workers) + "\n"
         "limits:\n"
         "  handshake_timeout: " + handshake_timeout + "\n"
         "  connect_timeout: " + connect_timeout + "\n"
         "  idle_timeout: " + idle_timeout + "\n"
         "  drain_timeout: " + drain_timeout + "\n"
         "roles:\n"
         "  recording:\n"
         "    ca: " + pki.ca.string() + "\n"
         "routes:\n"
         "  - name: " + route_name + "\n"
         "    role: recording\n"
         "    mode: terminate\n"
         "    listen: \"127.0.0.1:0\"\n"
         "    server_names: [rec01.example.local]\n"
         "    cert: " + pki.rec01_cert.string() + "\n"
         "    key: " + pki.rec01_key.string() + "\n"
         "    backends: [" + backend_list + "]\n";
}

std::optional<std::string> json_field(std::string_view line, std::string_view key) {
  const std::string quoted = "\"" + std::string(key) + "\"";
  for (std::size_t at = line.find(quoted); at != std::string_view::npos; at = line.find(quoted, at + 1)) {
    std::size_t i = at + quoted.size();
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size() || line[i] != ':') continue;  // a value that happens to equal the key
    ++i;
    while (i < line.size() && line[i] == ' ') ++i;
    if (i >= line.size()) return std::nullopt;
    if (line[i] != '"') {
      const std::size_t end = line.find_first_of(",}", i);
      std::string_view v = line.substr(i, end == std::string_view::npos ? std::string_view::npos : end - i);
      while (!v.empty() && v.back() == ' ') v.remove_suffix(1);
      return std::string(v);
    }
    std::string out;
    for (++i; i < line.size() && line[i] != '"'; ++i) {
      if (line[i] == '\\' && i + 1 < line.size()) {
        const char c = line[++i];
        out += c == 'n' ? '\n' : c == 't' ? '\t' : c;
      } else {
        out += line[i];
      }
    }
    return out;
  }
  return std::nullopt;
}

bool is_event(std::string_view line, std::string_view event) {
  const auto v = json_field(line, "event");
  return v && *v == event;
}

std::optional<std::uint16_t> port_of(std::string_view address) {
  const auto colon = address.rfind(':');
  if (colon == std::string_view::npos) return std::nullopt;
  unsigned value = 0;
  const auto digits = address.substr(colon + 1);
  const auto [p, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || p != digits.data() + digits.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

bool wait_for_stable_binary(const std::string& binary, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    std::error_code ec;
    const auto mtime = fs::last_write_time(binary, ec);
    if (!ec && access(binary.c_str(), X_OK) == 0 && fs::file_time_type::clock::now() - mtime >= 2s) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(200ms);
  }
}

gateway::gateway(std::string_view yaml, std::string binary) : dir_("vmsgate-gw") {
  // The config holds no secret, and a gateway with `user:` reads it again on every
  // reload as that user (run refuses to start when the user could not).
  fs::permissions(dir_.path(), fs::perms(0755));
  config_path_ = dir_.write_file("vmsgate.yaml", yaml);
  wait_for_stable_binary(binary);
  proc_ = std::make_unique<process>(std::vector<std::string>{std::move(binary), "run", "--config", config_path_.string()});
}

bool gateway::wait_ready(std::chrono::milliseconds timeout) {
  if (!proc_->wait_for_line([](const std::string& l) { return is_event(l, "ready"); }, timeout)) return false;
  for (const auto& line : proc_->stderr_lines()) {
    const auto address = json_field(line, "address");
    const auto port = address ? port_of(*address) : std::nullopt;
    if (!port) continue;
    if (is_event(line, "listening")) {
      if (const auto route = json_field(line, "route")) ports_[*route] = *port;
    } else if (is_event(line, "admin_listening")) {
      admin_port_ = *port;
    }
  }
  return true;
}

std::uint16_t gateway::port(const std::string& name) const {
  const auto it = ports_.find(name);
  return it == ports_.end() ? 0 : it->second;
}

std::vector<std::string> gateway::events(std::string_view event) const {
  std::vector<std::string> out;
  for (auto& line : proc_->stderr_lines())
    if (is_event(line, event)) out.push_back(std::move(line));
  return out;
}

std::optional<std::string> gateway::wait_for_event(std::string_view event, std::chrono::milliseconds timeout,
                                                   std::size_t from_line) {
  const std::string e(event);
  return proc_->wait_for_line([&](const std::string& l) { return is_event(l, e); }, timeout, from_line);
}

std::uint16_t unused_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  std::uint16_t port = 0;
  if (fd >= 0 && ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  if (fd >= 0) ::close(fd);
  return port;
}

bool gateway::reload(const std::string& yaml, std::chrono::milliseconds timeout) {
  if (!yaml.empty()) {
    const std::filesystem::path tmp = config_path_.string() + ".new";
    std::ofstream(tmp) << yaml;
    std::filesystem::rename(tmp, config_path_);
  }
  const auto from = proc_->stderr_line_count();
  proc_->send_signal(SIGHUP);
  const auto done = proc_->wait_for_line(
      [](const std::string& l) { return is_event(l, "reload_succeeded") || is_event(l, "reload_failed"); }, timeout,
      from);
  return done && is_event(*done, "reload_succeeded");
}

int http_get(std::uint16_t port, const std::string& target, std::string* body, std::chrono::milliseconds timeout) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return 0;
  timeval tv{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string response;
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (send(fd, request.data(), request.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(request.size())) {
      char buf[4096];
      for (ssize_t n; (n = recv(fd, buf, sizeof buf, 0)) > 0;) response.append(buf, static_cast<std::size_t>(n));
    }
  }
  close(fd);
  // "HTTP/1.1 200 OK\r\n..."
  if (response.rfind("HTTP/1.", 0) != 0 || response.size() < 12) return 0;
  int status = 0;
  std::from_chars(response.data() + 9, response.data() + 12, status);
  if (body != nullptr) {
    const auto end = response.find("\r\n\r\n");
    *body = end == std::string::npos ? "" : response.substr(end + 4);
  }
  return status;
}

tls_options rec01_client() {
  tls_options o;
  o.sni = "rec01.example.local";
  o.ca_file = shared_pki().ca.string();
  o.verify_host = "rec01.example.local";
  return o;
}

}  // namespace vmsgate::test
