// Loading whole configurations: every key parsed, every kind of error reported
// with its line and key, all errors at once, and relative paths anchored.

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "proxy/config/config.hpp"
#include "proxy/config/features.hpp"

namespace vmsgate::config {
namespace {

using namespace std::chrono_literals;

const std::string test_file = "/etc/vmsgate/test.yaml";

load_result load(std::string_view yaml) { return load_string(yaml, test_file); }

std::string all_errors(const load_result& r) {
  std::string out;
  for (const auto& e : r.errors) out += e.str() + "\n";
  return out;
}

// Asserts that exactly one error names `key`, at `line`, with `words` in its message.
::testing::AssertionResult has_error(const load_result& r, const std::string& key, int line,
                                     const std::string& words) {
  const error* match = nullptr;
  for (const auto& e : r.errors) {
    if (e.key != key) continue;
    if (match) return ::testing::AssertionFailure() << "two errors for " << key << ":\n" << all_errors(r);
    match = &e;
  }
  if (!match) return ::testing::AssertionFailure() << "no error for " << key << ":\n" << all_errors(r);
  if (match->where.line != line || match->where.file != test_file)
    return ::testing::AssertionFailure() << "wrong place: " << match->str();
  if (match->message.find(words) == std::string::npos)
    return ::testing::AssertionFailure() << "message lacks \"" << words << "\": " << match->str();
  return ::testing::AssertionSuccess();
}

// A valid terminate-only configuration that later tests break in one place each.
const std::string minimal = R"(roles:
  recording:
    ca: pki/ca.pem
routes:
  - name: live
    role: recording
    listen: "*:7563"
    server_names: [rec01.example.local]
    cert: pki/rec01.pem
    key: pki/rec01.key
    backends: ["127.0.0.1:17563"]
)";

TEST(load, minimal_config_gets_the_documented_defaults) {
  const auto r = load(minimal);
  ASSERT_TRUE(r.cfg.has_value()) << all_errors(r);
  const config& c = *r.cfg;
  EXPECT_EQ(c.path, test_file);
  EXPECT_EQ(c.admin.listen.str(), "127.0.0.1:9473");
  EXPECT_EQ(c.workers, 0u);
  EXPECT_FALSE(c.user.has_value());
  EXPECT_FALSE(c.reload_watch);
  EXPECT_FALSE(c.ticket_keys.has_value());
  EXPECT_EQ(c.ticket_rotation, 12h);
  EXPECT_EQ(c.limits.max_connections, 50000u);
  EXPECT_EQ(c.limits.handshake_timeout, 10s);
  EXPECT_EQ(c.limits.idle_timeout, 1h);
  EXPECT_EQ(c.roles.at(0).min_rsa_bits, 2048);
  EXPECT_EQ(c.roles.at(0).expiry_warning, std::chrono::hours(24 * 30));
  EXPECT_EQ(c.routes.at(0).mode, mode::terminate);
  EXPECT_EQ(c.routes.at(0).client_auth, client_auth::none);
  EXPECT_FALSE(c.routes.at(0).max_connections.has_value());
  EXPECT_EQ(c.routes.at(0).backends.at(0).server_name, "127.0.0.1");
}

const std::string full = R"(admin:
  listen: "[::1]:0"
workers: 8
user: vmsgate
group: vmsgate-grp
reload:
  watch: true
tls:
  ticket_keys: keys/tickets.key
  ticket_rotation: 6h
limits:
  max_connections: 1000
  max_handshakes_per_source: 16
  source_prefix_v4: 24
  source_prefix_v6: 56
  handshake_timeout: 2500ms
  connect_timeout: 3s
  idle_timeout: 2h
  drain_timeout: 0
roles:
  management:
    ca: /etc/pki/mgmt-ca.pem
    min_rsa_bits: 3072
    allow_ecdsa: true
    expiry_warning: 14d
    peer_names: ["*.mgmt.example.local", mgmt01.example.local]
  recording:
    ca: pki/ca.pem
routes:
  - name: web
    role: management
    mode: terminate
    listen: "0.0.0.0:443"
    server_names: [mgmt01.example.local, 192.0.2.10]
    cert: pki/web.pem
    key: pki/web.key
    client_auth: required
    peer_roles: [recording, management]
    backends:
      - "127.0.0.1:8080"
      - address: "[2001:db8::1]:8081"
        server_name: backup.example.local
    max_connections: 200
)";

