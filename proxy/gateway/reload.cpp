// Start-up and reload share one path: stage every route (read files, build every
// worker's TLS contexts, bind new listeners), and only if all of that succeeded,
// commit (adopt new listeners, hand updated routes to the workers, close removed
// ones). A reload that fails anywhere before commit changes nothing.

#include "proxy/common/log.hpp"
#include "proxy/gateway/gateway.hpp"
#include "proxy/gateway/notify.hpp"
#include "proxy/gateway/report.hpp"
#include "proxy/net/listen_probe.hpp"
#include "proxy/tls/context_common.hpp"
#include "proxy/tls/ktls.hpp"

namespace vmsgate::app {
namespace {

bool same_listen(const config::endpoint& a, const config::endpoint& b) { return a.host == b.host && a.port == b.port; }

// Settings that only a restart can change; a reload keeps the running values.
void keep_restart_only(const config::config& running, config::config& next) {
  const bool admin_moved = !same_listen(running.admin.listen, next.admin.listen);
  if (admin_moved || running.admin.probe_interval != next.admin.probe_interval || running.workers != next.workers ||
      running.user != next.user || running.group != next.group) {
    log::line(log::level::warning, "reload_needs_restart")
        .field("detail",
               "admin.listen, admin.probe_interval, workers, user and group change only on restart; keeping the "
               "running values");
  }
  next.admin = running.admin;
  next.workers = running.workers;
  next.user = running.user;
  next.group = running.group;
}

}  // namespace

// log.level and log.connections: at start, and again on each reload.
void gateway::apply_log_settings(const config::log_config& settings) {
  switch (settings.level) {
    case config::log_level::debug: log::set_min_level(log::level::debug); break;
    case config::log_level::info: log::set_min_level(log::level::info); break;
    case config::log_level::warning: log::set_min_level(log::level::warning); break;
    case config::log_level::error: log::set_min_level(log::level::error); break;
  }
  net_io::connection_log lines = net_io::connection_log::all;
  if (settings.connections == config::log_connections::errors) lines = net_io::connection_log::errors;
  if (settings.connections == config::log_connections::none) lines = net_io::connection_log::none;
  global_.connection_lines.store(lines, std::memory_order_relaxed);
}

gateway::staged_route gateway::stage_route(const config::config& cfg, const config::route_config& rc,
                                           const route_record* old) {
  const route_blueprint bp = make_blueprint(cfg, rc, acme_answers_);
  const bool keep = old != nullptr && same_listen(old->listen, rc.listen);
  staged_route st;
  st.record.name = rc.name;
  st.record.role = rc.role;
  st.record.backends = bp.settings->backends;
  for (const auto& b : bp.settings->backends) st.record.backend_labels.push_back(b.label);
  st.record.listen = rc.listen;
  st.record.acme_pending = bp.server && bp.server->pending;
  st.record.shared = keep ? old->shared : std::make_shared<net_io::route_shared>();
  for (std::size_t i = 0; i < workers_.size(); ++i) {
    auto counters = old != nullptr ? old->per_worker[i] : nullptr;
    auto route = make_worker_route(bp, tickets_, st.record.shared, std::move(counters));
    st.record.per_worker.push_back(route->counters);
    st.per_worker.push_back(std::move(route));
  }
  return st;
}

// The listener of `first`'s address: the running one when the address has one
// (a reload adds and removes the routes on it without closing it), else bound anew.
gateway::staged_listener gateway::stage_listener(const config::route_config& first) {
  staged_listener l;
  l.listen = first.listen;
  for (const auto& r : routes_) {
    // Port 0 is no address to share: such a route keeps its own listener by name.
    if (config::same_address(r.listen, first.listen) || (r.name == first.name && same_listen(r.listen, first.listen))) {
      l.id = r.listener_id;
      l.bound = r.bound;
      return l;
    }
  }
  l.id = next_listener_id_++;
  tcp::endpoint where = resolve(first.listen, "route " + first.name + " listen");
  // SO_REUSEPORT would let this process join another's listener and split its
  // clients with it; refuse instead, at start and on a reload that binds anew.
  if (const auto holder = net_io::listening_holder(where))
    throw startup_error(1, "route " + first.name + ": cannot listen on " + first.listen.str() + ": " + *holder +
                               " already listens there");
  for (auto& w : workers_) {
    try {
      l.acceptors.push_back(w->bind(where));
    } catch (const boost::system::system_error& e) {
      throw startup_error(1, "route " + first.name + ": cannot listen on " + first.listen.str() + ": " +
                                 listen_failure(e.code(), where.port()));
    }
    // The first bind may ask for port 0; the others then take the port it got.
    where = l.acceptors.back().local_endpoint();
  }
  l.bound = where;
  return l;
}

gateway::staged_config gateway::stage_all(const config::config& cfg) {
  staged_config staged;
  for (const auto& rc : cfg.routes) {
    const route_record* old = nullptr;
    for (const auto& r : routes_)
      if (r.name == rc.name) old = &r;
    staged.routes.push_back(stage_route(cfg, rc, old));
  }
  // Each address once: the routes that share it (config::routes_sharing) join the
  // listener of the first of them.
  for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
    const auto sharing = config::routes_sharing(cfg, cfg.routes[i]);
    if (sharing.front() != &cfg.routes[i]) continue;
    staged_listener l = stage_listener(cfg.routes[i]);
    for (const auto* rc : sharing) l.routes.push_back(static_cast<std::size_t>(rc - cfg.routes.data()));
    for (std::size_t w = 0; w < workers_.size(); ++w) {
      auto table = std::make_shared<net_io::route_table>();
      for (const std::size_t r : l.routes) {
        const auto& route = staged.routes[r].per_worker[w];
        table->entries.push_back({route, cfg.routes[r].server_names});
        if (cfg.routes[r].is_default) table->fallback = route.get();
      }
      l.per_worker.push_back(std::move(table));
    }
    for (const std::size_t r : l.routes) {
      staged.routes[r].record.listener_id = l.id;
      staged.routes[r].record.bound = l.bound;
    }
    staged.listeners.push_back(std::move(l));
  }
  return staged;
}

