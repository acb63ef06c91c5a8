#pragma once
// Helpers for the live-operations tests (reload, watch, tickets, privilege drop): a
// site PKI made with `vmsgate pki` whose server certificate can be re-issued, the
// "live" copies of the files a config points to, a config with several routes, the
// serial a listener presents, and the outcome of a reload.

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/backends.hpp"

#include "tests/support/gateway.hpp"
#include "tests/support/metrics_text.hpp"
#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test::live {

namespace fs = std::filesystem;

inline constexpr const char* host = "rec01.example.local";

inline command_result vmsgate(const std::string& args) {
  return run_command(shell_quote(VMSGATE_BINARY) + " " + args + " 2>&1", 60s);
}

// "serial=…" of a PEM file (its first certificate); empty on failure.
inline std::string file_serial(const fs::path& pem) {
  const auto r = run_command("openssl x509 -noout -serial -in " + shell_quote(pem.string()), 10s);
  if (r.code() != 0) return {};
  std::string s = r.out;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// "serial=…" of the certificate that 127.0.0.1:port presents; empty when the
// handshake fails.
inline std::string served_serial(std::uint16_t port, const std::string& server_name = host) {
  const auto r = run_command("openssl s_client -connect 127.0.0.1:" + std::to_string(port) + " -servername " + server_name +
                                 " </dev/null 2>/dev/null | openssl x509 -noout -serial",
                             15s);
  if (r.code() != 0) return {};
  std::string s = r.out;
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// A site CA in pki/ and the files a config uses in live/ (server.pem, server.key),
// installed by copying, as an operator or a renewal script would.
class site {
 public:
  // Starts from a copy of the CA and first certificate made once for every test
  // process (their keys are most of the cost); what a test issues after that is its own.
  site() : pki_(dir_.path() / "pki"), live_(dir_.path() / "live") {
    fs::create_directories(pki_);
    fs::create_directories(live_);
    fs::copy(first_pki(), pki_, fs::copy_options::recursive);
    install();
  }
  const fs::path& dir() const { return dir_.path(); }
  const fs::path& pki() const { return pki_; }
  fs::path ca() const { return pki_ / "ca.pem"; }
  fs::path cert() const { return live_ / "server.pem"; }
  fs::path key() const { return live_ / "server.key"; }
  fs::path issued_cert(const std::string& name = host) const { return pki_ / (name + ".pem"); }
  fs::path issued_key(const std::string& name = host) const { return pki_ / (name + ".key"); }

  // Issues (again, with a new serial and key) a certificate for `name` in pki/.
  void issue(const std::string& name = host) const { issue_into(pki_, name); }
  // Copies pki/NAME.{pem,key} over live/server.{pem,key} (in place, like cp).
  void install(const std::string& name = host) const {
    install_cert(issued_cert(name));
    install_key(issued_key(name));
  }
  void install_cert(const fs::path& from) const { copy(from, cert()); }
  void install_key(const fs::path& from) const { copy(from, key()); }

 private:
  static void issue_into(const fs::path& dir, const std::string& name) {
    std::string args = "pki issue --force --dir " + shell_quote(dir.string()) + " --role recording --host " + name;
    if (name == host) args += " --ip 127.0.0.1";
    const auto r = vmsgate(args);
    if (r.code() != 0) throw std::runtime_error("pki issue: " + r.out);
  }
  static const fs::path& first_pki() {
    static const fs::path dir = shared_cache_dir("reload-site", VMSGATE_BINARY, [](const fs::path& d) {
      const auto r = vmsgate("pki init --dir " + shell_quote(d.string()) + " --name 'Reload test CA'");
      if (r.code() != 0) throw std::runtime_error("pki init: " + r.out);
      issue_into(d, host);
    });
    return dir;
  }
  static void copy(const fs::path& from, const fs::path& to) {
    const auto r = run_command("cp " + shell_quote(from.string()) + " " + shell_quote(to.string()), 10s);
    if (r.code() != 0) throw std::runtime_error("cp: " + r.err);
  }
  temp_dir dir_{"vmsgate-live"};
  fs::path pki_;
  fs::path live_;
};

struct route_spec {
  std::string name;
  std::string listen = "127.0.0.1:0";
  std::string backend;
};

struct config_spec {
  std::string ca, cert, key;
  std::vector<route_spec> routes;
  unsigned workers = 2;
  bool watch = false;
  std::string ticket_keys;      // empty: none
  std::string ticket_rotation;  // empty: the default
  std::string user, group;  // empty: none
  std::string drain_timeout = "30s";
  std::string extra;  // appended at top level

  std::string yaml() const {
    std::string y = "admin:\n  listen: \"127.0.0.1:0\"\nworkers: " + std::to_string(workers) + "\n";
    if (!user.empty()) y += "user: " + user + "\n";
    if (!group.empty()) y += "group: " + group + "\n";
    y += std::string("reload:\n  watch: ") + (watch ? "true" : "false") + "\n";
    if (!ticket_keys.empty() || !ticket_rotation.empty()) y += "tls:\n";
    if (!ticket_keys.empty()) y += "  ticket_keys: " + ticket_keys + "\n";
    if (!ticket_rotation.empty()) y += "  ticket_rotation: " + ticket_rotation + "\n";
    y += "limits:\n  connect_timeout: 2s\n  drain_timeout: " + drain_timeout + "\n";
    y += "roles:\n  recording:\n    ca: " + ca + "\n";
    y += "routes:\n";
    for (const auto& r : routes) {
      y += "  - name: " + r.name + "\n    role: recording\n    mode: terminate\n    listen: \"" + r.listen +
           "\"\n    server_names: [" + host + "]\n    cert: " + cert + "\n    key: " + key +
           "\n    backends: [\"" + r.backend + "\"]\n";
    }
    return y + extra;
  }
};

inline config_spec config_for(const site& s, const std::string& backend) {
  config_spec c;
  c.ca = s.ca().string();
  c.cert = s.cert().string();
  c.key = s.key().string();
  c.routes = {{"rec", "127.0.0.1:0", backend}};
  return c;
}

inline tls_options client_options(const fs::path& ca) {
  tls_options o;
  o.sni = host;
  o.ca_file = ca.string();
  o.verify_host = host;
  o.timeout = 10s;
  return o;
}

inline void write_config(const gateway& gw, const std::string& yaml) {
  const fs::path tmp = gw.config_path().string() + ".new";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << yaml;
  }
  fs::rename(tmp, gw.config_path());
}

// Sends SIGHUP and waits for the reload's outcome line (reload_succeeded or
// reload_failed); nullopt when neither came.
inline std::optional<std::string> sighup(gateway& gw, std::chrono::milliseconds timeout = 20s) {
  const std::size_t from = gw.proc().stderr_line_count();
  gw.proc().send_signal(SIGHUP);
  return gw.proc().wait_for_line(
      [](const std::string& l) { return is_event(l, "reload_succeeded") || is_event(l, "reload_failed"); }, timeout,
      from);
}

inline double reloads(const gateway& gw, const char* result) {
  const auto v = sample(scrape(gw.admin_port()), std::string("vmsgate_config_reloads_total{result=\"") + result + "\"}");
  return v.value_or(-1);
}

// The port of route `name` from the last "listening" line at or after `from_line`.
inline std::uint16_t listening_port(const gateway& gw, const std::string& name, std::size_t from_line = 0) {
  std::uint16_t port = 0;
  const auto lines = const_cast<gateway&>(gw).proc().stderr_lines();
  for (std::size_t i = from_line; i < lines.size(); ++i) {
    if (!is_event(lines[i], "listening") || json_field(lines[i], "route") != name) continue;
    if (const auto a = json_field(lines[i], "address")) port = port_of(*a).value_or(0);
  }
  return port;
}

// An echo stream that stops writing at `pause_at` bytes (once the echo of them has
// come back) until resume(), so that a test acts while it is certainly mid-flight.
class paused_stream {
 public:
  paused_stream(tls_client& c, std::uint64_t total, std::uint64_t pause_at, std::uint64_t seed = 5)
      : c_(c), total_(total), pause_at_(pause_at), seed_(seed) {
    c_.set_timeout(60s);
    writer_ = std::thread([this] { write_loop(); });
    reader_ = std::thread([this] { read_loop(); });
  }
  ~paused_stream() {
    resume();
    join();
  }
  // True once the writer waits at pause_at and every byte so far has echoed back.
  bool wait_paused(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [this] { return (paused_ && received_ >= pause_at_) || done_; }) && !done_;
  }
  void resume() {
    std::lock_guard lock(mutex_);
    resumed_ = true;
    cv_.notify_all();
  }
  // Joins both threads; true when every byte came back identical and the stream
  // ended with close_notify. `why` says otherwise.
  bool finish(std::string& why) {
    resume();
    join();
    std::lock_guard lock(mutex_);
    if (!write_ok_) why += "write failed: " + c_.error() + "; ";
    if (received_ != total_) why += "received " + std::to_string(received_) + " of " + std::to_string(total_) + "; ";
    if (end_ != read_end::close_notify) why += "ended with " + std::string(to_string(end_)) + "; ";
    if (received_hash_ != pattern_sha256(seed_, total_)) why += "sha256 differs; ";
    return why.empty();
  }

 private:
  void join() {
    if (writer_.joinable()) writer_.join();
    if (reader_.joinable()) reader_.join();
  }
  void write_loop() {
    std::vector<std::uint8_t> chunk(256 * 1024);
    for (std::uint64_t off = 0; off < total_;) {
      if (off == pause_at_) {
        std::unique_lock lock(mutex_);
        paused_ = true;
        cv_.notify_all();
        cv_.wait(lock, [this] { return resumed_; });
      }
      const std::uint64_t n = std::min<std::uint64_t>({chunk.size(), total_ - off, off < pause_at_ ? pause_at_ - off : total_});
      fill_pattern(seed_, off, std::span(chunk.data(), n));
      if (!c_.send_all(std::span<const std::uint8_t>(chunk.data(), n))) {
        std::lock_guard lock(mutex_);
        write_ok_ = false;
        return;
      }
      off += n;
    }
    if (!c_.shutdown_write()) {
      std::lock_guard lock(mutex_);
      write_ok_ = false;
    }
  }
  void read_loop() {
    sha256 hash;
    std::vector<std::uint8_t> buf(256 * 1024);
    for (;;) {
      const std::size_t n = c_.recv(buf);
      if (n == 0) break;
      hash.update(buf.data(), n);
      std::lock_guard lock(mutex_);
      received_ += n;
      cv_.notify_all();
    }
    std::lock_guard lock(mutex_);
    end_ = c_.last_end();
    received_hash_ = hash.hex_digest();
    done_ = true;
    cv_.notify_all();
  }

  tls_client& c_;
  std::uint64_t total_, pause_at_, seed_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool paused_ = false, resumed_ = false, done_ = false, write_ok_ = true;
  std::uint64_t received_ = 0;
  read_end end_ = read_end::none;
  std::string received_hash_;
  std::thread writer_, reader_;
};

}  // namespace vmsgate::test::live
