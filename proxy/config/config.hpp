#pragma once
// The configuration as plain values. Parsing (YAML -> these structs) and validation
// (cross-field rules) both report every error at once, each with file, line, column
// and key; nothing here touches sockets or certificates.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vmsgate::config {

// Where a value came from, for error messages (1-based line and column).
struct location {
  std::string file;
  int line = 0;
  int column = 0;
};

struct error {
  location where;
  std::string key;      // dotted path, e.g. "routes[0].listen" or "limits.idle_timeout"
  std::string message;  // plain words: "expected a duration such as 30s, 5m, 1h or 30d"
  // "FILE:LINE:COLUMN: KEY: MESSAGE"
  std::string str() const;
};

// "host:port", "[v6]:port" or "*:port". The host is kept as written (an IP literal
// or a DNS name); resolution happens when the runtime is built, not here.
struct endpoint {
  std::string host;
  std::uint16_t port = 0;
  std::string str() const;  // back to "host:port" / "[v6]:port"
};

// The same address written alike up to case and IPv6 spelling, on the same fixed
// port: routes that listen there share one listener (port 0 never does).
bool same_address(const endpoint& a, const endpoint& b);

struct admin_config {
  endpoint listen{"127.0.0.1", 9473};
  // How often each route's backends are probed for /readyz and backend_up; zero:
  // never (readiness then follows the data path alone).
  std::chrono::milliseconds probe_interval{2000};
  location where;
};

enum class log_level { debug, info, warning, error };
// The per-connection line (connection_closed): every one, only those that ended in
// an error, or none.
enum class log_connections { all, errors, none };

struct log_config {
  log_level level = log_level::info;
  log_connections connections = log_connections::all;
};

struct limits_config {
  std::uint64_t max_connections = 50000;
  std::uint64_t max_handshakes_per_source = 0;  // 0 = unlimited
  unsigned source_prefix_v4 = 32;  // a "source" for that cap: an IPv4 address...
  unsigned source_prefix_v6 = 64;  // ...or an IPv6 /64, what one customer is usually given
  std::chrono::milliseconds handshake_timeout{std::chrono::seconds(10)};
  std::chrono::milliseconds connect_timeout{std::chrono::seconds(5)};
  std::chrono::milliseconds idle_timeout{std::chrono::hours(1)};
  std::chrono::milliseconds drain_timeout{std::chrono::seconds(30)};
};

struct role_config {
  std::string name;
  std::string ca;  // path, resolved against the config file's directory
  int min_rsa_bits = 2048;
  bool allow_ecdsa = false;
  std::chrono::seconds expiry_warning{std::chrono::hours(24 * 30)};
  std::vector<std::string> peer_names;
  bool require_role_uri = false;  // peers must carry urn:vmsgate:role:NAME
  std::vector<std::string> crl;   // paths of the role CA's CRLs (PEM or DER)
  location where;
};

enum class mode { terminate, originate };
enum class client_auth { none, optional, required };

struct backend_config {
  endpoint address;
  std::string server_name;  // originate: SNI and verified name; defaults to address.host
  location where;
};

// How a route's certificate is obtained and renewed from an ACME (RFC 8555) CA.
enum class acme_challenge { tls_alpn_01, http_01 };

struct acme_config {
  std::string directory;             // the CA's directory URL (https)
  std::vector<std::string> contact;  // e.g. mailto:ops@example.local
  acme_challenge challenge = acme_challenge::tls_alpn_01;
  std::optional<endpoint> http_listen;  // http-01: the plain listener that answers
  std::string ca;                       // trust for the ACME server; empty: the system's store
  std::string account_key;              // path; created when absent
  // Renew this long before notAfter, or (when fraction is set) this fraction of the
  // certificate's lifetime before it; a third of the lifetime by default.
  std::optional<std::chrono::milliseconds> renew_before;
  std::optional<double> renew_before_fraction;
  location where;
};

struct route_config {
  std::string name;
  std::string role;
  enum mode mode = mode::terminate;
  endpoint listen;
  std::vector<std::string> server_names;
  // Terminate routes sharing one listen address: this one takes the clients that
  // send no SNI, or a name no route of the address lists (key `default`).
  bool is_default = false;
  std::string cert;  // paths resolved against the config file's directory; empty when absent
  std::string key;
  std::string ocsp_response;  // terminate: DER OCSP response to staple; empty when absent
  enum client_auth client_auth = client_auth::none;
  std::vector<std::string> peer_roles;
  std::vector<backend_config> backends;
  std::optional<std::uint64_t> max_connections;  // per-route cap; the global one applies too
  std::optional<acme_config> acme;  // terminate: cert and key come from an ACME CA
  location where;
};

struct config;
// The terminate routes that listen on `rc`'s address, `rc` included, in order.
std::vector<const route_config*> routes_sharing(const config& cfg, const route_config& rc);

struct config {
  std::string path;  // the file it was loaded from
  admin_config admin;
  log_config log;
  unsigned workers = 0;  // 0 = one per CPU core
  std::optional<std::string> user;
  std::optional<std::string> group;
  bool reload_watch = false;
  std::optional<std::string> ticket_keys;  // path
  // How often the built-in ticket key is replaced (unused with ticket_keys): a ticket
  // resumes for at most two periods.
  std::chrono::milliseconds ticket_rotation = std::chrono::hours(12);
  // How long after its full handshake a TLS session may be resumed, however often
  // resumptions renew its ticket (and never past the peer certificate's notAfter).
  std::chrono::milliseconds session_lifetime = std::chrono::hours(12);
  limits_config limits;
  std::vector<role_config> roles;
  std::vector<route_config> routes;

  const role_config* find_role(std::string_view name) const;
};

struct load_result {
  std::optional<config> cfg;  // set only when errors is empty
  std::vector<error> errors;
};

// Reads, parses and validates. Relative paths in the file are resolved against
// the directory that holds it.
load_result load_file(const std::string& path);

// Same, from text; `file` names it in errors and anchors relative paths.
load_result load_string(std::string_view yaml, const std::string& file);

// "250ms", "10s", "5m", "1h", "30d" (a bare number is seconds). nullopt if malformed.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// nullopt if malformed; the message explains why in `why` when given.
std::optional<endpoint> parse_endpoint(std::string_view text, std::string* why = nullptr);

}  // namespace vmsgate::config
