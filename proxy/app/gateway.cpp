#include "proxy/app/gateway.hpp"

#include <thread>

#include "proxy/common/log.hpp"
#include "proxy/tls/server_context.hpp"

namespace vmsgate::app {
namespace {

std::string label(const tcp::endpoint& ep) {
  const auto a = ep.address();
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

// Names are resolved once at start-up: a DNS lookup on the data path would stall
// every connection on the worker.
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

unsigned worker_count(unsigned configured) {
  if (configured != 0) return configured;
  const unsigned n = std::thread::hardware_concurrency();
  return n == 0 ? 1 : n;
}

}  // namespace

gateway::gateway(const config::config& cfg) : cfg_(cfg) {
  global_.max_connections = cfg_.limits.max_connections;
  const unsigned n = worker_count(cfg_.workers);
  for (unsigned i = 0; i < n; ++i) workers_.push_back(std::make_unique<net_io::worker>(i, global_));
  for (const auto& rc : cfg_.routes) build_route(rc);
  start_admin();
}

gateway::~gateway() {
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();
}

void gateway::build_route(const config::route_config& rc) {
  if (rc.mode != config::mode::terminate) throw startup_error(2, "route " + rc.name + ": only terminate mode runs yet");
  auto settings = std::make_shared<net_io::route_settings>();
  settings->name = rc.name;
  settings->listen = resolve(rc.listen, "route " + rc.name + " listen");
  for (const auto& b : rc.backends)
    settings->backends.push_back({resolve(b.address, "route " + rc.name + " backend"), b.address.str()});
  settings->handshake_timeout = cfg_.limits.handshake_timeout;
  settings->connect_timeout = cfg_.limits.connect_timeout;
  settings->idle_timeout = cfg_.limits.idle_timeout;
  settings->max_connections = rc.max_connections.value_or(cfg_.limits.max_connections);

  tls::server_identity id;
  id.route = rc.name;
  id.server_names = rc.server_names;
  const auto* role = cfg_.find_role(rc.role);
  id.allow_ecdsa = role != nullptr && role->allow_ecdsa;
  try {
    id.cert_chain_pem = tls::read_file(rc.cert);
    id.key_pem = tls::read_file(rc.key);
  } catch (const std::exception& e) {
    throw startup_error(1, "route " + rc.name + ": " + e.what());
  }
  const auto keys = tls::random_ticket_keys();
  auto shared = std::make_shared<net_io::route_shared>();
  tcp::endpoint where = settings->listen;
  route_record record{rc.name, rc.role, {}, settings->backends, {}};
  for (const auto& b : settings->backends) record.backend_labels.push_back(b.label);
  for (auto& w : workers_) {
    auto route = std::make_shared<net_io::worker_route>();
    route->settings = settings;
    route->shared = shared;
    route->counters = std::make_shared<net_io::route_counters>(settings->backends.size());
    try {
      route->tls = tls::make_server_context(id, keys);
      // The first bind may ask for port 0; the others then take the port it got.
      where = w->listen(route, where);
      record.per_worker.push_back(route->counters);
    } catch (const boost::system::system_error& e) {
      throw startup_error(1, "route " + rc.name + ": cannot listen on " + rc.listen.str() + ": " + e.code().message());
    } catch (const std::exception& e) {
      throw startup_error(1, e.what());
    }
  }
  routes_.push_back(std::move(record));
  log::line(log::level::info, "listening").field("route", rc.name).field("address", label(where))
      .field("workers", static_cast<unsigned>(workers_.size()));
}

void gateway::start_admin() {
  admin::handlers h;  // /metrics and /readyz answer 503 until their issue lands
  try {
    admin_ = std::make_unique<admin::server>(control_, resolve(cfg_.admin.listen, "admin.listen"), std::move(h));
  } catch (const boost::system::system_error& e) {
    throw startup_error(1, "admin: cannot listen on " + cfg_.admin.listen.str() + ": " + e.code().message());
  }
  log::line(log::level::info, "admin_listening").field("address", label(admin_->local_endpoint()));
}

std::uint64_t gateway::open_connections() const {
  std::uint64_t n = 0;
  for (const auto& w : workers_) n += w->open_sessions();
  return n;
}

int gateway::run() {
  admin_->start();
  for (auto& w : workers_) w->start();
  signals_.add(SIGTERM);
  signals_.add(SIGINT);
  signals_.add(SIGHUP);
  net::co_spawn(control_, handle_signals(), net::detached);
  log::line(log::level::info, "ready").field("routes", static_cast<std::uint64_t>(cfg_.routes.size()));
  control_.run();
  return 0;
}

net::awaitable<void> gateway::handle_signals() {
  for (;;) {
    auto [ec, sig] = co_await signals_.async_wait(use_nothrow);
    if (ec) co_return;
    if (sig == SIGHUP) {
      log::line(log::level::warning, "reload_unsupported").field("detail", "reload is not implemented yet; nothing changed");
      continue;
    }
    log::line(log::level::info, "signal").field("signal", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    co_await drain();
    co_return;
  }
}

// Stop accepting, let open connections finish for up to drain_timeout, then close
// the rest and stop every worker.
net::awaitable<void> gateway::drain() {
  log::line(log::level::info, "drain_started").field("open_connections", open_connections());
  for (auto& w : workers_) w->stop_accepting();
  const auto deadline = std::chrono::steady_clock::now() + cfg_.limits.drain_timeout;
  net::steady_timer tick(control_);
  while (open_connections() > 0 && std::chrono::steady_clock::now() < deadline) {
    tick.expires_after(std::chrono::milliseconds(50));
    co_await tick.async_wait(use_nothrow);
  }
  const auto left = open_connections();
  if (left > 0) {
    for (auto& w : workers_) w->close_all();
    const auto grace = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (open_connections() > 0 && std::chrono::steady_clock::now() < grace) {
      tick.expires_after(std::chrono::milliseconds(20));
      co_await tick.async_wait(use_nothrow);
    }
  }
  log::line(log::level::info, "drain_finished").field("open_connections", left);
  for (auto& w : workers_) w->stop();
  admin_->stop();
  signals_.cancel();
}

}  // namespace vmsgate::app
