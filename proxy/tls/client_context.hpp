#pragma once
// Immutable client-side TLS contexts for originate routes: the upstream is always
// verified (chain to a peer role's CA, host name, the role's peer rules); there is
// no way to turn that off. One context per worker, as on the server side.

#include <chrono>
#include <ctime>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "proxy/tls/context_common.hpp"
#include "proxy/tls/openssl.hpp"
#include "proxy/tls/peer_verify.hpp"

namespace vmsgate::tls {

struct client_identity {
  std::string route;
  std::optional<identity_pem> own;  // presented for mutual TLS when set
  bool allow_ecdsa = false;
  std::vector<peer_role_source> peers;  // roles the upstream server may belong to
};

struct client_context {
  std::unique_ptr<peer_trust> trust;
  ssl_ctx_ptr ctx;
};

// Sessions to resume, per backend of one originate route, shared by every worker:
// a TLS 1.3 ticket is good for one resumption, and the worker that gets the next
// connection is the kernel's choice. Touched once per connection and once per
// ticket, never per buffer, so a mutex is cheap here.
// A session is kept only while it may be resumed (session_lifetime.hpp): `lifetime`
// from the full handshake it came from, and while the upstream's certificate it
// carries is valid; take() drops the others.
class session_cache {
 public:
  explicit session_cache(std::size_t backends, std::chrono::seconds lifetime = std::chrono::hours(12),
                         std::size_t per_backend = 4)
      : per_backend_(per_backend), lifetime_(lifetime), sessions_(backends) {}

  struct entry {
    ssl_session_ptr session;
    std::time_t born = 0;  // its full handshake
  };
  // Newest first; empty when none may be resumed at `now`.
  entry take(std::size_t backend, std::time_t now = std::time(nullptr));
  void put(std::size_t backend, ssl_session_ptr session, std::time_t born);

 private:
  std::mutex mutex_;
  std::size_t per_backend_;
  std::chrono::seconds lifetime_;
  std::vector<std::deque<entry>> sessions_;
};

// Where the tickets an upstream sends on one connection go; must outlive its SSL.
struct session_target {
  session_cache* cache = nullptr;
  std::size_t backend = 0;
  std::time_t born = 0;  // the full handshake of the session offered, if any
};

// Throws std::runtime_error.
std::shared_ptr<const client_context> make_client_context(const client_identity& id);

// Prepares one connection: SNI (unless `server_name` is an IP address), the name the
// certificate must carry, and a session to resume from the target's cache, to which
// the sessions the server sends on this connection go.
bool prepare_client(SSL* ssl, const std::string& server_name, session_target* target);

}  // namespace vmsgate::tls
