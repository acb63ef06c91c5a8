// The rules that span fields: unique names, listeners that cannot share a port,
// references to roles, and what each mode requires. They run on whatever parsed,
// and stay quiet about values whose parse already failed, so that one mistake
// yields one error.

#include <map>

#include "proxy/config/detail.hpp"
#include "proxy/config/features.hpp"

namespace vmsgate::config::detail {
namespace {

bool present(const context& ctx, const std::string& key) { return ctx.marks.contains(key); }

// Whether parsing already reported `key` or something inside it; an empty value
// after such an error is a symptom, not a second mistake.
bool failed(const context& ctx, const std::string& key) {
  for (const auto& e : ctx.errors)
    if (e.key == key || e.key.starts_with(key + "[") || e.key.starts_with(key + ".")) return true;
  return false;
}

std::string at_line(const location& where) { return " (line " + std::to_string(where.line) + ")"; }

void validate_route_names(context& ctx, const config& cfg) {
  std::map<std::string, std::size_t> first;
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const auto& name = cfg.routes[i].name;
    if (name.empty()) continue;
    const auto [it, inserted] = first.emplace(name, i);
    if (inserted) continue;
    const std::string key = join(index("routes", i), "name");
    const std::string other = index("routes", it->second);
    ctx.fail(ctx.where(key, cfg.routes[i].where), key,
             "route name " + in_quotes(name) + " is already used by " + other +
                 at_line(ctx.where(other, cfg.routes[it->second].where)));
  }
}

// Two listeners overlap when the same port is bound on the same address, or on a
// wildcard that covers the other; SO_REUSEPORT would then silently split the traffic
// between two routes instead of failing to bind.
bool overlaps(const endpoint& a, const endpoint& b) {
  if (a.port != b.port || a.port == 0) return false;
  const std::string ha = canonical_host(a.host);
  const std::string hb = canonical_host(b.host);
  const bool a_v6 = ha.find(':') != std::string::npos;
  const bool b_v6 = hb.find(':') != std::string::npos;
  if (ha == hb || ha == "::" || hb == "::") return true;
  return (ha == "0.0.0.0" && !b_v6) || (hb == "0.0.0.0" && !a_v6);
}

constexpr std::size_t no_route = static_cast<std::size_t>(-1);

struct listener {
  std::string key;
  endpoint address;
  location where;
  std::size_t route = no_route;  // admin.listen otherwise
};

// ACME http-01 listeners: routes may share one (it answers for all of them), but
// none may overlap a route's listener or the admin endpoint.
void validate_http_listeners(context& ctx, const config& cfg, const std::vector<listener>& taken) {
  std::vector<listener> http;
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const auto& acme = cfg.routes[i].acme;
    if (!acme || !acme->http_listen) continue;
    const std::string key = join(join(index("routes", i), "acme"), "http_listen");
    const listener current{key, *acme->http_listen, ctx.where(key, cfg.routes[i].where), i};
    const listener* clash = nullptr;
    for (const auto& l : taken)
      if (clash == nullptr && overlaps(current.address, l.address)) clash = &l;
    for (const auto& l : http)
      if (clash == nullptr && overlaps(current.address, l.address) && !same_address(current.address, l.address))
        clash = &l;
    if (clash != nullptr) {
      ctx.fail(current.where, key,
               in_quotes(current.address.str()) + " overlaps " + clash->key + " " + in_quotes(clash->address.str()) +
                   at_line(clash->where) + "; the http-01 listener needs a port of its own (routes may share one "
                   "http_listen written the same way)");
      continue;
    }
    http.push_back(current);
  }
}

void validate_listeners(context& ctx, const config& cfg) {
  std::vector<listener> seen;
  seen.push_back({"admin.listen", cfg.admin.listen, ctx.where("admin.listen", cfg.admin.where)});
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const std::string key = join(index("routes", i), "listen");
    if (!present(ctx, key) || cfg.routes[i].listen.host.empty()) continue;
    const listener current{key, cfg.routes[i].listen, ctx.where(key, cfg.routes[i].where), i};
    const bool terminate = cfg.routes[i].mode == mode::terminate;
    for (const auto& other : seen) {
      if (!overlaps(current.address, other.address)) continue;
      const bool other_terminate = other.route != no_route && cfg.routes[other.route].mode == mode::terminate;
      if (terminate && other_terminate && same_address(current.address, other.address)) continue;
      std::string why = "; two listeners cannot share a port";
      if (terminate && other_terminate)
        why += " unless they name the same address exactly (then SNI chooses the route)";
      else if (other.route != no_route)
        why += ": only terminate routes can share one, chosen by SNI";
      ctx.fail(current.where, key,
               in_quotes(current.address.str()) + " overlaps " + other.key + " " + in_quotes(other.address.str()) +
                   at_line(other.where) + why);
      break;
    }
    seen.push_back(current);
  }
  validate_http_listeners(ctx, cfg, seen);
}