TEST(load, full_config_parses_every_key) {
  const auto r = load(full);
  ASSERT_TRUE(r.cfg.has_value()) << all_errors(r);
  const config& c = *r.cfg;
  EXPECT_EQ(c.admin.listen.host, "::1");
  EXPECT_EQ(c.admin.listen.port, 0);
  EXPECT_EQ(c.admin.where.line, 2);
  EXPECT_EQ(c.workers, 8u);
  EXPECT_EQ(c.user, "vmsgate");
  EXPECT_EQ(c.group, "vmsgate-grp");
  EXPECT_TRUE(c.reload_watch);
  EXPECT_EQ(c.ticket_keys, "/etc/vmsgate/keys/tickets.key");
  EXPECT_EQ(c.ticket_rotation, 6h);
  EXPECT_EQ(c.limits.max_connections, 1000u);
  EXPECT_EQ(c.limits.max_handshakes_per_source, 16u);
  EXPECT_EQ(c.limits.source_prefix_v4, 24u);
  EXPECT_EQ(c.limits.source_prefix_v6, 56u);
  EXPECT_EQ(c.limits.handshake_timeout, 2500ms);
  EXPECT_EQ(c.limits.connect_timeout, 3s);
  EXPECT_EQ(c.limits.idle_timeout, 2h);
  EXPECT_EQ(c.limits.drain_timeout, 0s);

  ASSERT_EQ(c.roles.size(), 2u);
  const role_config* mgmt = c.find_role("management");
  ASSERT_NE(mgmt, nullptr);
  EXPECT_EQ(mgmt->ca, "/etc/pki/mgmt-ca.pem");
  EXPECT_EQ(mgmt->min_rsa_bits, 3072);
  EXPECT_TRUE(mgmt->allow_ecdsa);
  EXPECT_EQ(mgmt->expiry_warning, std::chrono::hours(24 * 14));
  EXPECT_EQ(mgmt->peer_names, (std::vector<std::string>{"*.mgmt.example.local", "mgmt01.example.local"}));
  EXPECT_EQ(mgmt->where.line, 21);
  EXPECT_EQ(c.find_role("recording")->ca, "/etc/vmsgate/pki/ca.pem");
  EXPECT_EQ(c.find_role("nobody"), nullptr);

  ASSERT_EQ(c.routes.size(), 1u);
  const route_config& web = c.routes[0];
  EXPECT_EQ(web.name, "web");
  EXPECT_EQ(web.role, "management");
  EXPECT_EQ(web.mode, mode::terminate);
  EXPECT_EQ(web.listen.str(), "0.0.0.0:443");
  EXPECT_EQ(web.server_names, (std::vector<std::string>{"mgmt01.example.local", "192.0.2.10"}));
  EXPECT_EQ(web.cert, "/etc/vmsgate/pki/web.pem");
  EXPECT_EQ(web.key, "/etc/vmsgate/pki/web.key");
  EXPECT_EQ(web.client_auth, client_auth::required);
  EXPECT_EQ(web.peer_roles, (std::vector<std::string>{"recording", "management"}));
  ASSERT_EQ(web.backends.size(), 2u);
  EXPECT_EQ(web.backends[0].address.str(), "127.0.0.1:8080");
  EXPECT_EQ(web.backends[0].server_name, "127.0.0.1");
  EXPECT_EQ(web.backends[0].where.line, 40);
  EXPECT_EQ(web.backends[1].address.str(), "[2001:db8::1]:8081");
  EXPECT_EQ(web.backends[1].server_name, "backup.example.local");
  EXPECT_EQ(web.max_connections, 200u);
  EXPECT_EQ(web.where.line, 30);
  EXPECT_EQ(web.where.column, 5);
}

TEST(load, yaml_syntax_error_is_one_error_with_its_position) {
  const auto r = load("roles:\n  recording:\n    ca: [pki/ca.pem\nroutes: []\n");
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_FALSE(r.cfg.has_value());
  EXPECT_EQ(r.errors[0].where.file, test_file);
  EXPECT_GE(r.errors[0].where.line, 3);
  EXPECT_GT(r.errors[0].where.column, 0);
  EXPECT_NE(r.errors[0].message.find("invalid YAML"), std::string::npos);
  EXPECT_EQ(r.errors[0].str().rfind(test_file + ":", 0), 0u);
}

