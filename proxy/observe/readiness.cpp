#include "proxy/observe/readiness.hpp"

#include "proxy/common/log.hpp"
#include "proxy/observe/route_record.hpp"

namespace vmsgate::app {

using namespace net::experimental::awaitable_operators;

struct readiness::state {
  state(net::io_context& ioc, const std::vector<route_record>& r, prober_options o)
      : routes(r), opts(o), tick(ioc), deadline(ioc), socket(ioc) {}

  // Keeps one health entry per route, by position; a route whose name changed (a
  // reload) starts again from nothing known.
  void sync() {
    health.resize(routes.size());
    connects_seen.resize(routes.size(), 0);
    backend_up.resize(routes.size());
    for (std::size_t i = 0; i < routes.size(); ++i) {
      if (health[i].name != routes[i].name) {
        health[i] = route_health{routes[i].name, std::nullopt, {}};
        backend_up[i].clear();
      }
      backend_up[i].resize(routes[i].backends.size(), false);
      health[i].acme_pending = routes[i].acme_pending;
    }
  }

  const std::vector<route_record>& routes;
  prober_options opts;
  std::vector<route_health> health;
  std::vector<std::vector<bool>> backend_up;  // per route, per backend: answered its last probe
  std::vector<std::uint64_t> connects_seen;  // backend connects on the data path, per route
  bool accepting = false;
  bool stopped = false;
  net::steady_timer tick;
  net::steady_timer deadline;
  tcp::socket socket;
};

namespace {

using state_ptr = std::shared_ptr<readiness::state>;

std::string seconds_text(steady::duration d) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(d).count()) + "s";
}

// True when the data path connected to a backend of route `i` since the last look.
bool data_path_answered(readiness::state& s, std::size_t i) {
  std::uint64_t n = 0;
  for (const auto& c : s.routes[i].per_worker) n += c->backend_connect_duration.count();
  const bool moved = n != s.connects_seen[i];
  s.connects_seen[i] = n;
  return moved;
}

// Connects to `ep` and closes at once; "" when it answered, why not otherwise.
net::awaitable<std::string> probe_one(state_ptr s, tcp::endpoint ep) {
  s->deadline.expires_after(s->opts.connect_timeout);
  auto result = co_await (s->socket.async_connect(ep, use_nothrow) || s->deadline.async_wait(use_nothrow));
  error_code ignored;
  s->socket.close(ignored);
  if (result.index() != 0) co_return "timed out";
  const auto [ec] = std::get<0>(result);
  co_return ec ? ec.message() : std::string();
}

// Tries each of the route's backends, so that backend_up knows every one of them.
net::awaitable<void> probe_route(state_ptr s, std::size_t i) {
  const auto backends = s->routes[i].backends;  // a reload may replace the record meanwhile
  const std::string name = s->routes[i].name;
  std::string errors;
  bool any = false;
  for (std::size_t b = 0; b < backends.size(); ++b) {
    const std::string error = co_await probe_one(s, backends[b].endpoint);
    // A reload may have replaced the routes meanwhile: record only into the same route.
    if (s->stopped || i >= s->health.size() || s->health[i].name != name) co_return;
    if (b < s->backend_up[i].size()) s->backend_up[i][b] = error.empty();
    if (error.empty()) {
      any = true;
      continue;
    }
    errors += (errors.empty() ? "" : "; ") + backends[b].label + ": " + error;
  }
  // A route's backends going silent (at start: never having answered) and coming
  // back are logged once each, not once a probe.
  if (any) {
    if (!s->health[i].last_error.empty())
      log::line(log::level::info, "backend_reachable").field("route", name);
    s->health[i].last_answer = steady::now();
    s->health[i].last_error.clear();
  } else {
    if (s->health[i].last_error.empty())
      log::line(log::level::warning, "backend_unreachable")
          .field("route", name)
          .field("detail", errors.empty() ? "no backend configured" : errors);
    s->health[i].last_error = errors.empty() ? "no backend configured" : errors;
  }
}

