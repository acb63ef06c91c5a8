// YAML -> structs for everything but routes: the top level, admin, reload, tls,
// limits and roles. Every problem is recorded and parsing carries on, so that one
// run reports all of them.

#include <limits>

#include "proxy/config/detail.hpp"

namespace vmsgate::config::detail {
namespace {

constexpr std::uint64_t max_count = std::numeric_limits<std::uint32_t>::max();

void parse_admin(context& ctx, const YAML::Node& node, admin_config& admin) {
  admin.where = ctx.at(node);
  const fields f(ctx, node, "admin", {"listen", "probe_interval"});
  f.optional("listen", admin.listen, as_endpoint{});
  f.optional("probe_interval", admin.probe_interval, as_duration{true});
}

void parse_log(context& ctx, const YAML::Node& node, log_config& log) {
  const fields f(ctx, node, "log", {"level", "connections"});
  std::size_t level = static_cast<std::size_t>(log.level);
  f.optional("level", level, as_choice{{"debug", "info", "warn", "error"}});
  log.level = static_cast<log_level>(level);
  std::size_t connections = static_cast<std::size_t>(log.connections);
  f.optional("connections", connections, as_choice{{"all", "errors", "none"}});
  log.connections = static_cast<log_connections>(connections);
}

void parse_reload(context& ctx, const YAML::Node& node, config& cfg) {
  const fields f(ctx, node, "reload", {"watch"});
  f.optional("watch", cfg.reload_watch, as_bool{});
}

void parse_tls(context& ctx, const YAML::Node& node, config& cfg) {
  const fields f(ctx, node, "tls", {"ticket_keys", "ticket_rotation", "session_lifetime"});
  f.optional("ticket_keys", cfg.ticket_keys, as_path{});
  // Zero would rotate continuously and no ticket would ever resume.
  f.optional("ticket_rotation", cfg.ticket_rotation, as_duration{false});
  f.optional("session_lifetime", cfg.session_lifetime, as_duration{false});
}

void parse_limits(context& ctx, const YAML::Node& node, limits_config& limits) {
  const fields f(ctx, node, "limits",
                 {"max_connections", "max_handshakes_per_source", "source_prefix_v4", "source_prefix_v6",
                  "handshake_timeout", "connect_timeout", "idle_timeout", "drain_timeout"});
  f.optional("max_connections", limits.max_connections, as_uint{1, max_count});
  f.optional("max_handshakes_per_source", limits.max_handshakes_per_source, as_uint{0, max_count});
  // How much of a client's address is one "source" for that cap: a /0 makes it one
  // cap for everyone, a full-length prefix one per address.
  f.optional("source_prefix_v4", limits.source_prefix_v4, as_uint{0, 32});
  f.optional("source_prefix_v6", limits.source_prefix_v6, as_uint{0, 128});
  // A zero timeout would fail every handshake, connect or stream at once; a zero
  // drain is meaningful (close at once on SIGTERM).
  f.optional("handshake_timeout", limits.handshake_timeout, as_duration{false});
  f.optional("connect_timeout", limits.connect_timeout, as_duration{false});
  f.optional("idle_timeout", limits.idle_timeout, as_duration{false});
  f.optional("drain_timeout", limits.drain_timeout, as_duration{true});
}

void parse_role(context& ctx, const YAML::Node& node, const std::string& path, role_config& role) {
  const fields f(ctx, node, path,
                 {"ca", "min_rsa_bits", "allow_ecdsa", "expiry_warning", "peer_names", "require_role_uri", "crl"});
  f.required("ca", role.ca, as_path{});
  // Below 1024 bits RSA is broken outright; above 16384 no peer will handshake in time.
  f.optional("min_rsa_bits", role.min_rsa_bits, as_uint{1024, 16384});
  f.optional("allow_ecdsa", role.allow_ecdsa, as_bool{});
  std::chrono::milliseconds warning = role.expiry_warning;
  f.optional("expiry_warning", warning, as_duration{true});
  role.expiry_warning = std::chrono::duration_cast<std::chrono::seconds>(warning);
  f.optional("peer_names", role.peer_names, as_string_list{});
  f.optional("require_role_uri", role.require_role_uri, as_bool{});
  f.optional("crl", role.crl, as_path_list{});
}

void parse_roles(context& ctx, const YAML::Node& node, std::vector<role_config>& roles) {
  if (!node.IsMap()) {
    ctx.fail(node, "roles", "expected a map from role names to role policies, such as recording: {ca: pki/ca.pem}");
    return;
  }
  for (const auto& pair : node) {
    const std::string name = pair.first.IsScalar() ? pair.first.Scalar() : std::string{};
    const std::string path = join("roles", name);
    if (name.empty()) {
      ctx.fail(pair.first, "roles", "a role name must be a non-empty string");
      continue;
    }
    ctx.marks[path] = ctx.at(pair.first);
    if (pair.second.IsNull()) ctx.empty_values.emplace_back(pair.second, ctx.at(pair.first));
    role_config role;
    role.name = name;
    // A role is where its name is written; its map starts a line further down.
    role.where = ctx.at(pair.first);
    parse_role(ctx, pair.second, path, role);
    roles.push_back(std::move(role));
  }
}

}  // namespace

void parse_document(context& ctx, const YAML::Node& root, config& cfg) {
  if (root.IsNull() || !root.IsDefined()) {
    ctx.fail(location{ctx.file, 1, 1}, "", "the file is empty; expected a map with at least roles and routes");
    return;
  }
  const fields f(ctx, root, "",
                 {"admin", "log", "workers", "user", "group", "reload", "tls", "limits", "roles", "routes"});
  if (!f.ok()) return;
  if (auto n = f.node("admin"); n.IsDefined()) parse_admin(ctx, n, cfg.admin);
  if (auto n = f.node("log"); n.IsDefined()) parse_log(ctx, n, cfg.log);
  f.optional("workers", cfg.workers, as_uint{0, 1024});
  f.optional("user", cfg.user, as_string{});
  f.optional("group", cfg.group, as_string{});
  if (auto n = f.node("reload"); n.IsDefined()) parse_reload(ctx, n, cfg);
  if (auto n = f.node("tls"); n.IsDefined()) parse_tls(ctx, n, cfg);
  if (auto n = f.node("limits"); n.IsDefined()) parse_limits(ctx, n, cfg.limits);
  if (auto n = f.node("roles"); n.IsDefined()) parse_roles(ctx, n, cfg.roles);
  if (auto n = f.node("routes"); n.IsDefined())
    parse_routes(ctx, n, cfg.routes);
  else
    f.missing("routes");
}

}  // namespace vmsgate::config::detail