TEST(load, tab_indentation_is_a_syntax_error) {
  const auto r = load("roles:\n\trecording: {}\n");
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].where.line, 2);
}

TEST(load, unknown_key_names_the_key_and_the_allowed_ones) {
  auto text = minimal;
  text.replace(text.find("    backends"), 0, "    idle_timeout: 5m\n");
  const auto r = load(text);
  EXPECT_TRUE(has_error(r, "routes[0].idle_timeout", 11, "unknown key"));
  EXPECT_NE(r.errors.at(0).message.find("allowed keys here are: name, role, mode"), std::string::npos);
  EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);
}

TEST(load, misspelt_key_gets_a_suggestion) {
  const auto r = load(minimal + "limits:\n  idle_timeot: 5m\n");
  EXPECT_TRUE(has_error(r, "limits.idle_timeot", 13, "did you mean \"idle_timeout\"?"));
}

TEST(load, unknown_top_level_key) {
  const auto r = load(minimal + "route:\n  - name: x\n");
  EXPECT_TRUE(has_error(r, "route", 12, "did you mean \"routes\"?"));
}

TEST(load, duplicate_key_is_reported) {
  const auto r = load("workers: 2\n" + minimal + "workers: 3\n");
  EXPECT_TRUE(has_error(r, "workers", 13, "more than once"));
}

TEST(load, wrong_types_say_what_was_expected) {
  const auto r = load(R"(workers: many
reload:
  watch: sometimes
roles:
  recording:
    ca: [a, b]
    peer_names: "*.example.local"
routes:
  - name: live
    role: recording
    listen: "*:7563"
    server_names: rec01.example.local
    cert: pki/rec01.pem
    key: pki/rec01.key
    client_auth: maybe
    backends: "127.0.0.1:1"
)");
  EXPECT_TRUE(has_error(r, "workers", 1, "expected a whole number from 0 to 1024, found \"many\""));
  EXPECT_TRUE(has_error(r, "reload.watch", 3, "expected true or false"));
  EXPECT_TRUE(has_error(r, "roles.recording.ca", 6, "expected a string, found a list"));
  EXPECT_TRUE(has_error(r, "roles.recording.peer_names", 7, "expected a list of strings"));
  EXPECT_TRUE(has_error(r, "routes[0].server_names", 12, "expected a list of strings"));
  EXPECT_TRUE(has_error(r, "routes[0].client_auth", 15, "expected one of: none, optional, required"));
  EXPECT_TRUE(has_error(r, "routes[0].backends", 16, "expected a list of at least one backend"));
  EXPECT_EQ(r.errors.size(), 7u) << all_errors(r);
}

TEST(load, section_of_the_wrong_type) {
  const auto r = load(minimal + "limits: 5\n");
  EXPECT_TRUE(has_error(r, "limits", 12, "expected a map with the keys max_connections"));
}

TEST(load, missing_required_keys_point_at_their_parent) {
  const auto r = load(R"(roles:
  recording:
    min_rsa_bits: 2048
routes:
  - role: recording
    backends: ["127.0.0.1:1"]
    server_names: [a.example]
    cert: c.pem
    key: k.pem
)");
  EXPECT_TRUE(has_error(r, "roles.recording.ca", 3, "required key is missing"));
  EXPECT_TRUE(has_error(r, "routes[0].name", 5, "required key is missing"));
  EXPECT_TRUE(has_error(r, "routes[0].listen", 5, "required key is missing"));
  EXPECT_EQ(r.errors.size(), 3u) << all_errors(r);
}

TEST(load, terminate_requires_cert_key_and_server_names) {
  const auto r = load(R"(roles:
  recording: {ca: ca.pem}
routes:
  - name: live
    role: recording
    listen: "*:1"
    backends: ["127.0.0.1:1"]
)");
  EXPECT_TRUE(has_error(r, "routes[0].cert", 4, "terminate mode"));
  EXPECT_TRUE(has_error(r, "routes[0].key", 4, "terminate mode"));
  EXPECT_TRUE(has_error(r, "routes[0].server_names", 4, "terminate mode"));
}

TEST(load, empty_value_is_reported_on_the_key_line) {
  const auto r = load("user:\n" + minimal);
  EXPECT_TRUE(has_error(r, "user", 1, "expected a string, found nothing"));
  EXPECT_EQ(r.errors.at(0).where.column, 1);
}

