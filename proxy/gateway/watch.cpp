// Reload when the files change (reload.watch: true), since renewal tools replace
// certificates without signalling anyone. A change is acted on only once the files
// have stopped changing, and while a certificate and its key do not match yet (the
// tool has written one of the pair), the watcher waits for the other, up to a bound.

#include <malloc.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

#include "proxy/common/log.hpp"
#include "proxy/gateway/gateway.hpp"
#include "proxy/tls/policy.hpp"

namespace vmsgate::app {
namespace {

constexpr auto watch_interval = std::chrono::seconds(1);
constexpr auto settle_time = std::chrono::seconds(2);
constexpr auto pair_patience = std::chrono::seconds(30);
constexpr auto trim_interval = std::chrono::seconds(1);
// Connections that must have come and gone within one interval before memory is
// handed back: a flood, a reconnect storm, not the ordinary coming and going.
constexpr std::uint64_t trim_after_burst = 128;

long rss_kib() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * (::sysconf(_SC_PAGESIZE) / 1024);
}

void add_file(std::string& out, const std::string& path) {
  struct stat st {};
  out += path;
  if (::stat(path.c_str(), &st) == 0) {
    out += ':' + std::to_string(st.st_ino) + ':' + std::to_string(st.st_size) + ':' +
           std::to_string(st.st_mtim.tv_sec) + '.' + std::to_string(st.st_mtim.tv_nsec);
  }
  out += '\n';
}

// Identity of every file the running configuration reads.
std::string fingerprint(const config::config& cfg) {
  std::string out;
  add_file(out, cfg.path);
  if (cfg.ticket_keys) add_file(out, *cfg.ticket_keys);
  for (const auto& route : cfg.routes)
    if (!route.ocsp_response.empty()) add_file(out, route.ocsp_response);
  for (const auto& role : cfg.roles) {
    add_file(out, role.ca);
    for (const auto& crl : role.crl) add_file(out, crl);
  }
  for (const auto& route : cfg.routes) {
    if (!route.cert.empty()) add_file(out, route.cert);
    if (!route.key.empty()) add_file(out, route.key);
  }
  return out;
}

// False while some route's certificate and key are both readable but do not match:
// the sign of a renewal half written.
bool pairs_consistent(const std::string& config_path) {
  const auto loaded = config::load_file(config_path);
  if (!loaded.cfg) return true;  // a broken file is reload's to report
  for (const auto& route : loaded.cfg->routes) {
    if (route.cert.empty() || route.key.empty()) continue;
    const auto cert = tls::load_cert_file(route.cert);
    const auto key = tls::load_key_file(route.key);
    if (cert.chain.empty() || !key.key) continue;
    if (X509_check_private_key(cert.chain.front().get(), key.key.get()) != 1) {
      ERR_clear_error();
      return false;
    }
  }
  return true;
}

}  // namespace

net::awaitable<void> gateway::watch_files() {
  using clock = std::chrono::steady_clock;
  std::string applied = fingerprint(cfg_);
  std::string seen = applied;
  auto seen_since = clock::now();
  for (;;) {
    watch_timer_.expires_after(watch_interval);
    auto [ec] = co_await watch_timer_.async_wait(use_nothrow);
    if (ec || draining_) co_return;
    // Always running, so that a reload may turn watching on or off.
    if (!cfg_.reload_watch) {
      applied = seen = fingerprint(cfg_);
      continue;
    }
    const std::string now_fp = fingerprint(cfg_);
    if (now_fp != seen) {
      seen = now_fp;
      seen_since = clock::now();
      continue;
    }
    if (now_fp == applied || clock::now() - seen_since < settle_time) continue;
    if (!pairs_consistent(cfg_.path) && clock::now() - seen_since < pair_patience) continue;
    reload("file change");
    // Whatever the outcome, this state of the files has had its try. Taken from the
    // configuration now running, whose file set a reload may have changed.
    applied = seen = fingerprint(cfg_);
  }
}

net::awaitable<void> gateway::rotate_ticket_keys() {
  // Without a shared key file, the process makes its own keys and rotates them; the
  // previous key still decrypts, so tickets issued just before a rotation resume.
  for (;;) {
    // Read each time: a reload may change the period.
    rotate_timer_.expires_after(cfg_.ticket_rotation);
    auto [ec] = co_await rotate_timer_.async_wait(use_nothrow);
    if (ec || draining_) co_return;
    if (cfg_.ticket_keys) continue;  // the operator's file rules; a reload may drop it
    const auto current = tickets_->get();
    tls::ticket_key_list next{tls::random_ticket_key()};
    if (current && !current->empty()) next.push_back(current->front());
    tickets_->set(std::move(next));
    log::line(log::level::info, "ticket_keys_rotated");
  }
}

// After a burst of connections has closed (a handshake flood, a storm of
// reconnects), glibc keeps the freed memory in its per-thread arenas, and RSS stays
// at the burst's height. Handing it back to the kernel lets memory return to its
// baseline. malloc_trim locks each arena briefly, hence only after a burst.
net::awaitable<void> gateway::return_memory() {
  for (;;) {
    trim_timer_.expires_after(trim_interval);
    auto [ec] = co_await trim_timer_.async_wait(use_nothrow);
    if (ec || draining_) co_return;
    std::uint64_t peak = 0;
    for (auto& w : workers_) peak += w->take_peak();
    const std::uint64_t open = open_connections();
    if (peak < open + trim_after_burst) continue;
    const long before = rss_kib();
    ::malloc_trim(0);
    log::line(log::level::info, "memory_returned")
        .field("closed", peak - open)
        .field("rss_kib_before", static_cast<std::uint64_t>(before))
        .field("rss_kib_after", static_cast<std::uint64_t>(rss_kib()));
  }
}

}  // namespace vmsgate::app