// Routes on one address: at most one default, and no client name that two of them
// could both take.
void validate_shared_addresses(context& ctx, const config& cfg) {
  for (std::size_t j = 0; j < cfg.routes.size(); ++j) {
    const route_config& route = cfg.routes[j];
    const std::string path = index("routes", j);
    if (route.is_default && route.mode == mode::originate) {
      ctx.fail(ctx.where(join(path, "default"), route.where), join(path, "default"),
               "default applies to terminate routes: it takes the TLS clients whose SNI names no route of the "
               "address");
      continue;
    }
    if (route.mode != mode::terminate || route.listen.host.empty()) continue;
    for (std::size_t i = 0; i < j; ++i) {
      const route_config& other = cfg.routes[i];
      if (other.mode != mode::terminate || !same_address(route.listen, other.listen)) continue;
      const std::string other_path = index("routes", i);
      const std::string where_other = other_path + " " + in_quotes(other.name) + at_line(other.where);
      if (route.is_default && other.is_default)
        ctx.fail(ctx.where(join(path, "default"), route.where), join(path, "default"),
                 "only one route on " + in_quotes(route.listen.str()) + " may be the default, and " + where_other +
                     " already is");
      for (const auto& name : route.server_names)
        for (const auto& taken : other.server_names)
          if (canonical_host(name) == canonical_host(taken))
            ctx.fail(ctx.where(join(path, "server_names"), route.where), join(path, "server_names"),
                     in_quotes(name) + " is also a server name of " + where_other +
                         ", which listens on the same address; SNI chooses one route per name, so each name "
                         "belongs to one route");
    }
  }
}

void validate_role_names(context& ctx, const config& cfg) {
  for (std::size_t i = 0; i < cfg.roles.size(); ++i)
    for (std::size_t j = 0; j < i; ++j)
      if (cfg.roles[i].name == cfg.roles[j].name)
        ctx.fail(cfg.roles[i].where, join("roles", cfg.roles[i].name),
                 "role " + in_quotes(cfg.roles[i].name) + " is defined twice; the first is" + at_line(cfg.roles[j].where));
}

void check_role_reference(context& ctx, const config& cfg, const std::string& key, const std::string& name,
                          const location& fallback) {
  if (name.empty() || cfg.find_role(name)) return;
  std::vector<std::string> defined;
  for (const auto& role : cfg.roles) defined.push_back(role.name);
  ctx.fail(ctx.where(key, fallback), key,
           "no role named " + in_quotes(name) + " is defined under roles" +
               (defined.empty() ? std::string{} : "; defined roles are: " + list_words(defined)));
}

void require(context& ctx, const route_config& route, const std::string& path, std::string_view name,
             const std::string& why) {
  const std::string key = join(path, name);
  if (!present(ctx, key)) ctx.fail(route.where, key, "required key is missing: " + why);
}

void validate_terminate(context& ctx, const route_config& route, const std::string& path) {
  require(ctx, route, path, "cert", "terminate mode presents this certificate to clients");
  require(ctx, route, path, "key", "terminate mode needs the private key of cert");
  require(ctx, route, path, "server_names", "terminate mode needs the names clients dial, to check cert against");
  const std::string names_key = join(path, "server_names");
  if (present(ctx, names_key) && route.server_names.empty() && !failed(ctx, names_key))
    ctx.fail(ctx.where(names_key, route.where), names_key, "must list at least one name that clients dial");
  if (route.client_auth != client_auth::none && route.peer_roles.empty() && !present(ctx, join(path, "peer_roles")))
    ctx.fail(ctx.where(join(path, "client_auth"), route.where), join(path, "client_auth"),
             "client certificates are checked against peer_roles, so peer_roles must name at least one role");
}

void validate_originate(context& ctx, const route_config& route, const std::string& path) {
  if constexpr (!originate_supported)
    ctx.fail(ctx.where(join(path, "mode"), route.where), join(path, "mode"), "originate mode is not yet supported");
  if (!present(ctx, join(path, "peer_roles")))
    ctx.fail(route.where, join(path, "peer_roles"),
             "required key is missing: originate mode always verifies the upstream's certificate against peer_roles");
  if (present(ctx, join(path, "cert")) != present(ctx, join(path, "key"))) {
    const std::string absent = present(ctx, join(path, "cert")) ? "key" : "cert";
    ctx.fail(route.where, join(path, absent), "cert and key go together: give both for mutual TLS, or neither");
  }
  if (present(ctx, join(path, "client_auth")) && route.client_auth != client_auth::none)
    ctx.fail(ctx.where(join(path, "client_auth"), route.where), join(path, "client_auth"),
             "client_auth applies to terminate mode only; in originate mode clients connect in plain");
  if (present(ctx, join(path, "ocsp_response")))
    ctx.fail(ctx.where(join(path, "ocsp_response"), route.where), join(path, "ocsp_response"),
             "ocsp_response applies to terminate mode only: it is stapled for the clients of this route's certificate");
  if (present(ctx, join(path, "server_names")))
    ctx.fail(ctx.where(join(path, "server_names"), route.where), join(path, "server_names"),
             "server_names applies to terminate mode only; set server_name on a backend to choose the name "
             "verified upstream");
}