TEST(load, bad_durations) {
  const auto r = load(minimal + "limits:\n  idle_timeout: 1.5h\n  handshake_timeout: -1s\n  connect_timeout: 0s\n");
  EXPECT_TRUE(has_error(r, "limits.idle_timeout", 13, "expected a duration such as 250ms, 10s, 5m, 1h or 30d"));
  EXPECT_TRUE(has_error(r, "limits.handshake_timeout", 14, "expected a duration"));
  EXPECT_TRUE(has_error(r, "limits.connect_timeout", 15, "longer than zero"));
}

TEST(load, bad_addresses) {
  auto text = minimal;
  text.replace(text.find("\"*:7563\""), 8, "\"10.0.0.256:7563\"");
  text.replace(text.find("127.0.0.1:17563"), 15, "127.0.0.1:0");
  const auto r = load(text + "admin:\n  listen: \"::1:9473\"\n");
  EXPECT_TRUE(has_error(r, "routes[0].listen", 7, "\"10.0.0.256\" is not a valid IP address or host name"));
  EXPECT_TRUE(has_error(r, "routes[0].backends[0]", 11, "backend port must be from 1 to 65535"));
  EXPECT_TRUE(has_error(r, "admin.listen", 13, "in brackets"));
}

TEST(load, bad_server_name_and_backend_map) {
  auto text = minimal;
  text.replace(text.find("[rec01.example.local]"), 21, "[\"rec 01\"]");
  text.replace(text.find("[\"127.0.0.1:17563\"]"), 19, "[{server_name: a.example}, [7]]");
  const auto r = load(text);
  EXPECT_TRUE(has_error(r, "routes[0].server_names[0]", 8, "not a valid host name or IP address"));
  EXPECT_TRUE(has_error(r, "routes[0].backends[0].address", 11, "required key is missing"));
  EXPECT_TRUE(has_error(r, "routes[0].backends[1]", 11, "expected \"host:port\" or a map"));
}

const std::string two_routes = minimal + R"(  - name: second
    role: recording
    listen: "127.0.0.1:7564"
    server_names: [rec02.example.local]
    cert: pki/rec02.pem
    key: pki/rec02.key
    backends: ["127.0.0.1:17564"]
)";

TEST(load, tabs_in_the_indentation_are_named_on_their_line) {
  auto text = minimal;
  text.replace(text.find("    ca: pki/ca.pem"), 4, "\t");
  const auto r = load(text);
  EXPECT_TRUE(has_error(r, "", 3, "a tab in the indentation: YAML indents with spaces only")) << all_errors(r);
  EXPECT_EQ(r.errors.front().where.column, 1);
  // A tab inside a value is no indentation.
  EXPECT_TRUE(load(minimal + "user: \"a\tb\"\n").cfg.has_value());
}

TEST(load, a_key_without_its_colon_is_reported_on_its_own_line) {
  auto text = minimal;
  text.replace(text.find("    role: recording"), 19, "    role recording");
  const auto r = load(text);
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors.front().where.line, 6) << all_errors(r);
  EXPECT_NE(r.errors.front().message.find("this line has no ':'"), std::string::npos) << all_errors(r);
}

TEST(load, log_and_probe_interval_settings) {
  const auto defaults = load(minimal);
  ASSERT_TRUE(defaults.cfg.has_value()) << all_errors(defaults);
  EXPECT_EQ(defaults.cfg->log.level, log_level::info);
  EXPECT_EQ(defaults.cfg->log.connections, log_connections::all);
  EXPECT_EQ(defaults.cfg->admin.probe_interval, std::chrono::seconds(2));
  const auto set = load(minimal + "log:\n  level: warn\n  connections: errors\nadmin:\n  probe_interval: 0\n");
  ASSERT_TRUE(set.cfg.has_value()) << all_errors(set);
  EXPECT_EQ(set.cfg->log.level, log_level::warning);
  EXPECT_EQ(set.cfg->log.connections, log_connections::errors);
  EXPECT_EQ(set.cfg->admin.probe_interval, std::chrono::milliseconds::zero());
  const auto bad = load(minimal + "log:\n  level: verbose\n  connection: none\n");
  EXPECT_TRUE(has_error(bad, "log.level", 13, "debug")) << all_errors(bad);
  EXPECT_TRUE(has_error(bad, "log.connection", 14, "did you mean \"connections\"?")) << all_errors(bad);
}

