#pragma once
// Helpers for the mutual-TLS, originate and network-namespace tests (issue 3):
// a site PKI made with `vmsgate pki` (two roles, an unrelated CA, a certificate
// outside peer_names, an expired one), a plain TCP echo transfer (the legacy
// client of an originate route), and network namespaces that are removed on
// destruction.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "tests/support/gateway.hpp"

namespace vmsgate::test {

// A certificate and its key.
struct cert_pair {
  std::filesystem::path cert, key;
};

// Made by `vmsgate pki init/issue` in the build tree's shared cache (2048-bit keys):
//   site CA: mgmt01 / mgmt02 .example.local (server, role management),
//            rec01.rec.example.local (--client, role recording; inside the
//            peer_names pattern "*.rec.example.local"),
//            rec01.example.local and a.b.rec.example.local (--client; outside it),
//            rec01.rec.example.local expired (made in-process, signed by the CA)
//   other CA: rec01.rec.example.local (--client)
struct mtls_pki {
  std::filesystem::path ca, ca_key, other_ca;
  cert_pair mgmt01, mgmt02;  // server certificates
  cert_pair rec01;           // client, allowed
  cert_pair outsider;        // client, rec01.example.local: outside *.rec.example.local
  cert_pair two_labels;      // client, a.b.rec.example.local: '*' covers one label only
  cert_pair expired;         // client, rec01.rec.example.local, expired a day ago
  cert_pair foreign;         // client, issued by other_ca
};

// Made once per build tree in the shared cache (see shared_cache_dir); throws on failure.
const mtls_pki& shared_mtls_pki();

// Signs a fresh RSA-2048 client certificate (clientAuth, DNS SAN = cn) with the CA,
// valid from now+not_before to now+not_after (seconds; negative: in the past).
// Throws std::runtime_error on failure.
void make_client_cert(const std::filesystem::path& ca_pem, const std::filesystem::path& ca_key,
                      const std::string& cn, long not_before, long not_after, const cert_pair& out);
// The same with another extended key usage, e.g. "serverAuth".
void make_leaf_cert(const std::filesystem::path& ca_pem, const std::filesystem::path& ca_key, const std::string& cn,
                    long not_before, long not_after, const cert_pair& out, const char* ext_key_usage);

// The outcome of a plain (unencrypted) echo transfer.
struct plain_result {
  bool ok = false;  // every byte came back identical, then EOF
  std::string error;
  std::uint64_t received = 0;
  double seconds = 0;
};

// Connects to host:port in plain TCP, writes `bytes` of fill_pattern(seed) on one
// thread while reading the echo on another and checking it byte by byte, then
// half-closes and expects EOF after the last byte. Every wait is bounded by `timeout`.
plain_result plain_echo_transfer(const std::string& host, std::uint16_t port, std::uint64_t bytes,
                                 std::uint64_t seed = 1, std::chrono::milliseconds timeout = 20s);

// Log lines of `gw` from index `from` with event `event` (and route `route` when
// not empty).
std::vector<std::string> events_since(const gateway& gw, std::string_view event, std::size_t from,
                                      std::string_view route = {});

// A set of network namespaces created with `ip netns add` and deleted (with every
// interface in them) on destruction, even when the test failed. Names are unique
// per process: prefix + pid.
class netns_set {
 public:
  netns_set() = default;
  ~netns_set();
  netns_set(const netns_set&) = delete;
  netns_set& operator=(const netns_set&) = delete;

  // Creates namespace `name` (deleting a stale one of that name first) with lo up.
  // false with the reason in error() on failure.
  bool add(const std::string& name);
  // Runs `ip` + args (e.g. "-n NS addr add ..."); false with the reason in error().
  bool ip(const std::string& args);
  // A veth pair a<->b with ends in namespaces ns_a, ns_b, addresses (CIDR) set, up.
  bool link(const std::string& ns_a, const std::string& if_a, const std::string& addr_a,
            const std::string& ns_b, const std::string& if_b, const std::string& addr_b);
  const std::string& error() const { return error_; }

 private:
  std::vector<std::string> names_;
  std::string error_;
};

// Whether this process may create network namespaces (root with `ip`).
bool can_use_netns(std::string* why);

// Runs `fn` on a fresh thread that has joined network namespace `ns` and waits for
// it. Sockets it creates live in that namespace, and threads it starts (an
// echo_server's) inherit it. false when the namespace cannot be joined.
bool run_in_netns(const std::string& ns, const std::function<void()>& fn, std::string* why = nullptr);

// An executable script in `dir` that runs the vmsgate binary inside namespace `ns`
// (`exec ip netns exec NS vmsgate "$@"`), to pass as gateway's `binary`.
std::string netns_binary(const temp_dir& dir, const std::string& ns);

}  // namespace vmsgate::test

namespace vmsgate::test {

// Config texts for the mTLS tests. Roles: "management" (site CA) and "recording"
// (site CA, peer_names ["*.rec.example.local"]).
struct mtls_gateway_options {
  unsigned workers = 2;
  std::string listen = "127.0.0.1:0";
  std::string admin_listen = "127.0.0.1:0";
  std::string handshake_timeout = "5s";
  std::string connect_timeout = "1s";
};

// A terminate route "mgmt" (role management) presenting `server`, answering
// `server_name`, client_auth as given ("none" | "optional" | "required"), peer
// role recording, plain backends.
std::string mtls_terminate_yaml(const mtls_pki& pki, const cert_pair& server, const std::string& server_name,
                                const std::string& client_auth, const std::vector<std::string>& backends,
                                const mtls_gateway_options& o = {});

struct upstream {
  std::string address;      // "host:port"
  std::string server_name;  // empty: none written (defaults to the address's host)
};

// An originate route "uplink" (role recording) presenting `client` when given,
// peer role management (whose CA is `peer_ca`, the site CA when empty).
std::string mtls_originate_yaml(const mtls_pki& pki, const cert_pair* client, const std::vector<upstream>& backends,
                                const mtls_gateway_options& o = {}, const std::filesystem::path& peer_ca = {});

}  // namespace vmsgate::test

namespace vmsgate::test {
// The next connection_closed line from index `from` that is not a bare TCP probe
// (another gateway's readiness check connects and closes without a ClientHello,
// which a terminate route logs as handshake_failed / other).
std::optional<std::string> wait_closed(gateway& gw, std::size_t from, std::chrono::milliseconds timeout = 10s);
}  // namespace vmsgate::test
