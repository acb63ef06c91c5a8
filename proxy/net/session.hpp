#pragma once
// One client connection: its lifecycle. The TLS handshake (on the client socket for
// terminate routes, handshake.cpp), the connect to the first backend that answers
// (on originate routes with the upstream's TLS handshake, connect.cpp), then the
// transport chosen for the data path (transport.hpp) moves bytes both ways until both
// directions have ended or a deadline fires; then the closing log line.
//
// What the lifecycle and the transport share (the sockets, the waits, the end, the
// counts, the deadlines) is the conduit (conduit.hpp). OpenSSL reads and writes the
// TLS socket through record_gather during the handshake, which sends the records of
// one SSL_write together (no memory BIOs). The sockets are non-blocking.
//
// GCC 12 miscompiles `if (!co_await f())` (the coroutine's parameters are lost), so
// the result of a co_await is always named before it is tested.

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "proxy/common/asio.hpp"
#include "proxy/net/child_task.hpp"
#include "proxy/net/conduit.hpp"
#include "proxy/net/key_capture.hpp"
#include "proxy/net/record_gather.hpp"
#include "proxy/net/route.hpp"
#include "proxy/net/source_limiter.hpp"
#include "proxy/net/transport.hpp"
#include "proxy/tls/failure.hpp"
#include "proxy/tls/openssl.hpp"

namespace vmsgate::net_io {

class worker;

// Accepts nothing itself: the accept loop hands it a connected client socket.
// `peer` is the client's address as accept(2) returned it.
// `table` holds the routes of the listener it came from (route.hpp).
net::awaitable<void> serve_connection(worker& w, std::shared_ptr<const route_table> table, tcp::socket client,
                                      tcp::endpoint peer);

// What the closing log line says of a session besides its conduit's counts.
struct session_report {
  using clock = std::chrono::steady_clock;
  clock::time_point started;
  clock::time_point handshake_started;
  std::string client_label;
  // What the handshake agreed (the SSL may be gone by the end).
  const char* tls_version = "";
  const char* cipher = "";
  bool resumed = false;
  std::string peer_subject;
  std::optional<tls::failure_reason> failure;
  const backend_target* backend_used = nullptr;
  // Kernel TLS on the TLS socket, as OpenSSL left it after the handshake.
  bool ktls_send = false;
  bool ktls_recv = false;
};

class session {
 public:
  using clock = std::chrono::steady_clock;

  session(worker& w, std::shared_ptr<const route_table> table, tcp::socket client, const tcp::endpoint& peer);
  ~session();
  session(const session&) = delete;
  session& operator=(const session&) = delete;

  // serve_connection makes the session in its own frame and runs it to its end.
  friend net::awaitable<void> serve_connection(worker& w, std::shared_ptr<const route_table> table,
                                               tcp::socket client, tcp::endpoint peer);

  // OpenSSL's ClientHello callback on the contexts of routes that share an address:
  // the SNI chooses the session's route (choose_route).
  static int on_client_hello(SSL* ssl, int* alert, void* arg) noexcept;

  // Ends the session at once (the drain deadline): safe at any point.
  void fail(end_reason why) noexcept { link_.fail(why); }

  // Intrusive registry links, owned by the worker.
  session* prev_ = nullptr;
  session* next_ = nullptr;

 private:
  net::awaitable<bool> set_up();
  // The one place that decides the data path, after the handshake that secured the
  // TLS side (the client's on terminate routes, the upstream's on originate ones).
  void choose_transport();

  // handshake.cpp
  net::awaitable<bool> accept_tls();
  net::awaitable<bool> wait_for_first_bytes();
  net::awaitable<bool> shake_hands();
  net::awaitable<bool> connect_tls(std::size_t index);
  bool new_ssl(SSL_CTX* ctx);
  void capture_keys();
  int choose_route(SSL* ssl, int* alert) noexcept;
  void handshake_succeeded();
  void handshake_failed(int ssl_error);
  // connect.cpp
  net::awaitable<bool> connect_backend();
  net::awaitable<bool> try_backend(std::size_t index);
  void backend_failed(std::size_t index, backend_failure why, std::string_view handshake_failure = {});

  const worker_route& route() const noexcept { return link_.route(); }
  bool originate() const noexcept { return link_.originate(); }
  route_counters& counters() const noexcept { return link_.counters(); }
  std::string_view end_name() const noexcept;
  void log_close() const;

  // The listener's routes, held for the session's life (the conduit points at one).
  std::shared_ptr<const route_table> table_;
  conduit link_;  // the sockets: declared before the SSL, so freed after it
  tcp::endpoint peer_;
  session_report report_;
  tls::session_target session_target_;  // read by the SSL's ticket callback: declared before it
  record_gather gather_;  // the SSL's write BIO without kernel TLS: declared before it
  std::unique_ptr<key_capture> capture_;  // the SSL points at it during the handshake
  tls::ssl_ptr ssl_;  // freed once the record transport has taken the records
  transport transport_;  // declared after the SSL and the gather it may use
  source_limiter::permit handshake_permit_;
  child_task pump_task_;  // the plain-to-TLS direction beside tls_to_plain
  bool route_chosen_ = false;  // counted in the route's connections_total
};

}  // namespace vmsgate::net_io