// Marks route `i` answered when the data path connected since the last look;
// false when the route needs a probe.
bool note_data_path(readiness::state& s, std::size_t i) {
  if (!data_path_answered(s, i)) return false;
  s.health[i].last_answer = steady::now();
  s.health[i].last_error.clear();
  return true;
}

net::awaitable<void> probe_loop(state_ptr s) {
  while (!s->stopped) {
    s->sync();
    for (std::size_t i = 0; i < s->health.size() && !s->stopped; ++i) {
      note_data_path(*s, i);
      co_await probe_route(s, i);
    }
    if (s->stopped) co_return;
    s->tick.expires_after(s->opts.interval);
    co_await s->tick.async_wait(use_nothrow);
  }
}

}  // namespace

readiness_verdict decide_readiness(bool accepting, const std::vector<route_health>& routes, steady::time_point now,
                                   steady::duration freshness) {
  readiness_verdict v;
  if (!accepting) v.body += "listeners are not accepting connections (starting or draining)\n";
  for (const auto& r : routes) {
    if (r.acme_pending)
      v.body += "route " + r.name + ": waiting for its certificate from ACME\n";
    else if (!r.last_error.empty())
      v.body += "route " + r.name + ": no backend answers (" + r.last_error + ")\n";
    else if (freshness == steady::duration::zero())
      continue;  // admin.probe_interval: 0, nothing probes: the listeners' state decides
    else if (!r.last_answer)
      v.body += "route " + r.name + ": no backend has answered yet\n";
    else if (now - *r.last_answer > freshness)
      v.body += "route " + r.name + ": no backend answered in the last " + seconds_text(freshness) + "\n";
  }
  v.ready = v.body.empty();
  if (v.ready) v.body = "ready\n";
  return v;
}

admin::response to_response(const readiness_verdict& v) {
  admin::response r;
  r.status = v.ready ? 200 : 503;
  r.body = v.body;
  return r;
}

readiness::readiness(net::io_context& ioc, const std::vector<route_record>& routes, prober_options opts)
    : state_(std::make_shared<state>(ioc, routes, opts)) {
  state_->sync();
}

readiness::~readiness() { stop(); }

void readiness::start() {
  state_->accepting = true;
  if (state_->opts.interval == std::chrono::milliseconds::zero()) return;  // probes off
  net::co_spawn(state_->tick.get_executor(), probe_loop(state_), net::detached);
}

void readiness::stop() {
  state_->accepting = false;
  state_->stopped = true;
  state_->tick.cancel();
  state_->deadline.cancel();
}

steady::duration readiness::freshness() const {
  if (state_->opts.interval == std::chrono::milliseconds::zero()) return steady::duration::zero();
  return 2 * (state_->opts.interval + state_->opts.connect_timeout);
}

std::vector<route_status> readiness::status() const {
  state_->sync();
  for (std::size_t i = 0; i < state_->health.size(); ++i) note_data_path(*state_, i);
  const auto now = steady::now();
  std::vector<route_status> out;
  for (std::size_t i = 0; i < state_->health.size(); ++i) {
    const auto& h = state_->health[i];
    route_status r;
    r.route = h.name;
    r.ready = decide_readiness(state_->accepting, {h}, now, freshness()).ready;
    const auto& up = state_->backend_up[i];
    for (std::size_t b = 0; b < up.size() && b < state_->routes[i].backends.size(); ++b)
      r.backends.emplace_back(state_->routes[i].backends[b].label, up[b]);
    out.push_back(std::move(r));
  }
  return out;
}

readiness_verdict readiness::verdict() const {
  state_->sync();
  // A connect the data path made since the last probe round is news too.
  for (std::size_t i = 0; i < state_->health.size(); ++i) note_data_path(*state_, i);
  return decide_readiness(state_->accepting, state_->health, steady::now(), freshness());
}

}  // namespace vmsgate::app