TEST(load, two_distinct_routes_are_fine) {
  const auto r = load(two_routes);
  ASSERT_TRUE(r.cfg.has_value()) << all_errors(r);
  EXPECT_EQ(r.cfg->routes.at(1).where.line, 12);
}

TEST(load, duplicate_route_name_names_the_first) {
  auto text = two_routes;
  text.replace(text.find("second"), 6, "live");
  const auto r = load(text);
  EXPECT_TRUE(has_error(r, "routes[1].name", 12, "route name \"live\" is already used by routes[0] (line 5)"));
  EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);
}

TEST(load, duplicate_port_is_reported_on_the_later_listen) {
  auto text = two_routes;
  text.replace(text.find("127.0.0.1:7564"), 14, "127.0.0.1:7563");
  const auto r = load(text);
  EXPECT_TRUE(has_error(r, "routes[1].listen", 14, "overlaps routes[0].listen \"0.0.0.0:7563\" (line 7)"));
  EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);
}

TEST(load, same_port_on_different_addresses_or_port_zero_is_fine) {
  auto text = two_routes;
  text.replace(text.find("\"*:7563\""), 8, "\"127.0.0.2:7564\"");
  EXPECT_TRUE(load(text).cfg.has_value()) << all_errors(load(text));
  auto zeros = two_routes;
  zeros.replace(zeros.find("\"*:7563\""), 8, "\"127.0.0.1:0\"");
  zeros.replace(zeros.find("127.0.0.1:7564"), 14, "127.0.0.1:0");
  EXPECT_TRUE(load(zeros + "admin: {listen: \"127.0.0.1:0\"}\n").cfg.has_value());
}

TEST(load, ipv6_spellings_of_one_address_collide) {
  auto text = two_routes;
  text.replace(text.find("\"*:7563\""), 8, "\"[::1]:7563\"");
  text.replace(text.find("127.0.0.1:7564"), 14, "[0:0::1]:7563");
  // Two terminate routes there share one listener (SNI chooses), however spelt.
  const auto r = load(text);
  ASSERT_TRUE(r.cfg.has_value()) << all_errors(r);
  EXPECT_EQ(routes_sharing(*r.cfg, r.cfg->routes[0]).size(), 2u);
  EXPECT_TRUE(same_address(r.cfg->routes[0].listen, r.cfg->routes[1].listen));
}

TEST(load, terminate_routes_share_an_address_only_when_it_is_written_alike) {
  auto text = two_routes;
  text.replace(text.find("127.0.0.1:7564"), 14, "0.0.0.0:7563");
  const auto shared = load(text);
  ASSERT_TRUE(shared.cfg.has_value()) << all_errors(shared);
  EXPECT_EQ(routes_sharing(*shared.cfg, shared.cfg->routes[1]).size(), 2u);
  // 127.0.0.1 inside 0.0.0.0 is still an overlap: one listener would hide the other.
  auto covered = two_routes;
  covered.replace(covered.find("127.0.0.1:7564"), 14, "127.0.0.1:7563");
  EXPECT_TRUE(has_error(load(covered), "routes[1].listen", 14, "unless they name the same address exactly"));
}

TEST(load, routes_on_one_address_need_distinct_names_and_one_default_at_most) {
  auto text = two_routes;
  text.replace(text.find("127.0.0.1:7564"), 14, "0.0.0.0:7563");
  text.replace(text.find("[rec02.example.local]"), 21, "[rec02.example.local, REC01.example.local.]");
  auto r = load(text);
  EXPECT_TRUE(has_error(r, "routes[1].server_names", 15,
                        "\"REC01.example.local.\" is also a server name of routes[0] \"live\" (line 5)"))
      << all_errors(r);
  text = two_routes;
  text.replace(text.find("127.0.0.1:7564"), 14, "0.0.0.0:7563");
  text += "    default: true\n";
  text.replace(text.find("    backends"), 0, "    default: true\n");
  r = load(text);
  EXPECT_TRUE(has_error(r, "routes[1].default", 20, "only one route on \"0.0.0.0:7563\" may be the default"))
      << all_errors(r);
  EXPECT_EQ(r.errors.size(), 1u) << all_errors(r);
}

