#include "proxy/observe/metrics_export.hpp"

#include <openssl/crypto.h>

#include <sys/resource.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <set>
#include <sstream>
#include <tuple>

#include "proxy/common/log.hpp"
#include "proxy/metrics/families.hpp"
#include "proxy/observe/route_record.hpp"
#include "proxy/tls/certificate.hpp"
#include "proxy/tls/crl.hpp"

namespace vmsgate::app {
namespace {

using metrics::family;
using metrics::family_set;
using metrics::histogram_snapshot;
using std::chrono::system_clock;

double epoch_seconds(system_clock::time_point t) {
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Appends a record for each certificate of `file`; only the leaf when `leaf_only`.
void add_file(std::vector<certificate_record>& out, const certificate_record& base, bool leaf_only) {
  std::string error;
  const auto certs = tls::load_certificates(base.file, error);
  for (const auto& cert : certs) {
    const tls::cert_info info = tls::inspect(cert.get());
    certificate_record r = base;
    r.subject = info.subject;
    r.serial = info.serial;
    r.not_after = info.not_after;
    out.push_back(std::move(r));
    if (leaf_only) break;
  }
}

void add_role_ca(std::vector<certificate_record>& out, const config::config& cfg, const std::string& route,
                 const std::string& role_name) {
  const config::role_config* role = cfg.find_role(role_name);
  if (role == nullptr || role->ca.empty()) return;
  add_file(out, {route, role->name, "ca", {}, {}, role->ca, {}, role->expiry_warning}, false);
}

template <typename Get>
std::uint64_t sum(const route_record& r, Get get) {
  std::uint64_t n = 0;
  for (const auto& c : r.per_worker) n += get(*c);
  return n;
}

template <typename Get>
histogram_snapshot merged(const route_record& r, std::span<const double> bounds, Get get) {
  histogram_snapshot h(bounds);
  for (const auto& c : r.per_worker) h.merge(get(*c));
  return h;
}

void add_connections(family_set& fs, const route_record& r) {
  const std::string_view route = r.name;
  using rc = net_io::route_counters;
  fs.gauge(family::connections_active, {route},
           static_cast<double>(sum(r, [](const rc& c) { return c.connections_active.get(); })));
  fs.counter(family::connections_total, {route},
             static_cast<double>(sum(r, [](const rc& c) { return c.connections_total.get(); })));
  fs.counter(family::connections_refused_total, {route},
             static_cast<double>(sum(r, [](const rc& c) { return c.connections_refused.get(); })));
  fs.histogram(family::connection_duration_seconds, {route},
               merged(r, metrics::buckets::connection, [](const rc& c) -> auto& { return c.connection_duration; }));
  fs.counter(family::transferred_bytes_total, {route, "to_backend"},
             static_cast<double>(sum(r, [](const rc& c) { return c.bytes_to_backend.get(); })));
  fs.counter(family::transferred_bytes_total, {route, "to_client"},
             static_cast<double>(sum(r, [](const rc& c) { return c.bytes_to_client.get(); })));
}

void add_handshakes(family_set& fs, const route_record& r) {
  const std::string_view route = r.name;
  static constexpr std::string_view versions[2] = {"TLSv1.2", "TLSv1.3"};
  static constexpr std::string_view flags[2] = {"false", "true"};
  for (std::size_t v = 0; v < 2; ++v)
    for (std::size_t res = 0; res < 2; ++res)
      fs.counter(family::tls_handshakes_total, {route, versions[v], flags[res]},
                 static_cast<double>(sum(r, [&](const net_io::route_counters& c) { return c.handshakes[v][res].get(); })));
  for (std::size_t i = 0; i < tls::failure_reason_count; ++i)
    fs.counter(family::tls_handshake_failures_total, {route, tls::failure_reason_names[i]},
               static_cast<double>(sum(r, [&](const net_io::route_counters& c) { return c.handshake_failures[i].get(); })));
  for (std::size_t res = 0; res < 2; ++res)
    fs.histogram(family::tls_handshake_duration_seconds, {route, flags[res]},
                 merged(r, metrics::buckets::handshake,
                        [&](const net_io::route_counters& c) -> auto& { return c.handshake_duration[res]; }));
}

void add_backends(family_set& fs, const route_record& r) {
  const std::string_view route = r.name;
  using rc = net_io::route_counters;
  fs.histogram(family::backend_connect_duration_seconds, {route},
               merged(r, metrics::buckets::backend_connect,
                      [](const rc& c) -> auto& { return c.backend_connect_duration; }));
  fs.counter(family::backend_failovers_total, {route},
             static_cast<double>(sum(r, [](const rc& c) { return c.backend_failovers.get(); })));
  for (std::size_t b = 0; b < r.backend_labels.size(); ++b)
    for (std::size_t why = 0; why < net_io::backend_failure_count; ++why)
      fs.counter(family::backend_failures_total, {route, r.backend_labels[b], net_io::backend_failure_names[why]},
                 static_cast<double>(sum(r, [&](const rc& c) {
                   return b < c.backend_failures.size() ? c.backend_failures[b][why].get() : 0;
                 })));
}

void add_process(family_set& fs, const std::vector<certificate_record>& certs, const reload_stats& reloads) {
  fs.gauge(family::build_info, {VMSGATE_VERSION, OpenSSL_version(OPENSSL_VERSION_STRING)}, 1.0);
  std::set<std::tuple<std::string, std::string, std::string, std::string, std::string>> seen;
  for (const auto& c : certs) {
    // Two files may hold the same certificate; one series per label set.
    if (!seen.emplace(c.route, c.role, c.usage, c.subject, c.serial).second) continue;
    fs.gauge(family::certificate_expiry_timestamp_seconds, {c.route, c.role, c.usage, c.subject, c.serial},
             epoch_seconds(c.not_after));
  }
  fs.counter(family::config_reloads_total, {"success"},
             static_cast<double>(reloads.successes.load(std::memory_order_relaxed)));
  fs.counter(family::config_reloads_total, {"failure"},
             static_cast<double>(reloads.failures.load(std::memory_order_relaxed)));
  fs.gauge(family::config_last_reload_success_timestamp_seconds, {},
           reloads.last_success_seconds.load(std::memory_order_relaxed));
  fs.counter(family::log_lines_dropped_total, {}, static_cast<double>(log::dropped_lines()));
  fs.gauge(family::config_last_reload_successful, {},
           reloads.last_successful.load(std::memory_order_relaxed) ? 1.0 : 0.0);
  std::set<std::string> roles;
  for (const auto& c : certs)
    if (roles.insert(c.role).second)
      fs.gauge(family::role_expiry_warning_seconds, {c.role}, static_cast<double>(c.expiry_warning.count()));
  const process_figures p = read_process_figures();
  fs.counter(family::process_cpu_seconds_total, {}, p.cpu_seconds);
  fs.gauge(family::process_resident_memory_bytes, {}, p.resident_bytes);
  fs.gauge(family::process_open_fds, {}, p.open_fds);
  fs.gauge(family::process_max_fds, {}, p.max_fds);
  fs.gauge(family::process_start_time_seconds, {}, p.start_time_seconds);
}

void add_health(family_set& fs, const std::vector<route_status>& health) {
  for (const auto& r : health) {
    fs.gauge(family::route_ready, {r.route}, r.ready ? 1.0 : 0.0);
    for (const auto& [label, up] : r.backends) fs.gauge(family::backend_up, {r.route, label}, up ? 1.0 : 0.0);
  }
}

}  // namespace

void reload_stats::record_success(system_clock::time_point when) {
  successes.fetch_add(1, std::memory_order_relaxed);
  last_success_seconds.store(epoch_seconds(when), std::memory_order_relaxed);
  last_successful.store(true, std::memory_order_relaxed);
}

std::vector<certificate_record> collect_certificates(const config::config& cfg) {
  std::vector<certificate_record> out;
  std::set<std::string> roles_used;
  for (const auto& rc : cfg.routes) {
    const config::role_config* role = cfg.find_role(rc.role);
    const auto warning = role != nullptr ? role->expiry_warning : std::chrono::seconds(0);
    const bool originate = rc.mode == config::mode::originate;
    if (!rc.cert.empty())
      add_file(out, {rc.name, rc.role, originate ? "client" : "server", {}, {}, rc.cert, {}, warning}, true);
    add_role_ca(out, cfg, rc.name, rc.role);
    roles_used.insert(rc.role);
    for (const auto& peer : rc.peer_roles) {
      add_role_ca(out, cfg, rc.name, peer);
      roles_used.insert(peer);
    }
  }
  for (const auto& role : cfg.roles)
    if (!roles_used.contains(role.name)) add_role_ca(out, cfg, "", role.name);
  return out;
}

std::size_t log_expiring(const std::vector<certificate_record>& certs, system_clock::time_point now) {
  std::set<std::tuple<std::string, std::string, std::string>> logged;
  for (const auto& c : certs) {
    if (c.not_after - now > c.expiry_warning) continue;
    if (!logged.emplace(c.usage, c.subject, c.serial).second) continue;
    const auto days = std::chrono::duration_cast<std::chrono::hours>(c.not_after - now).count() / 24;
    log::line(log::level::warning, "certificate_expiring")
        .field("route", c.route).field("role", c.role).field("usage", c.usage).field("subject", c.subject)
        .field("serial", c.serial).field("file", c.file).field("not_after", tls::format_time(c.not_after))
        .field("days_left", static_cast<std::int64_t>(days));
  }
  return logged.size();
}

process_figures read_process_figures() {
  process_figures p;
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double page = static_cast<double>(::sysconf(_SC_PAGESIZE));
  // /proc/self/stat: the command may hold spaces and parentheses; fields count
  // from the last ')'. utime and stime are fields 14 and 15, starttime 22, rss 24.
  std::ifstream stat_file("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(stat_file)), std::istreambuf_iterator<char>());
  const auto close = stat.rfind(')');
  if (close != std::string::npos && ticks > 0) {
    std::istringstream fields(stat.substr(close + 2));
    std::vector<std::string> f{std::istream_iterator<std::string>(fields), std::istream_iterator<std::string>()};
    // f[0] is field 3 (state).
    if (f.size() > 21) {
      p.cpu_seconds = (std::stod(f[11]) + std::stod(f[12])) / ticks;
      p.resident_bytes = std::stod(f[21]) * page;
      std::ifstream proc_stat("/proc/stat");
      for (std::string key; proc_stat >> key;) {
        if (key == "btime") {
          double boot = 0;
          proc_stat >> boot;
          p.start_time_seconds = boot + std::stod(f[19]) / ticks;
          break;
        }
        proc_stat.ignore(std::numeric_limits<std::streamsize>::max(), '\n');
      }
    }
  }
  std::error_code ec;
  for (std::filesystem::directory_iterator it("/proc/self/fd", ec), end; !ec && it != end; it.increment(ec))
    p.open_fds += 1;
  rlimit nofile{};
  if (::getrlimit(RLIMIT_NOFILE, &nofile) == 0) p.max_fds = static_cast<double>(nofile.rlim_cur);
  return p;
}

std::vector<crl_record> collect_crls(const config::config& cfg) {
  std::vector<crl_record> out;
  for (const auto& role : cfg.roles)
    for (const auto& path : role.crl)
      for (const auto& crl : tls::load_crl(path).crls)
        out.push_back({role.name, tls::crl_issuer(crl.get()), path, tls::crl_next_update(crl.get())});
  return out;
}

std::string render_metrics(const std::vector<route_record>& routes, const std::vector<certificate_record>& certs,
                           const reload_stats& reloads, const std::vector<route_status>& health,
                           const std::vector<crl_record>& crls, const std::vector<acme_status>& acme) {
  family_set fs;
  for (const auto& r : routes) {
    add_connections(fs, r);
    add_handshakes(fs, r);
    add_backends(fs, r);
  }
  add_process(fs, certs, reloads);
  add_health(fs, health);
  std::set<std::pair<std::string, std::string>> seen;
  for (const auto& c : crls)
    if (seen.emplace(c.role, c.issuer).second)
      fs.gauge(family::crl_next_update_timestamp_seconds, {c.role, c.issuer}, epoch_seconds(c.next_update));
  for (const auto& a : acme) {
    fs.counter(family::acme_orders_total, {a.route, "success"}, static_cast<double>(a.successes));
    fs.counter(family::acme_orders_total, {a.route, "failure"}, static_cast<double>(a.failures));
    fs.gauge(family::acme_next_renewal_timestamp_seconds, {a.route}, a.next_renewal_seconds);
  }
  return fs.text();
}

}  // namespace vmsgate::app
