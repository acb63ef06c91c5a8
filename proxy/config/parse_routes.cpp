// YAML -> structs for routes and their backends.

#include <charconv>
#include <filesystem>
#include <limits>

#include "proxy/config/detail.hpp"

namespace vmsgate::config::detail {
namespace {

// A backend port of 0 cannot be connected to; listen ports of 0 are fine because
// the kernel picks one (tests rely on that).
bool read_backend_address(context& ctx, const YAML::Node& node, const std::string& key, endpoint& out) {
  auto address = as_endpoint{}(ctx, node, key);
  if (!address) return false;
  if (address->port == 0) {
    ctx.fail(node, key, "a backend port must be from 1 to 65535");
    return false;
  }
  out = std::move(*address);
  return true;
}

bool parse_backend_map(context& ctx, const YAML::Node& node, const std::string& key, backend_config& backend) {
  const fields f(ctx, node, key, {"address", "server_name"});
  f.optional("server_name", backend.server_name, as_host{});
  const YAML::Node address = f.node("address");
  if (!address.IsDefined()) {
    f.missing("address");
    return false;
  }
  return read_backend_address(ctx, address, f.key("address"), backend.address);
}

std::optional<backend_config> parse_backend(context& ctx, const YAML::Node& node, const std::string& key) {
  backend_config backend;
  backend.where = ctx.at(node);
  ctx.marks[key] = backend.where;
  bool valid = false;
  if (node.IsScalar())
    valid = read_backend_address(ctx, node, key, backend.address);
  else if (node.IsMap())
    valid = parse_backend_map(ctx, node, key, backend);
  else
    ctx.fail(node, key, "expected \"host:port\" or a map with address and server_name");
  if (!valid) return std::nullopt;
  // The name verified upstream is the one dialled unless the operator says otherwise.
  if (backend.server_name.empty()) backend.server_name = backend.address.host;
  return backend;
}

std::optional<std::vector<backend_config>> parse_backends(context& ctx, const YAML::Node& node,
                                                          const std::string& key) {
  if (!node.IsSequence() || node.size() == 0) {
    ctx.fail(node, key, "expected a list of at least one backend, such as [\"127.0.0.1:17563\"]");
    return std::nullopt;
  }
  std::vector<backend_config> out;
  for (std::size_t i = 0; i < node.size(); ++i)
    if (auto backend = parse_backend(ctx, node[i], index(key, i))) out.push_back(std::move(*backend));
  return out;
}

struct backends_reader {
  std::optional<std::vector<backend_config>> operator()(context& ctx, const YAML::Node& node,
                                                        const std::string& key) const {
    return parse_backends(ctx, node, key);
  }
};

// One contact or a list of them.
struct contacts_reader {
  std::optional<std::vector<std::string>> operator()(context& ctx, const YAML::Node& node,
                                                     const std::string& key) const {
    if (node.IsScalar()) {
      auto one = as_string{}(ctx, node, key);
      if (!one) return std::nullopt;
      return std::vector<std::string>{std::move(*one)};
    }
    return as_string_list{}(ctx, node, key);
  }
};

// renew_before: a duration, or a percentage of the certificate's lifetime.
void read_renew_before(context& ctx, const YAML::Node& node, const std::string& key, acme_config& acme) {
  const std::string text = node.IsScalar() ? node.Scalar() : std::string{};
  if (text.ends_with('%')) {
    double percent = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size() - 1, percent);
    if (ec != std::errc{} || end != text.data() + text.size() - 1 || !(percent > 0) || !(percent < 100)) {
      ctx.fail(node, key, "expected a percentage of the certificate's lifetime above 0% and below 100%, such as 33%");
      return;
    }
    acme.renew_before_fraction = percent / 100;
    return;
  }
  if (auto d = as_duration{false}(ctx, node, key)) acme.renew_before = *d;
}

acme_config parse_acme(context& ctx, const YAML::Node& node, const std::string& key) {
  acme_config acme;
  acme.where = ctx.at(node);
  const fields f(ctx, node, key,
                 {"directory", "contact", "challenge", "http_listen", "ca", "account_key", "renew_before"});
  if (!f.ok()) return acme;
  f.required("directory", acme.directory, as_string{});
  f.optional("contact", acme.contact, contacts_reader{});
  std::size_t challenge = 0;
  f.optional("challenge", challenge, as_choice{{"tls-alpn-01", "http-01"}});
  acme.challenge = challenge == 0 ? acme_challenge::tls_alpn_01 : acme_challenge::http_01;
  f.optional("http_listen", acme.http_listen, as_endpoint{});
  f.optional("ca", acme.ca, as_path{});
  f.optional("account_key", acme.account_key, as_path{});
  if (const YAML::Node renew = f.node("renew_before"); renew.IsDefined())
    read_renew_before(ctx, renew, f.key("renew_before"), acme);
  return acme;
}

struct acme_reader {
  std::optional<acme_config> operator()(context& ctx, const YAML::Node& node, const std::string& key) const {
    ctx.marks[key] = ctx.at(node);
    return parse_acme(ctx, node, key);
  }
};

void parse_route(context& ctx, const YAML::Node& node, const std::string& path, route_config& route) {
  route.where = ctx.at(node);
  const fields f(ctx, node, path,
                 {"name", "role", "mode", "listen", "server_names", "cert", "key", "client_auth", "peer_roles",
                  "backends", "max_connections", "ocsp_response", "default", "acme"});
  if (!f.ok()) return;
  f.required("name", route.name, as_string{});
  f.required("role", route.role, as_string{});
  std::size_t mode_index = 0;
  f.optional("mode", mode_index, as_choice{{"terminate", "originate"}});
  route.mode = mode_index == 0 ? mode::terminate : mode::originate;
  f.required("listen", route.listen, as_endpoint{});
  f.optional("server_names", route.server_names, as_string_list{true});
  f.optional("cert", route.cert, as_path{});
  f.optional("key", route.key, as_path{});
  std::size_t auth_index = 0;
  f.optional("client_auth", auth_index, as_choice{{"none", "optional", "required"}});
  route.client_auth = static_cast<enum client_auth>(auth_index);
  f.optional("peer_roles", route.peer_roles, as_string_list{});
  f.required("backends", route.backends, backends_reader{});
  f.optional("max_connections", route.max_connections,
             as_uint{1, std::numeric_limits<std::uint32_t>::max()});
  f.optional("ocsp_response", route.ocsp_response, as_path{});
  f.optional("default", route.is_default, as_bool{});
  f.optional("acme", route.acme, acme_reader{});
  // The account key defaults to one beside the certificate, so that a route's ACME
  // state lives in one directory the gateway may write to.
  if (route.acme && route.acme->account_key.empty() && !route.cert.empty())
    route.acme->account_key = (std::filesystem::path(route.cert).parent_path() / "acme-account.key").string();
}

}  // namespace

void parse_routes(context& ctx, const YAML::Node& node, std::vector<route_config>& routes) {
  if (!node.IsSequence() || node.size() == 0) {
    ctx.fail(node, "routes", "expected a list of at least one route, each a map with name, role, listen and backends");
    return;
  }
  for (std::size_t i = 0; i < node.size(); ++i) {
    const std::string path = index("routes", i);
    ctx.marks[path] = ctx.at(node[i]);
    route_config route;
    parse_route(ctx, node[i], path, route);
    routes.push_back(std::move(route));
  }
}

}  // namespace vmsgate::config::detail