TEST(load, an_originate_route_never_shares_its_address) {
  auto text = two_routes;
  text.replace(text.find("127.0.0.1:7564"), 14, "0.0.0.0:7563");
  const std::string tls_keys = "    server_names: [rec02.example.local]\n    cert: pki/rec02.pem\n    key: pki/rec02.key\n";
  text.replace(text.find(tls_keys), tls_keys.size(), "    mode: originate\n    peer_roles: [recording]\n    default: true\n");
  const auto r = load(text);
  EXPECT_TRUE(has_error(r, "routes[1].listen", 14, "only terminate routes can share one, chosen by SNI")) << all_errors(r);
  EXPECT_TRUE(has_error(r, "routes[1].default", 17, "default applies to terminate routes")) << all_errors(r);
}

TEST(load, route_listening_on_the_admin_port_collides) {
  const auto r = load(minimal + "admin:\n  listen: \"127.0.0.1:7563\"\n");
  EXPECT_TRUE(has_error(r, "routes[0].listen", 7, "overlaps admin.listen \"127.0.0.1:7563\" (line 13)"));
}

TEST(load, undefined_roles_are_named) {
  auto text = minimal;
  text.replace(text.find("role: recording"), 15, "role: recordng");
  text.replace(text.find("    backends"), 0, "    client_auth: optional\n    peer_roles: [recording, mgmt]\n");
  const auto r = load(text);
  EXPECT_TRUE(has_error(r, "routes[0].role", 6, "no role named \"recordng\" is defined under roles; defined roles are: recording"));
  EXPECT_TRUE(has_error(r, "routes[0].peer_roles[1]", 12, "no role named \"mgmt\""));
  EXPECT_EQ(r.errors.size(), 2u) << all_errors(r);
}

TEST(load, client_auth_needs_peer_roles) {
  auto text = minimal;
  text.replace(text.find("    backends"), 0, "    client_auth: required\n");
  EXPECT_TRUE(has_error(load(text), "routes[0].client_auth", 11, "peer_roles must name at least one role"));
  auto empty = minimal;
  empty.replace(empty.find("    backends"), 0, "    client_auth: optional\n    peer_roles: []\n");
  EXPECT_TRUE(has_error(load(empty), "routes[0].peer_roles", 12, "must name at least one role"));
}

TEST(load, role_policy_ranges) {
  auto text = minimal;
  text.replace(text.find("    ca: pki/ca.pem\n") + 19, 0, "    min_rsa_bits: 512\n    expiry_warning: soon\n");
  const auto r = load(text);
  EXPECT_TRUE(has_error(r, "roles.recording.min_rsa_bits", 4, "from 1024 to 16384"));
  EXPECT_TRUE(has_error(r, "roles.recording.expiry_warning", 5, "expected a duration"));
}

TEST(load, many_errors_are_all_reported_in_file_order) {
  const auto r = load(R"(workers: 2000
limits:
  idle_timeout: forever
roles:
  recording:
    ca: ca.pem
    colour: blue
routes:
  - name: a
    role: nobody
    listen: "*:99999"
    server_names: [a.example]
    cert: a.pem
    key: a.key
    backends: ["b:1"]
  - name: a
    role: recording
    listen: "127.0.0.1:1"
    server_names: [b.example]
    cert: b.pem
    key: b.key
    backends: ["b:0"]
)");
  EXPECT_TRUE(has_error(r, "workers", 1, "from 0 to 1024"));
  EXPECT_TRUE(has_error(r, "limits.idle_timeout", 3, "expected a duration"));
  EXPECT_TRUE(has_error(r, "roles.recording.colour", 7, "unknown key"));
  EXPECT_TRUE(has_error(r, "routes[0].role", 10, "no role named \"nobody\""));
  EXPECT_TRUE(has_error(r, "routes[0].listen", 11, "from 0 to 65535"));
  EXPECT_TRUE(has_error(r, "routes[1].name", 16, "already used"));
  EXPECT_TRUE(has_error(r, "routes[1].backends[0]", 22, "backend port"));
  ASSERT_EQ(r.errors.size(), 7u) << all_errors(r);
  for (std::size_t i = 1; i < r.errors.size(); ++i) EXPECT_LE(r.errors[i - 1].where.line, r.errors[i].where.line);
  EXPECT_FALSE(r.cfg.has_value());
}

TEST(load, empty_and_non_map_documents) {
  const auto empty = load("");
  ASSERT_EQ(empty.errors.size(), 1u);
  EXPECT_NE(empty.errors[0].message.find("empty"), std::string::npos);
  EXPECT_FALSE(load("- a\n- b\n").errors.empty());
  EXPECT_TRUE(has_error(load("roles: {}\n"), "routes", 1, "required key is missing"));
  EXPECT_TRUE(has_error(load("roles: {}\nroutes: []\n"), "routes", 2, "at least one route"));
}