void gateway::commit(staged_config staged, config::config cfg) {
  for (auto& l : staged.listeners) {
    const bool fresh = !l.acceptors.empty();
    for (std::size_t i = 0; i < workers_.size(); ++i) {
      if (fresh) {
        workers_[i]->adopt(l.id, l.per_worker[i], std::move(l.acceptors[i]));
      } else {
        workers_[i]->update(l.id, l.per_worker[i]);
      }
    }
    for (const std::size_t r : l.routes) {
      const auto& st = staged.routes[r];
      const bool known = std::any_of(routes_.begin(), routes_.end(), [&](const route_record& old) {
        return old.name == st.record.name && old.listener_id == l.id;
      });
      log::line(log::level::info, fresh || !known ? "listening" : "route_updated")
          .field("route", st.record.name)
          .field("mode", st.per_worker.front()->settings->originate ? "originate" : "terminate")
          .field("address", endpoint_label(l.bound))
          .field("routes_on_address", static_cast<std::uint64_t>(l.routes.size()))
          .field("workers", static_cast<unsigned>(workers_.size()))
          // Per connection OpenSSL may still keep a cipher the kernel lacks in user
          // space; connection_closed's `ktls` field says what each one got.
          .field("data_path", tls::kernel_tls().available ? "ktls_splice" : "userspace");
    }
  }
  std::vector<route_record> records;
  for (auto& st : staged.routes) records.push_back(std::move(st.record));
  // Routes that went or moved, and listeners no route uses any more: these close
  // after the new ones are up; their connections go on until they end.
  for (const auto& old : routes_) {
    const bool kept = std::any_of(records.begin(), records.end(), [&old](const route_record& r) {
      return r.name == old.name && r.listener_id == old.listener_id;
    });
    if (!kept)
      log::line(log::level::info, "route_closed").field("route", old.name).field("address", endpoint_label(old.bound));
  }
  std::vector<std::uint64_t> closed;
  for (const auto& old : routes_) {
    const bool in_use = std::any_of(staged.listeners.begin(), staged.listeners.end(),
                                    [&old](const staged_listener& l) { return l.id == old.listener_id; });
    if (in_use || std::find(closed.begin(), closed.end(), old.listener_id) != closed.end()) continue;
    closed.push_back(old.listener_id);
    for (auto& w : workers_) w->close(old.listener_id);
  }
  routes_ = std::move(records);
  cfg_ = std::move(cfg);
  global_.max_connections.store(cfg_.limits.max_connections, std::memory_order_relaxed);
  apply_log_settings(cfg_.log);
  global_.handshakes_per_source.set_limit(cfg_.limits.max_handshakes_per_source);
  global_.handshakes_per_source.set_prefixes(cfg_.limits.source_prefix_v4, cfg_.limits.source_prefix_v6);
}

tls::ticket_key_list gateway::load_ticket_keys(const config::config& cfg) const {
  if (!cfg.ticket_keys) {
    if (tickets_) return *tickets_->get();
    return {tls::random_ticket_key()};
  }
  std::string error;
  auto keys = tls::parse_ticket_keys(tls::read_secret_file(*cfg.ticket_keys), error);
  if (!error.empty()) throw startup_error(1, "tls.ticket_keys " + *cfg.ticket_keys + ": " + error);
  return keys;
}

bool gateway::reload(const char* trigger) { return reload_from(trigger, true); }

// The running configuration staged again: every file re-read and checked, as on a
// reload, but not the configuration file, which may be half edited. ACME takes a
// certificate it has just written this way.
bool gateway::swap_certificates(const char* trigger) { return reload_from(trigger, false); }

bool gateway::reload_from(const char* trigger, bool read_config_file) {
  notify::reloading();
  log::line(log::level::info, "reload_started").field("trigger", trigger);
  std::optional<config::config> loaded_cfg;
  std::string why;
  if (read_config_file) {
    auto loaded = config::load_file(cfg_.path);
    if (loaded.cfg)
      loaded_cfg = std::move(loaded.cfg);
    else
      log_config_errors(loaded.errors);
  } else {
    loaded_cfg = cfg_;
  }
  if (!loaded_cfg) {
    why = "the configuration is invalid";
  } else if (log_findings(check_config(*loaded_cfg))) {
    why = "a certificate breaks its role's policy";
  }
  if (why.empty()) {
    config::config next = *loaded_cfg;
    keep_restart_only(cfg_, next);
    try {
      auto keys = load_ticket_keys(next);
      auto staged = stage_all(next);
      tickets_->set(std::move(keys));
      commit(std::move(staged), std::move(next));
    } catch (const std::exception& e) {
      why = e.what();
    }
  }
  if (!why.empty()) {
    monitoring_->reloads().record_failure();
    log::line(log::level::error, "reload_failed").field("trigger", trigger).field("detail", why + "; nothing changed");
    notify::ready("reload failed (" + why + "); still serving the previous configuration");
    return false;
  }
  monitoring_->set_config(cfg_);
  monitoring_->reloads().record_success();
  log::line(log::level::info, "reload_succeeded").field("trigger", trigger).field("routes",
                                                                                   static_cast<std::uint64_t>(routes_.size()));
  notify::ready("reloaded; serving " + std::to_string(routes_.size()) + " routes");
  acme_->configure(cfg_);
  return true;
}

}  // namespace vmsgate::app
