// Secure defaults that the configuration itself guarantees (issue 8): the admin
// endpoint is on loopback unless configured otherwise, and no key can make an
// originate route skip verifying its upstream. Unknown keys are errors, so a
// `verify: false` copied from another proxy's documentation never silently works.

#include <gtest/gtest.h>

#include <string>

#include "proxy/config/config.hpp"

namespace vmsgate::config {
namespace {

load_result load(std::string_view yaml) { return load_string(yaml, "/etc/vmsgate/secure.yaml"); }

const std::string roles = R"(roles:
  recording:
    ca: pki/ca.pem
  management:
    ca: pki/mgmt-ca.pem
)";

const std::string originate_route = R"(routes:
  - name: uplink
    role: recording
    mode: originate
    listen: "127.0.0.1:9000"
    peer_roles: [management]
    backends:
      - address: "mgmt01.example.local:9443"
        server_name: mgmt01.example.local
)";

std::string all_errors(const load_result& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

// True when exactly the key at `key_suffix` is refused, at a real line.
bool refuses_key(const load_result& r, const std::string& key_suffix) {
  if (r.cfg) return false;
  for (const auto& e : r.errors)
    if (e.key.size() >= key_suffix.size() &&
        e.key.compare(e.key.size() - key_suffix.size(), key_suffix.size(), key_suffix) == 0 && e.where.line > 0)
      return true;
  return false;
}

TEST(SecureDefaults, TheBaseOriginateConfigLoads) {
  const auto r = load(roles + originate_route);
  ASSERT_TRUE(r.cfg) << all_errors(r);
}

TEST(SecureDefaults, AdminListensOnLoopbackUnlessConfigured) {
  const auto r = load(roles + originate_route);
  ASSERT_TRUE(r.cfg) << all_errors(r);
  EXPECT_EQ(r.cfg->admin.listen.host, "127.0.0.1");
}

// Every spelling an operator might try, on the route and on a backend: each is an
// unknown key, reported with its line, and the config does not load.
TEST(SecureDefaults, NoKeyTurnsOffUpstreamVerification) {
  const std::vector<std::string> route_keys = {"verify: false", "verify_peer: false", "insecure: true",
                                               "insecure_skip_verify: true", "tls_verify: none",
                                               "ssl_verify: false", "verify_hostname: false"};
  for (const auto& k : route_keys) {
    const std::string name = k.substr(0, k.find(':'));
    const auto on_route = load(roles + originate_route + "    " + k + "\n");
    EXPECT_TRUE(refuses_key(on_route, name)) << k << " on the route:\n" << all_errors(on_route);
    const auto on_backend = load(roles + originate_route + "        " + k + "\n");
    EXPECT_TRUE(refuses_key(on_backend, name)) << k << " on a backend:\n" << all_errors(on_backend);
  }
}

TEST(SecureDefaults, NoKeyLowersTheProtocolOrCipherFloor) {
  for (const std::string k : {"min_version: \"1.0\"", "ciphers: \"ALL:eNULL\"", "allow_renegotiation: true",
                              "compression: true"}) {
    const std::string name = k.substr(0, k.find(':'));
    const auto global = load(roles + originate_route + "tls:\n  " + k + "\n");
    EXPECT_TRUE(refuses_key(global, name)) << k << " under tls:\n" << all_errors(global);
    const auto on_route = load(roles + originate_route + "    " + k + "\n");
    EXPECT_TRUE(refuses_key(on_route, name)) << k << " on the route:\n" << all_errors(on_route);
  }
}

// An originate route needs a peer role: there is no "trust anything" fallback.
TEST(SecureDefaults, OriginateRouteWithoutPeerRolesIsRefused) {
  std::string route = originate_route;
  route.erase(route.find("    peer_roles: [management]\n"), std::string("    peer_roles: [management]\n").size());
  const auto r = load(roles + route);
  EXPECT_FALSE(r.cfg) << "an originate route with nothing to verify its upstream against loaded";
}

}  // namespace
}  // namespace vmsgate::config