const std::string originate = R"(roles:
  recording: {ca: ca.pem}
  management: {ca: mgmt-ca.pem}
routes:
  - name: uplink
    role: recording
    mode: originate
    listen: "127.0.0.1:9000"
    cert: client.pem
    key: client.key
    peer_roles: [management]
    backends:
      - address: "mgmt01.example.local:9443"
        server_name: mgmt.example.local
      - "mgmt02.example.local:9443"
)";

TEST(load, originate_is_parsed_and_gated_by_the_feature_flag) {
  const auto r = load(originate);
  if constexpr (originate_supported) {
    ASSERT_TRUE(r.cfg.has_value()) << all_errors(r);
    const route_config& up = r.cfg->routes.at(0);
    EXPECT_EQ(up.mode, mode::originate);
    EXPECT_EQ(up.backends.at(0).server_name, "mgmt.example.local");
    EXPECT_EQ(up.backends.at(1).server_name, "mgmt02.example.local");
    EXPECT_EQ(up.cert, "/etc/vmsgate/client.pem");
  } else {
    ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
    EXPECT_TRUE(has_error(r, "routes[0].mode", 7, "originate mode is not yet supported"));
  }
}

// Only the originate rules themselves, whatever the feature flag says.
std::vector<error> without_flag_error(const load_result& r) {
  std::vector<error> out;
  for (const auto& e : r.errors)
    if (e.message != "originate mode is not yet supported") out.push_back(e);
  return out;
}

TEST(load, originate_rules) {
  auto text = originate;
  text.replace(text.find("    key: client.key\n    peer_roles: [management]\n"), 49,
               "    client_auth: required\n    server_names: [x.example]\n");
  const auto r = load(text);
  const auto errors = without_flag_error(r);
  load_result rest{std::nullopt, errors};
  EXPECT_TRUE(has_error(rest, "routes[0].peer_roles", 5, "always verifies"));
  EXPECT_TRUE(has_error(rest, "routes[0].key", 5, "cert and key go together"));
  EXPECT_TRUE(has_error(rest, "routes[0].client_auth", 10, "terminate mode only"));
  EXPECT_TRUE(has_error(rest, "routes[0].server_names", 11, "terminate mode only"));
  EXPECT_EQ(errors.size(), 4u) << all_errors(r);
}

TEST(load, originate_without_client_certificate_is_fine) {
  auto text = originate;
  text.replace(text.find("    cert: client.pem\n    key: client.key\n"), 41, "");
  EXPECT_TRUE(without_flag_error(load(text)).empty()) << all_errors(load(text));
}

