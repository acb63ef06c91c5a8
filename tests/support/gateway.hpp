#pragma once
// Drives the real vmsgate binary: writes a config into a temporary directory,
// starts `vmsgate run --config FILE`, waits for the "ready" log event and reads the
// ports it bound (routes and the admin endpoint listen on port 0 in tests).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/process.hpp"
#include "tests/support/tls_client.hpp"

namespace vmsgate::test {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents on destruction.
class temp_dir {
 public:
  explicit temp_dir(std::string_view prefix = "vmsgate-test");
  ~temp_dir();
  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  // Writes `text` to path()/name and returns the full path.
  std::filesystem::path write_file(const std::string& name, std::string_view text) const;

 private:
  std::filesystem::path path_;
};

// A directory of test files (certificates, keys) made once per build tree and then
// shared by every test process: ctest runs each test in a process of its own, and
// making the same RSA keys in each cost about a second of CPU per test. The first
// process to take the directory's lock calls `make` on it; later ones, and those that
// waited on the lock, use it as it is. It is made again when `maker` (the script or
// binary that makes it) is newer than it, when it is older than 12 hours, or when a
// `make` did not finish. Tests do not change its files. Making it again removes the
// old files first: a test process that still reads them (one started before the
// binary was rebuilt) can fail, and is to be run again.
std::filesystem::path shared_cache_dir(const std::string& name, const std::filesystem::path& maker,
                                       const std::function<void(const std::filesystem::path&)>& make);

// The files tests/pki/make-test-certs.sh makes (see tests/pki/README.md).
struct test_pki {
  std::filesystem::path dir;
  std::filesystem::path ca, ca_key;
  std::filesystem::path rec01_cert, rec01_key;      // rec01.example.local, localhost, 127.0.0.1
  std::filesystem::path client_cert, client_key;    // mgmt01.example.local, clientAuth
  std::filesystem::path other_ca, other_ca_key;     // an unrelated CA
  std::filesystem::path other_cert, other_key;      // rec01's names, issued by other_ca
};

// The script's files in the build tree's shared cache (see shared_cache_dir), made on
// first use; throws if the script fails.
const test_pki& shared_pki();

// Runs the PKI script into `dir`; returns the paths. Throws on failure.
test_pki make_test_pki(const std::filesystem::path& dir);

// Options for a client that verifies the gateway the way a site client would:
// SNI rec01.example.local, the shared test CA, host name checked.
tls_options rec01_client();

// A config with one terminate route named `route_name` on 127.0.0.1:0, role
// "recording" (ca: the shared test CA), server_names [rec01.example.local], the
// rec01 certificate, and the given backends; admin on 127.0.0.1:0.
struct gateway_config {
  unsigned workers = 2;
  std::string handshake_timeout = "10s";
  std::string connect_timeout = "1s";
  std::string idle_timeout = "1h";
  std::string drain_timeout = "30s";
  std::string route_name = "rec";
  std::vector<std::string> backends;  // "127.0.0.1:PORT"
  std::string yaml() const;
};

// The value of `key` in a flat JSON object on one line: strings unescaped, numbers
// and literals as written; nullopt when the key is absent.
std::optional<std::string> json_field(std::string_view line, std::string_view key);
// True when `line` is a JSON log line whose "event" is `event`.
bool is_event(std::string_view line, std::string_view event);
// A loopback port nothing listens on now (bound and released at once); 0 on failure.
// For a fixed address several routes share, or a backend that must not answer.
std::uint16_t unused_port();
// The port of "host:port" or "[v6]:port"; nullopt if malformed.
std::optional<std::uint16_t> port_of(std::string_view address);

// Waits (up to `timeout`) until `binary` exists, is executable and has not been
// modified for two seconds. Several engineers rebuild the binary while tests run;
// starting it while the linker writes it fails with "execve failed".
bool wait_for_stable_binary(const std::string& binary = VMSGATE_BINARY, std::chrono::milliseconds timeout = 60s);

class gateway {
 public:
  // Writes `yaml` to a temporary vmsgate.yaml and starts the binary (once it is
  // stable, see wait_for_stable_binary); does not wait for it to be ready.
  explicit gateway(std::string_view yaml, std::string binary = VMSGATE_BINARY);
  gateway(const gateway&) = delete;
  gateway& operator=(const gateway&) = delete;

  // Waits for {"event":"ready"}, then reads the "listening" and "admin_listening"
  // events. false when the process exited or the timeout passed first (log() says why).
  bool wait_ready(std::chrono::milliseconds timeout = 20s);
  // The port route `name` listens on (from its "listening" event); 0 if unknown.
  std::uint16_t port(const std::string& name) const;
  std::uint16_t admin_port() const { return admin_port_; }

  process& proc() { return *proc_; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  const std::filesystem::path& config_path() const { return config_path_; }
  // Everything logged on stderr so far; for failure messages.
  std::string log() const { return proc_->stderr_text(); }
  // The stderr lines whose "event" is `event`.
  std::vector<std::string> events(std::string_view event) const;
  // Waits for a line with that event at index >= from_line.
  std::optional<std::string> wait_for_event(std::string_view event, std::chrono::milliseconds timeout,
                                            std::size_t from_line = 0);
  // Replaces the config file with `yaml` (atomically; empty: keeps it), sends SIGHUP
  // and waits for reload_succeeded; false on reload_failed or the timeout.
  bool reload(const std::string& yaml = {}, std::chrono::milliseconds timeout = 20s);

 private:
  temp_dir dir_;  // declared first: destroyed after the process is gone
  std::filesystem::path config_path_;
  std::unique_ptr<process> proc_;
  std::map<std::string, std::uint16_t> ports_;
  std::uint16_t admin_port_ = 0;
};

// A plain HTTP/1.1 GET to 127.0.0.1:port; returns the status code (0 on failure)
// and the body in `body` when given.
int http_get(std::uint16_t port, const std::string& target, std::string* body = nullptr,
             std::chrono::milliseconds timeout = 5s);

}  // namespace vmsgate::test
