#pragma once
// From a route's configuration to what each worker runs: everything read from disk
// and resolved once (the blueprint), then parsed into per-worker TLS contexts.
// Used at start and, whole or not at all, on reload.

#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

#include "proxy/config/config.hpp"
#include "proxy/net/route.hpp"
#include "proxy/tls/client_context.hpp"
#include "proxy/tls/policy.hpp"
#include "proxy/tls/server_context.hpp"

namespace vmsgate::app {

// A start-up failure and the exit status it calls for (CONTRACT.md: 1 for a policy
// error or a listener that cannot bind).
struct startup_error : std::runtime_error {
  startup_error(int status, const std::string& what) : std::runtime_error(what), exit_status(status) {}
  int exit_status;
};

struct route_blueprint {
  std::shared_ptr<const net_io::route_settings> settings;
  std::optional<tls::server_identity> server;  // terminate
  std::optional<tls::client_identity> client;  // originate
  std::shared_ptr<tls::session_cache> sessions;  // originate: shared by every worker
  std::shared_ptr<net_io::backend_state> backends;  // back-off, shared by every worker
};

// Reads certificates, keys and CAs and resolves addresses; throws startup_error.
// A route with `acme:` answers tls-alpn-01 validations from `acme`, and one whose
// certificate and key do not exist yet presents a stand-in and refuses clients.
route_blueprint make_blueprint(const config::config& cfg, const config::route_config& rc,
                               std::shared_ptr<const tls::acme_answers> acme = nullptr);

// Whether ACME has yet to give the route a certificate it can serve: none on disk,
// or an expired one (check reports both as acme_pending, not as errors).
bool acme_pending(const config::route_config& rc, std::chrono::system_clock::time_point now);

// The stand-in a route presents while ACME has not yet obtained its certificate;
// made once per process.
const tls::identity_pem& acme_stand_in();

// One worker's copy: its own TLS context, counters and backend state.
// Reuses `counters` when given (a reload keeps a route's metrics going).
std::shared_ptr<net_io::worker_route> make_worker_route(const route_blueprint& bp,
                                                        std::shared_ptr<const tls::ticket_keyring> tickets,
                                                        std::shared_ptr<net_io::route_shared> shared,
                                                        std::shared_ptr<net_io::route_counters> counters = nullptr);

// The role's policy as the engine takes it: the configuration's role for the
// policy checks, the peer verification and ACME's orders.
tls::role_policy to_policy(const config::role_config& role);

// Names are resolved once: a DNS lookup on the data path would stall the worker.
tcp::endpoint resolve(const config::endpoint& e, const std::string& what);

}  // namespace vmsgate::app