class temp_dir : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("vmsgate-config-test-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "site");
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::filesystem::path write(const std::string& name, const std::string& text) {
    const auto path = dir_ / name;
    std::ofstream(path) << text;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(temp_dir, relative_paths_resolve_against_the_config_directory) {
  write("site/gw.yaml", minimal + "tls: {ticket_keys: ../keys/t.key}\n");
  // A relative config path must still anchor at the file's directory, not the cwd.
  const auto old_cwd = std::filesystem::current_path();
  std::filesystem::current_path(dir_);
  const auto r = load_file("site/gw.yaml");
  std::filesystem::current_path(old_cwd);
  ASSERT_TRUE(r.cfg.has_value()) << all_errors(r);
  EXPECT_EQ(r.cfg->roles.at(0).ca, (dir_ / "site/pki/ca.pem").string());
  EXPECT_EQ(r.cfg->routes.at(0).cert, (dir_ / "site/pki/rec01.pem").string());
  EXPECT_EQ(r.cfg->routes.at(0).key, (dir_ / "site/pki/rec01.key").string());
  EXPECT_EQ(r.cfg->ticket_keys, (dir_ / "keys/t.key").string());
  EXPECT_EQ(r.cfg->path, "site/gw.yaml");
}

TEST_F(temp_dir, errors_from_a_file_name_the_file) {
  const auto file = write("bad.yaml", "workers: -1\n" + minimal);
  const auto r = load_file(file.string());
  ASSERT_EQ(r.errors.size(), 1u) << all_errors(r);
  EXPECT_EQ(r.errors[0].str(), file.string() + ":1:10: workers: expected a whole number from 0 to 1024, found \"-1\"");
}

TEST_F(temp_dir, missing_or_unreadable_file_is_an_error_naming_it) {
  const auto missing = (dir_ / "nope.yaml").string();
  const auto r = load_file(missing);
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_EQ(r.errors[0].where.file, missing);
  EXPECT_NE(r.errors[0].str().find("No such file"), std::string::npos) << r.errors[0].str();
  const auto dir = load_file(dir_.string());
  ASSERT_EQ(dir.errors.size(), 1u);
  EXPECT_NE(dir.errors[0].message.find("directory"), std::string::npos);
}

// The shipped examples must stay valid; only the feature flag may hold originate back.
TEST(examples, load_cleanly) {
  for (const char* name : {"terminate.yaml", "uplink.yaml", "site.yaml"}) {
    const std::string path = std::string(VMSGATE_SOURCE_DIR) + "/config/" + name;
    const auto r = load_file(path);
    EXPECT_TRUE(without_flag_error(r).empty()) << all_errors(r);
    if (std::string(name) == "terminate.yaml") {
      ASSERT_TRUE(r.cfg.has_value()) << all_errors(r);
      EXPECT_EQ(r.cfg->routes.at(0).listen.str(), "0.0.0.0:7563");
      EXPECT_EQ(r.cfg->roles.at(0).ca, std::string(VMSGATE_SOURCE_DIR) + "/config/pki/ca.pem");
    }
  }
}

// Every config the project ships caps concurrent handshakes per source, so a site
// that starts from one is not open to one host taking every handshake slot.
TEST(examples, every_shipped_config_caps_handshakes_per_source) {
  const std::string src = VMSGATE_SOURCE_DIR;
  std::vector<std::pair<std::string, load_result>> loaded;
  for (const char* name : {"/config/terminate.yaml", "/config/uplink.yaml", "/config/site.yaml",
                           "/docker/site/management.yaml", "/docker/site/recording.yaml",
                           "/docker/site/failover.yaml", "/docker/site/mobile.yaml"})
    loaded.emplace_back(name, load_file(src + name));
  // The Kubernetes example carries its config inside a ConfigMap.
  const YAML::Node map = YAML::LoadFile(src + "/deploy/k8s/configmap.yaml");
  loaded.emplace_back("configmap.yaml", load_string(map["data"]["vmsgate.yaml"].as<std::string>(),
                                                    "/etc/vmsgate/vmsgate.yaml"));
  for (const auto& [name, r] : loaded) {
    ASSERT_TRUE(r.cfg.has_value()) << name << ": " << all_errors(r);
    EXPECT_GT(r.cfg->limits.max_handshakes_per_source, 0u) << name;
    EXPECT_LE(r.cfg->limits.max_handshakes_per_source, 1000u) << name;
  }
}

}  // namespace
}  // namespace vmsgate::config

namespace vmsgate::config {
namespace {

// Issue 28's keys: a role's CRLs (one path or a list, resolved like other paths),
// require_role_uri, and ocsp_response, which only a terminate route can staple.
TEST(load, second_wave_trust_keys) {
  std::string text = originate;
  text.replace(text.find("  recording: {ca: ca.pem}"), 25,
               "  recording: {ca: ca.pem, crl: [crl.pem, /etc/pki/old.crl], require_role_uri: true}");
  text.replace(text.find("  management: {ca: mgmt-ca.pem}"), 31, "  management: {ca: mgmt-ca.pem, crl: mgmt.crl}");
  const auto r = load(text);
  const auto errors = without_flag_error(r);
  EXPECT_TRUE(errors.empty()) << all_errors(r);
  if (r.cfg) {
    EXPECT_EQ(r.cfg->find_role("recording")->crl,
              (std::vector<std::string>{"/etc/vmsgate/crl.pem", "/etc/pki/old.crl"}));
    EXPECT_TRUE(r.cfg->find_role("recording")->require_role_uri);
    EXPECT_EQ(r.cfg->find_role("management")->crl, (std::vector<std::string>{"/etc/vmsgate/mgmt.crl"}));
  }
  std::string stapled = originate;
  stapled.replace(stapled.find("    peer_roles: [management]\n"), 0, "    ocsp_response: r.der\n");
  const auto o = load(stapled);
  bool refused = false;
  for (const auto& e : o.errors) refused = refused || e.key == "routes[0].ocsp_response";
  EXPECT_TRUE(refused) << all_errors(o);
}

}  // namespace
}  // namespace vmsgate::config
