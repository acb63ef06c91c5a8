#include "proxy/gateway/route_build.hpp"

#include <filesystem>

#include "proxy/net/session.hpp"
#include "proxy/pki/builder.hpp"
#include "proxy/tls/certificate.hpp"

namespace vmsgate::app {
namespace {

std::vector<tls::role_policy> peer_policies(const config::config& cfg, const config::route_config& rc) {
  std::vector<tls::role_policy> out;
  for (const auto& name : rc.peer_roles)
    if (const auto* role = cfg.find_role(name)) out.push_back(to_policy(*role));
  return out;
}

tls::client_auth to_tls(config::client_auth a) {
  switch (a) {
    case config::client_auth::none: return tls::client_auth::none;
    case config::client_auth::optional: return tls::client_auth::optional;
    case config::client_auth::required: return tls::client_auth::required;
  }
  return tls::client_auth::required;
}

std::shared_ptr<net_io::route_settings> make_settings(const config::config& cfg, const config::route_config& rc) {
  auto settings = std::make_shared<net_io::route_settings>();
  settings->name = rc.name;
  settings->originate = rc.mode == config::mode::originate;
  settings->listen = resolve(rc.listen, "route " + rc.name + " listen");
  for (const auto& b : rc.backends) {
    settings->backends.push_back({resolve(b.address, "route " + rc.name + " backend"), b.address.str(),
                                  b.server_name.empty() ? b.address.host : b.server_name});
  }
  settings->handshake_timeout = cfg.limits.handshake_timeout;
  settings->connect_timeout = cfg.limits.connect_timeout;
  settings->idle_timeout = cfg.limits.idle_timeout;
  settings->max_connections = rc.max_connections.value_or(cfg.limits.max_connections);
  return settings;
}

}  // namespace

tls::role_policy to_policy(const config::role_config& role) {
  tls::role_policy p;
  p.name = role.name;
  p.ca_path = role.ca;
  p.min_rsa_bits = role.min_rsa_bits;
  p.allow_ecdsa = role.allow_ecdsa;
  p.expiry_warning = role.expiry_warning;
  p.peer_names = role.peer_names;
  p.require_role_uri = role.require_role_uri;
  p.crl_paths = role.crl;
  return p;
}

tcp::endpoint resolve(const config::endpoint& e, const std::string& what) {
  error_code ec;
  const auto addr = net::ip::make_address(e.host == "*" ? "0.0.0.0" : e.host, ec);
  if (!ec) return {addr, e.port};
  net::io_context ioc;
  tcp::resolver resolver(ioc);
  const auto results = resolver.resolve(e.host, std::to_string(e.port), ec);
  if (ec || results.empty())
    throw startup_error(1, what + ": cannot resolve " + e.host + ": " + (ec ? ec.message() : "no address"));
  return results.begin()->endpoint();
}

bool acme_pending(const config::route_config& rc, std::chrono::system_clock::time_point now) {
  if (!rc.acme) return false;
  if (!std::filesystem::exists(rc.cert) && !std::filesystem::exists(rc.key)) return true;
  std::string why;
  const auto chain = tls::load_certificates(rc.cert, why);
  return !chain.empty() && tls::inspect(chain.front().get()).not_after <= now;
}

const tls::identity_pem& acme_stand_in() {
  static const tls::identity_pem pem = [] {
    const auto key = pki::generate_rsa(2048);
    pki::cert_spec spec;
    spec.common_name = "vmsgate: no certificate yet (ACME pending)";
    spec.not_before = pki::clock::now() - std::chrono::hours(1);
    spec.not_after = pki::clock::now() + std::chrono::hours(24 * 365);
    const auto cert = pki::make_certificate(spec, key.get(), nullptr, key.get());
    return tls::identity_pem{pki::to_pem(cert.get()), tls::to_secret(pki::to_pem(key.get()))};
  }();
  return pem;
}

route_blueprint make_blueprint(const config::config& cfg, const config::route_config& rc,
                               std::shared_ptr<const tls::acme_answers> acme) {
  route_blueprint bp;
  bp.settings = make_settings(cfg, rc);
  bp.backends = std::make_shared<net_io::backend_state>(bp.settings->backends.size());
  const auto* role = cfg.find_role(rc.role);
  const bool allow_ecdsa = role != nullptr && role->allow_ecdsa;
  const auto lifetime = std::max(std::chrono::duration_cast<std::chrono::seconds>(cfg.session_lifetime),
                                 std::chrono::seconds(1));
  try {
    std::optional<tls::identity_pem> own;
    const bool pending = acme_pending(rc, std::chrono::system_clock::now());
    if (pending)
      own = acme_stand_in();
    else if (!rc.cert.empty())
      own = tls::identity_pem{tls::read_file(rc.cert), tls::read_secret_file(rc.key)};
    const auto peers = tls::read_peer_roles(peer_policies(cfg, rc));
    if (rc.mode == config::mode::originate) {
      bp.client = tls::client_identity{rc.name, own, allow_ecdsa, peers};
      bp.sessions = std::make_shared<tls::session_cache>(rc.backends.size(), lifetime);
    } else {
      bp.server = tls::server_identity{rc.name,     own.value_or(tls::identity_pem{}), rc.server_names, allow_ecdsa,
                                       to_tls(rc.client_auth), peers, lifetime, std::nullopt};
      bp.server->any_name = rc.is_default;
      if (rc.acme) {
        // Never without answers: a pending route must refuse, not serve its stand-in.
        bp.server->acme = acme ? std::move(acme) : std::make_shared<const tls::acme_answers>();
        bp.server->pending = pending;
      }
      if (config::routes_sharing(cfg, rc).size() > 1) bp.server->on_client_hello = &net_io::session::on_client_hello;
      // Judged again here, at start and on each reload: check_config has logged
      // why a response is not stapled.
      if (!rc.ocsp_response.empty() && role != nullptr)
        tls::load_ocsp(rc.name, rc.ocsp_response, rc.cert, role->ca, std::chrono::system_clock::now(),
                       bp.server->staple);
    }
  } catch (const std::exception& e) {
    throw startup_error(1, "route " + rc.name + ": " + e.what());
  }
  return bp;
}

std::shared_ptr<net_io::worker_route> make_worker_route(const route_blueprint& bp,
                                                        std::shared_ptr<const tls::ticket_keyring> tickets,
                                                        std::shared_ptr<net_io::route_shared> shared,
                                                        std::shared_ptr<net_io::route_counters> counters) {
  auto route = std::make_shared<net_io::worker_route>();
  route->settings = bp.settings;
  route->shared = std::move(shared);
  const std::size_t n = bp.settings->backends.size();
  route->counters = counters && counters->backend_failures.size() == n
                        ? std::move(counters)
                        : std::make_shared<net_io::route_counters>(n);
  route->backends = bp.backends;
  route->sessions = bp.sessions;
  try {
    if (bp.server) route->tls = tls::make_server_context(*bp.server, std::move(tickets));
    if (bp.client) route->client_tls = tls::make_client_context(*bp.client);
  } catch (const std::exception& e) {
    throw startup_error(1, e.what());
  }
  return route;
}

}  // namespace vmsgate::app