void validate_acme(context& ctx, const route_config& route, const std::string& path) {
  if (!route.acme) return;
  const acme_config& acme = *route.acme;
  const std::string key = join(path, "acme");
  const location at = ctx.where(key, route.where);
  if (route.mode != mode::terminate) {
    ctx.fail(at, key,
             "acme applies to terminate routes: it obtains the certificate this route presents to its clients");
    return;
  }
  if (!acme.directory.empty() && !acme.directory.starts_with("https://"))
    ctx.fail(ctx.where(join(key, "directory"), at), join(key, "directory"),
             "an ACME directory is an https:// URL (RFC 8555 requires HTTPS), such as "
             "https://acme.example.local/directory");
  const bool http = acme.challenge == acme_challenge::http_01;
  if (http && !acme.http_listen)
    ctx.fail(at, join(key, "http_listen"),
             "required key is missing: http-01 answers the CA on a plain HTTP listener, such as \"0.0.0.0:80\"");
  if (!http && acme.http_listen)
    ctx.fail(ctx.where(join(key, "http_listen"), at), join(key, "http_listen"),
             "http_listen is for challenge: http-01; tls-alpn-01 answers on the route's own listener");
  if (acme.http_listen && acme.http_listen->port == 0)
    ctx.fail(ctx.where(join(key, "http_listen"), at), join(key, "http_listen"),
             "the CA connects to a fixed port (80 unless it says otherwise)");
  for (std::size_t i = 0; i < route.server_names.size(); ++i) {
    const std::string& name = route.server_names[i];
    if (name.find(':') != std::string::npos || name.find_first_not_of("0123456789.") == std::string::npos)
      ctx.fail(ctx.where(join(path, "server_names"), route.where), join(path, "server_names"),
               in_quotes(name) + " is an IP address; an ACME CA issues for DNS names, so list the route's DNS "
               "names only, or leave acme out and install the certificate yourself");
  }
}

void validate_route(context& ctx, const config& cfg, std::size_t i) {
  const route_config& route = cfg.routes[i];
  const std::string path = index("routes", i);
  check_role_reference(ctx, cfg, join(path, "role"), route.role, route.where);
  for (std::size_t j = 0; j < route.peer_roles.size(); ++j)
    check_role_reference(ctx, cfg, index(join(path, "peer_roles"), j), route.peer_roles[j], route.where);
  if (route.peer_roles.empty() && present(ctx, join(path, "peer_roles")) && !failed(ctx, join(path, "peer_roles")) &&
      (route.mode == mode::originate || route.client_auth != client_auth::none))
    ctx.fail(ctx.where(join(path, "peer_roles"), route.where), join(path, "peer_roles"),
             "must name at least one role");
  if (route.mode == mode::terminate)
    validate_terminate(ctx, route, path);
  else
    validate_originate(ctx, route, path);
  validate_acme(ctx, route, path);
}

}  // namespace

// ACME writes a route's cert and key: two routes writing the same file, or the
// account key written over by a certificate, would undo each other's work.
void validate_acme_files(context& ctx, const config& cfg) {
  for (std::size_t j = 0; j < cfg.routes.size(); ++j) {
    const route_config& route = cfg.routes[j];
    if (!route.acme) continue;
    const std::string key = join(index("routes", j), "acme");
    const location at = ctx.where(key, route.where);
    const auto& account = route.acme->account_key;
    if (!account.empty() && (account == route.cert || account == route.key))
      ctx.fail(at, join(key, "account_key"),
               "the account key must be a file of its own: ACME replaces cert and key on every renewal");
    for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
      const route_config& other = cfg.routes[i];
      if (i == j || (i > j && other.acme)) continue;  // a pair of ACME routes is reported once
      for (const auto* mine : {&route.cert, &route.key})
        if (!mine->empty() && (*mine == other.cert || *mine == other.key)) {
          ctx.fail(at, key,
                   "ACME writes " + *mine + ", which " + index("routes", i) + " " + in_quotes(other.name) +
                       " also uses" + at_line(other.where) + "; give each ACME route files of its own");
          break;
        }
    }
  }
}

void validate(context& ctx, const config& cfg) {
  validate_role_names(ctx, cfg);
  validate_route_names(ctx, cfg);
  validate_listeners(ctx, cfg);
  validate_shared_addresses(ctx, cfg);
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) validate_route(ctx, cfg, i);
  validate_acme_files(ctx, cfg);
}

}  // namespace vmsgate::config::detail
